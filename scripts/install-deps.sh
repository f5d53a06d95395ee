#!/usr/bin/env bash
# Installs every Debian package lmserve's build, tests and fuzzers need.
# Safe to run twice (apt-get install is idempotent); uses sudo when not root.
set -euo pipefail

PACKAGES=(
    build-essential cmake ninja-build pkg-config git   # compiler and build
    clang libclang-rt-dev                  # libFuzzer targets and LeakSanitizer runtime
    libcmocka-dev                          # unit tests
    libjansson-dev                         # JSON (requests, tokenizer.json, configs)
    libmicrohttpd-dev                      # HTTP server
    libpcre2-dev                           # pre-tokenizer regexes
    libutf8proc-dev                        # Unicode normalization
    libcurl4-openssl-dev libssl-dev        # hub pull, sha256
    zlib1g-dev                             # gzip'd test data
    ca-certificates curl python3           # scripts and end-to-end tests
    prometheus                             # promtool and a real Prometheus for the /metrics tests
    chromium                               # the chat page's browser test (tests/browser)
    podman buildah debootstrap             # the container image's test (tests/deploy/container.sh)
)

# Node.js and npm run the end-to-end tests (tests/e2e, the official openai npm package). Added
# only when missing: a Node.js from elsewhere (NodeSource's nodejs bundles npm and conflicts with
# Debian's npm package) is kept as it is.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    PACKAGES+=(nodejs npm)
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#PACKAGES[@]} packages already installed"
    exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${PACKAGES[@]}"
