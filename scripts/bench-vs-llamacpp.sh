#!/usr/bin/env bash
# Side-by-side throughput of lmserve's engine and a llama.cpp build the user points at (never
# downloaded or built by this project), on the same GGUF files, interleaved in rounds so both see
# the same moments of a shared machine. Prints, per model, a markdown table of tokens/s (median
# over rounds) with the ratio lmserve / llama.cpp.
#
#   scripts/bench-vs-llamacpp.sh LLAMA_CPP_BIN_DIR MODEL.gguf [MODEL.gguf ...]
#
# LLAMA_CPP_BIN_DIR holds llama-bench (and optionally llama-batched-bench), e.g. ~/llama.cpp/build/bin.
# Environment: THREADS (2), ROUNDS (3), REPS per run (3), LMSERVE_BUILD (build/release),
# BATCHES (1,4,8,16).
# Shapes: pp512 and tg128 from an empty context, tg128 at depth 512 (llama-bench -d, when the
# build has it), batched decode at each of BATCHES (llama-batched-bench's S_TG with -npp 1
# -ntg 32; lmserve: bench_engine's tg32 xB rows).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 2 ]; then
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
    exit 64
fi
llama_dir=$1
shift
threads=${THREADS:-2}
rounds=${ROUNDS:-3}
reps=${REPS:-3}
build=${LMSERVE_BUILD:-build/release}
batches=${BATCHES:-1,4,8,16}
bench_engine=$build/bench/bench_engine
llama_bench=$llama_dir/llama-bench
llama_batched=$llama_dir/llama-batched-bench

[ -x "$llama_bench" ] || { echo "no llama-bench in $llama_dir" >&2; exit 66; }
[ -x "$bench_engine" ] || { echo "no $bench_engine: build lmserve first (cmake --build $build)" >&2; exit 66; }
for m in "$@"; do [ -f "$m" ] || { echo "no model file $m" >&2; exit 66; }; done
depth_ok=0
if "$llama_bench" --help 2>&1 | grep -q -- '--n-depth'; then depth_ok=1; fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# llama-bench CSV: prints "test,tokens_per_s" lines (pp512, tg128, tg128@d512)
llama_rows() {
    local model=$1 out=$tmp/llama.csv
    local extra=()
    [ $depth_ok = 1 ] && extra=(-d 0,512)
    "$llama_bench" -m "$model" -t "$threads" -p 512 -n 128 -r "$reps" "${extra[@]}" -o csv >"$out" 2>/dev/null
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) { gsub(/"/, "", $i); col[$i] = i }; next }
        { gsub(/"/, "");
          np = $col["n_prompt"]; ng = $col["n_gen"]; d = ("n_depth" in col) ? $col["n_depth"] : 0; ts = $col["avg_ts"];
          if (np > 0 && ng == 0 && d == 0) print "pp" np "," ts;
          else if (ng > 0 && np == 0) print "tg" ng (d > 0 ? "@d" d : "") "," ts }' "$out"
    if [ -x "$llama_batched" ]; then
        "$llama_batched" -m "$model" -t "$threads" -c 4096 -b 2048 -ub 512 -npp 1 -ntg 32 -npl "$batches" \
            >"$tmp/batched.txt" 2>/dev/null || true
        # markdown table: | PP | TG | B | N_KV | T_PP s | S_PP t/s | T_TG s | S_TG t/s | T s | S t/s |
        awk -F'|' '/^\|[ ]*[0-9]/ { gsub(/ /, ""); print "tg32x" $4 "," $9 }' "$tmp/batched.txt"
    fi
}

lmserve_rows() {
    local model=$1
    "$bench_engine" --model "$model" --threads "$threads" --reps "$reps" --n-prompt 512 --n-gen 128 \
        --depth 512 --batches "$batches" >"$tmp/lm.md"
    awk -F'|' '/^\| (pp|tg)/ { t = $2; gsub(/ /, "", t); v = $3; gsub(/ /, "", v); print t "," v }' "$tmp/lm.md"
    grep -m1 '^model ' "$tmp/lm.md" >"$tmp/lm_header.txt" || true
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "" }'; }

for model in "$@"; do
    : >"$tmp/all.csv"
    for r in $(seq 1 "$rounds"); do
        echo "round $r/$rounds: $model" >&2
        llama_rows "$model" | sed 's/^/llama,/' >>"$tmp/all.csv"
        lmserve_rows "$model" | sed 's/^/lmserve,/' >>"$tmp/all.csv"
    done
    echo
    echo "### $(basename "$model"), $threads threads, median of $rounds interleaved rounds ($reps repetitions each)"
    echo
    cat "$tmp/lm_header.txt" 2>/dev/null || true
    echo
    echo "| test | lmserve tokens/s | llama.cpp tokens/s | ratio |"
    echo "|---|---|---|---|"
    for t in $(cut -d, -f2 "$tmp/all.csv" | awk '!seen[$0]++'); do
        lm=$(awk -F, -v t="$t" '$1 == "lmserve" && $2 == t { print $3 }' "$tmp/all.csv" | median)
        ll=$(awk -F, -v t="$t" '$1 == "llama" && $2 == t { print $3 }' "$tmp/all.csv" | median)
        ratio=$(awk -v a="$lm" -v b="$ll" 'BEGIN { if (a != "" && b != "" && b > 0) printf "%.2f", a / b; else print "-" }')
        echo "| $t | ${lm:--} | ${ll:--} | $ratio |"
    done
done
