#!/usr/bin/env bash
# Installs dependencies, then builds and tests lmserve twice: a Release build and a sanitizer
# build (ASan + UBSan, Debug). Prints ctest's summary for each; exits non-zero on any failure.
#   bash scripts/test.sh            both builds
#   LM_TEST_BUILDS=release bash scripts/test.sh   only one (release | sanitize)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
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
done
exit $status
