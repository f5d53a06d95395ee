#!/usr/bin/env bash
# Runs one libFuzzer target for a while: scripts/fuzz.sh TARGET SECONDS [extra libFuzzer flags]
#
# TARGET is a tests/fuzz/fuzz_<TARGET>.c name (gguf, sse, tokenizer_json, ...; `scripts/fuzz.sh
# list` lists them). Builds build-fuzz/ (clang, -DLM_FUZZ=ON: ASan + UBSan, findings fatal) when
# needed, then fuzzes from the checked-in seeds with new inputs going to a scratch corpus
# ($LM_FUZZ_WORK, default /tmp/lmfuzz-<TARGET>, kept between runs so a later run resumes) and
# crash files to $LM_FUZZ_WORK/artifacts/. Prints libFuzzer's final statistics; exits non-zero
# when the run found a crash, a leak or a timeout.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $# -lt 1 || "$1" == "-h" || "$1" == "--help" ]]; then
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
if [[ "$1" == "list" ]]; then
    ls tests/fuzz/fuzz_*.c | sed 's|tests/fuzz/fuzz_||; s|\.c$||'
    exit 0
fi
target="$1"
seconds="${2:-60}"
shift $(( $# >= 2 ? 2 : 1 ))
if [[ ! -f "tests/fuzz/fuzz_${target}.c" ]]; then
    echo "fuzz.sh: no target '${target}' (tests/fuzz/fuzz_${target}.c); targets: $(ls tests/fuzz/fuzz_*.c | sed 's|tests/fuzz/fuzz_||; s|\.c$||' | tr '\n' ' ')" >&2
    exit 2
fi
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || (( seconds < 1 )); then
    echo "fuzz.sh: SECONDS must be a positive whole number, not '${seconds}'" >&2
    exit 2
fi
command -v clang >/dev/null || { echo "fuzz.sh: needs clang (scripts/install-deps.sh installs it)" >&2; exit 2; }

build="${LM_FUZZ_BUILD:-build-fuzz}"
if [[ ! -f "$build/build.ninja" ]]; then
    # LM_WERROR=OFF: clang warns where gcc (the CI compiler) does not; a warning must not stop fuzzing
    CC=clang cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLM_FUZZ=ON -DLM_TESTS=ON \
        -DLM_WERROR=OFF >/dev/null
fi
cmake --build "$build" --target "fuzz_${target}" -j "${LM_FUZZ_JOBS:-2}" >/dev/null

work="${LM_FUZZ_WORK:-/tmp/lmfuzz-${target}}"
mkdir -p "$work/corpus" "$work/artifacts"
echo "fuzz.sh: fuzz_${target} for ${seconds} s; new inputs in ${work}/corpus, crashes in ${work}/artifacts" >&2
set +e
"$build/tests/fuzz_${target}" -max_total_time="$seconds" -print_final_stats=1 -timeout=25 \
    -rss_limit_mb=4096 -artifact_prefix="$work/artifacts/" "$@" \
    "$work/corpus" "tests/fuzz/corpus/${target}" 2>&1 | tee "$work/last.log" |
    grep -E '^(#[0-9]+ +(INITED|DONE)|stat::|==[0-9]+==ERROR|SUMMARY|.*check failed|artifact_prefix|Test unit written)' 
rc=${PIPESTATUS[0]}
set -e
tail -n 40 "$work/last.log" | grep -q 'Done [0-9]* runs' && echo "fuzz.sh: ${target}: clean (exit ${rc})" >&2
exit "$rc"
