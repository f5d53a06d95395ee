#!/usr/bin/env bash
# Installs dependencies, then builds and tests lmserve twice: a Release build and a sanitizer
# build (ASan + UBSan, Debug). Prints ctest's summary for each, runs the end-to-end and browser
# tests against the Release binary, checks deploy/ (Kubernetes schemas, the container image), and
# exits non-zero on any failure.
#   bash scripts/test.sh            both builds
#   LM_TEST_BUILDS=release bash scripts/test.sh   only one (release | sanitize)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

jobs=$(nproc 2>/dev/null || echo 2)

# End-to-end tests (tests/e2e): node's test runner and the official openai and @anthropic-ai/sdk npm packages, pinned by
# tests/e2e/package-lock.json and installed with `npm ci` (exactly the lockfile; from npm's cache
# when it has it), against the given lmserve binary. Skipped, with a message, only when node is
# not installed at all; install-deps.sh installs it, so CI runs them.
run_e2e() {
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        echo "e2e: SKIPPED: node and npm are not installed (scripts/install-deps.sh installs them)"
        return 0
    fi
    local major
    major=$(node -p 'process.versions.node.split(".")[0]')
    if [ "$major" -lt 18 ]; then
        echo "e2e: node $(node --version) is too old: the tests need node 18 or later" >&2
        return 1
    fi
    (cd tests/e2e && npm ci --no-audit --no-fund --prefer-offline --loglevel=error) || return 1
    LM_BIN="$PWD/$1" node --test tests/e2e/*.test.mjs
}
# Browser test (tests/browser): the chat page in Debian's chromium, headless, driven by
# playwright-core (pinned by its package-lock.json). Leaves build/<build>/test-output/chat-page.png.
run_browser() {
    if ! command -v node >/dev/null 2>&1 || [ ! -x /usr/bin/chromium ]; then
        echo "browser: SKIPPED: needs node and /usr/bin/chromium (scripts/install-deps.sh installs them)"
        return 0
    fi
    (cd tests/browser && npm ci --no-audit --no-fund --prefer-offline --loglevel=error) || return 1
    LM_BIN="$PWD/$1" LM_TEST_OUT="$PWD/$(dirname "$1")/test-output" node --test tests/browser/*.test.mjs
}
# Deployment files (deploy/): the Kubernetes manifests' schema check (tests/deploy/k8s, npm
# packages pinned by its lockfile), then the container image built and served from
# (tests/deploy/container.sh; LM_TEST_CONTAINER=0 leaves it out of a local run).
run_deploy() {
    if ! command -v node >/dev/null 2>&1; then
        echo "deploy: SKIPPED: node is not installed (scripts/install-deps.sh installs it)"
        return 0
    fi
    (cd tests/deploy/k8s && npm ci --no-audit --no-fund --prefer-offline --loglevel=error) || return 1
    node tests/deploy/k8s/check.mjs || return 1
    if [ "${LM_TEST_CONTAINER:-1}" = 0 ]; then
        echo "container: SKIPPED (LM_TEST_CONTAINER=0)"
        return 0
    fi
    if [ -n "$base_pid" ] && ! wait "$base_pid"; then
        cat build/container-base.log
        return 1
    fi
    bash tests/deploy/container.sh
}
# The container test's Debian base (debootstrap: minutes of downloads, little CPU) is made in the
# background while the C builds run; run_deploy waits for it.
base_pid=""
if [ "${LM_TEST_CONTAINER:-1}" != 0 ]; then
    mkdir -p build
    bash tests/deploy/container.sh --base-only >build/container-base.log 2>&1 &
    base_pid=$!
fi
builds=${LM_TEST_BUILDS:-"release sanitize"}
status=0

for b in $builds; do
    case "$b" in
        release)  dir=build/release;  flags=(-DCMAKE_BUILD_TYPE=Release) ;;
        sanitize) dir=build/sanitize; flags=(-DCMAKE_BUILD_TYPE=Debug -DLM_SANITIZE=ON) ;;
        *) echo "unknown build '$b'" >&2; exit 2 ;;
    esac
    echo "==== $b build ($dir) ===="
    cmake -S . -B "$dir" -G Ninja "${flags[@]}" >/dev/null
    cmake --build "$dir" -j "$jobs"
    echo "==== $b tests ===="
    # detect_leaks: LeakSanitizer is part of ASan; halt_on_error keeps failures loud.
    if ! (cd "$dir" && ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 \
          UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
          ctest --output-on-failure -j "$jobs"); then
        status=1
    fi
    if [ "$b" = release ]; then
        echo "==== end-to-end tests (node, openai client) ===="
        if ! run_e2e "$dir/lmserve"; then
            status=1
        fi
        echo "==== browser test (chromium, playwright-core) ===="
        if ! run_browser "$dir/lmserve"; then
            status=1
        fi
        echo "==== deployment: Kubernetes schema check, container image ===="
        if ! run_deploy; then
            status=1
        fi
    fi
done
exit $status
