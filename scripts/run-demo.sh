#!/usr/bin/env bash
# Installs dependencies, builds lmserve (Release) and runs it on the bundled demo model.
# Until the HTTP server lands this runs `lmserve generate` on the demo model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j "$(nproc 2>/dev/null || echo 2)"
exec ./build/release/lmserve generate --prompt "${LM_DEMO_PROMPT:-Once upon a time}" --max_tokens 128
