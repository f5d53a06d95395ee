// replay.mjs — replay model folders (docs/tools.md) for the e2e tests: the Qwen3 tokenizer and
// chat template from tests/data, with scripted rules. Tool calls are written as the Qwen3 template
// asks for them (hermes <tool_call> markup), so lmserve's own parsers turn them into calls.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// Returns { dir, cleanup() }: a model folder answering with `rules` ({when?, reply}).
export function makeReplayModel(rules) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lmserve-replay-'));
  const src = path.join(root, 'tests/data/tokenizers/qwen3');
  for (const f of ['tokenizer.json.gz', 'tokenizer_config.json']) fs.copyFileSync(path.join(src, f), path.join(dir, f));
  fs.writeFileSync(
    path.join(dir, 'config.json'),
    JSON.stringify({ architectures: ['LmserveReplay'], max_position_embeddings: 8192 }),
  );
  fs.writeFileSync(path.join(dir, 'replay.json'), JSON.stringify({ rules }));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

// A reply that calls `name` with `args`, in Qwen3's (hermes) markup.
export const toolCall = (name, args) => `<tool_call>\n${JSON.stringify({ name, arguments: args })}\n</tool_call>`;
