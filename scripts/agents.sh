#!/usr/bin/env bash
# Runs real coding agents against a local lmserve: Codex CLI (Responses API), Claude Code
# (Anthropic Messages API) and opencode (chat completions), each non-interactively, for one turn
# that must call a shell tool and then print a scripted final answer (docs/agents.md).
#
# lmserve serves a replay model (docs/tools.md) built here from the Qwen3 tokenizer and chat
# template in tests/data: its first reply calls the agent's own shell tool to run `ls`; once the
# listing (which holds a marker file made here) comes back as a tool result, it answers
# "AGENT-TURN-DONE ...". An agent passes when it exits 0, its output has the final answer, and the
# listing reached the model (only the tool's output can contain the marker).
#
#   bash scripts/agents.sh                      all three agents
#   bash scripts/agents.sh codex claude         some of them (codex | claude | opencode)
#   LM_BIN=build/release/lmserve                the lmserve binary (default: build/release/lmserve)
#   LM_AGENTS_DIR=/tmp/lmserve-agents           scratch folder: npm packages, homes, the model
#   LM_AGENTS_KEEP=1                            keep the scratch folder's work dirs and logs
#   LM_AGENTS_TIMEOUT=180                       seconds each agent may take
#
# The agents are installed from npm at the pinned versions below into the scratch folder (about
# 1.2 GB; reused by later runs); nothing is installed globally and the agents' homes and configs
# live in the scratch folder, so the user's own ~/.codex, ~/.claude and opencode settings are
# neither read nor changed. Everything talks to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

CODEX_VERSION=0.171.0
CLAUDE_CODE_VERSION=2.1.337
OPENCODE_VERSION=1.18.33

bin=${LM_BIN:-build/release/lmserve}
scratch=${LM_AGENTS_DIR:-/tmp/lmserve-agents}
limit=${LM_AGENTS_TIMEOUT:-180}
agents=("$@")
[ ${#agents[@]} -gt 0 ] || agents=(codex claude opencode)
for a in "${agents[@]}"; do
    case "$a" in codex | claude | opencode) ;; *) echo "unknown agent '$a' (codex, claude, opencode)" >&2; exit 2 ;; esac
done
[ -x "$bin" ] || { echo "no lmserve binary at $bin (build first, or set LM_BIN)" >&2; exit 2; }
command -v node >/dev/null && command -v npm >/dev/null || { echo "node and npm are needed" >&2; exit 2; }

mkdir -p "$scratch"
run_dir=$(mktemp -d "$scratch/run.XXXXXX")
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    if [ "${LM_AGENTS_KEEP:-0}" = 1 ]; then echo "kept: $run_dir"; else rm -rf "$run_dir"; fi
}
trap cleanup EXIT

# ---- the agents, pinned, in the scratch folder
pkgdir="$scratch/npm"
want="@openai/codex@$CODEX_VERSION @anthropic-ai/claude-code@$CLAUDE_CODE_VERSION opencode-ai@$OPENCODE_VERSION"
if [ "$(cat "$pkgdir/.pinned" 2>/dev/null)" != "$want" ]; then
    echo "installing $want into $pkgdir"
    rm -rf "$pkgdir"
    mkdir -p "$pkgdir"
    (cd "$pkgdir" && npm init -y >/dev/null &&
        npm install --no-audit --no-fund --loglevel=error --save-exact $want >/dev/null)
    echo "$want" >"$pkgdir/.pinned"
fi
nbin="$pkgdir/node_modules/.bin"

# ---- the replay model: Qwen3's tokenizer and chat template (tool calls as hermes <tool_call>)
model="$run_dir/replay"
mkdir -p "$model"
cp tests/data/tokenizers/qwen3/tokenizer.json.gz tests/data/tokenizers/qwen3/tokenizer_config.json "$model/"
echo '{"architectures": ["LmserveReplay"], "max_position_embeddings": 65536}' >"$model/config.json"
marker=lmserve-agent-marker.txt
call() { # name, arguments JSON: a hermes tool call as the replay's reply
    printf '<tool_call>\\n{\\"name\\": \\"%s\\", \\"arguments\\": %s}\\n</tool_call>' "$1" "$2"
}
cat >"$model/replay.json" <<EOF
{"rules": [
  {"when": "$marker", "reply": "AGENT-TURN-DONE: the listing shows $marker."},
  {"when": "\"name\": \"exec_command\"", "reply": "$(call exec_command '{\"cmd\": \"ls\"}')"},
  {"when": "\"name\": \"Bash\"", "reply": "$(call Bash '{\"command\": \"ls\", \"description\": \"List the files\"}')"},
  {"when": "\"name\": \"bash\"", "reply": "$(call bash '{\"command\": \"ls\", \"description\": \"List the files\"}')"},
  {"reply": "OK"}
]}
EOF

# ---- lmserve on a free loopback port
port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
"$bin" --rest_port "$port" --rest_bind_address 127.0.0.1 --model_path "$model" --model_name replay \
    >"$run_dir/lmserve.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$port/v2/health/ready" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$run_dir/lmserve.log" >&2; exit 1; }
    sleep 0.1
done
curl -sf "http://127.0.0.1:$port/v2/health/ready" >/dev/null || { echo "lmserve did not become ready" >&2; exit 1; }
echo "lmserve on 127.0.0.1:$port serving the replay model"

prompt="List the files in the current directory with your shell tool, then tell me what you found."

# Each agent gets its own home (config, sessions, caches) and an empty work dir with the marker.
setup() {
    home="$run_dir/$1-home"
    work="$run_dir/$1-work"
    mkdir -p "$home" "$work"
    echo "a file for the agent to find" >"$work/$marker"
}

run_codex() {
    mkdir -p "$home/.codex"
    cat >"$home/.codex/config.toml" <<EOF
model = "replay"
model_provider = "lmserve"
[model_providers.lmserve]
name = "lmserve"
base_url = "http://127.0.0.1:$port/v1"
wire_api = "responses"
env_key = "LMSERVE_API_KEY"
request_max_retries = 0
stream_max_retries = 0
EOF
    (cd "$work" && HOME="$home" CODEX_HOME="$home/.codex" LMSERVE_API_KEY=unused \
        timeout "$limit" "$nbin/codex" exec --skip-git-repo-check \
        --dangerously-bypass-approvals-and-sandbox "$prompt" </dev/null)
}

run_claude() {
    (cd "$work" && HOME="$home" ANTHROPIC_BASE_URL="http://127.0.0.1:$port" ANTHROPIC_API_KEY=unused \
        DISABLE_AUTOUPDATER=1 DISABLE_TELEMETRY=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 \
        timeout "$limit" "$nbin/claude" -p "$prompt" --model replay --allowedTools Bash </dev/null)
}

run_opencode() {
    cat >"$work/opencode.json" <<EOF
{
  "\$schema": "https://opencode.ai/config.json",
  "provider": {
    "lmserve": {
      "npm": "@ai-sdk/openai-compatible",
      "name": "lmserve",
      "options": {"baseURL": "http://127.0.0.1:$port/v3"},
      "models": {"replay": {"name": "replay", "tool_call": true}}
    }
  },
  "model": "lmserve/replay",
  "autoupdate": false
}
EOF
    (cd "$work" && HOME="$home" XDG_CONFIG_HOME="$home/.config" XDG_DATA_HOME="$home/.local/share" \
        XDG_CACHE_HOME="$home/.cache" XDG_STATE_HOME="$home/.local/state" OPENCODE_DISABLE_AUTOUPDATE=1 \
        timeout "$limit" "$nbin/opencode" run -m lmserve/replay "$prompt" </dev/null)
}

pass=0
fail=0
for a in "${agents[@]}"; do
    setup "$a"
    log="$run_dir/$a.log"
    echo "==== $a"
    rc=0
    "run_$a" >"$log" 2>&1 || rc=$?
    if [ "$rc" -eq 0 ] && grep -q "AGENT-TURN-DONE: the listing shows $marker" "$log"; then
        echo "$a: ran the tool and printed the final answer"
        pass=$((pass + 1))
    else
        echo "$a: FAILED (exit $rc); its output:"
        tail -n 40 "$log" | sed 's/^/    /'
        fail=$((fail + 1))
    fi
done
echo "agents: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
