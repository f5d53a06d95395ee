#!/usr/bin/env bash
# Installs dependencies, builds lmserve (Release) and serves the bundled demo model on port 8000
# (LM_PORT to change). Try it from another terminal:
#   curl localhost:8000/v3/chat/completions -d '{"model":"demo","messages":[{"role":"user","content":"Once upon a time"}]}'
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j "$(nproc 2>/dev/null || echo 2)"
exec ./build/release/lmserve --rest_port "${LM_PORT:-8000}"
