#!/usr/bin/env bash
# The long soak: scripts/soak.sh MINUTES [CLIENTS] [SEED]
#
# Runs tests/soak/test_soak.c (the load generator CI runs for 40 s) for MINUTES against a fresh
# lmserve serving the demo model, with CLIENTS client threads (default 24) and a fixed SEED
# (default: the time; printed, so a run can be repeated). Uses the sanitizer build when it exists
# (build/sanitize, as CI), else build/release; LM_SOAK_BUILD=DIR picks one. Prints the figures
# (requests, errors, RSS, sockets, /v2/health/live latency) and fails only on errors, mixed
# streams and leaked sockets.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -lt 1 || ! "$1" =~ ^[0-9]+$ || "$1" -lt 1 ]]; then
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
build="${LM_SOAK_BUILD:-}"
if [[ -z "$build" ]]; then
    if [[ -x build/sanitize/tests/test_soak_soak ]]; then build=build/sanitize; else build=build/release; fi
fi
bin="$build/tests/test_soak_soak"
[[ -x "$bin" ]] || { echo "soak.sh: $bin is not built (cmake --build $build)" >&2; exit 2; }
export LM_SOAK_SECONDS=$(( $1 * 60 ))
export LM_SOAK_CLIENTS="${2:-24}"
[[ -n "${3:-}" ]] && export LM_SOAK_SEED="$3"
export LM_BIN="$build/lmserve"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
echo "soak.sh: $1 min, $LM_SOAK_CLIENTS clients, $build" >&2
exec "$bin"
