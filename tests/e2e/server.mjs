// server.mjs — starts lmserve (LM_BIN, or build/release/lmserve) on a free loopback port with the
// bundled demo model for one test file, and gives an official `openai` client pointed at it.
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function ready(port, proc, deadline, headers) {
  while (Date.now() < deadline && proc.exitCode === null) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/v2/health/ready`, { headers });
      if (r.status === 200) return true;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  return false;
}

// Returns { port, url, client, stop() }; stop() sends SIGTERM and resolves with the exit code.
// opts.args: extra command-line flags; opts.env: extra environment variables; opts.apiKey: the
// key the client sends.
export async function startServer(opts = {}) {
  const bin = process.env.LM_BIN || path.join(root, 'build/release/lmserve');
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const args = ['--rest_port', String(port), '--rest_bind_address', '127.0.0.1', ...(opts.args ?? [])];
    const env = { ...process.env, ...(opts.env ?? {}) };
    if (!opts.env || !('API_KEY' in opts.env)) delete env.API_KEY;
    const proc = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
    let log = '';
    proc.stderr.on('data', (d) => {
      log += d;
    });
    const headers = opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {};
    if (await ready(port, proc, Date.now() + 30000, headers)) {
      const url = `http://127.0.0.1:${port}`;
      const client = new OpenAI({
        baseURL: `${url}/v3`,
        apiKey: opts.apiKey ?? 'unused',
        maxRetries: 0,
        timeout: 60000,
      });
      const stop = () =>
        new Promise((resolve) => {
          if (proc.exitCode !== null) return resolve(proc.exitCode);
          proc.once('exit', (code) => resolve(code));
          proc.kill('SIGTERM');
        });
      return { port, url, client, stop, log: () => log, proc };
    }
    proc.kill('SIGKILL');
    if (attempt === 2) throw new Error(`lmserve did not become ready:\n${log}`);
  }
  throw new Error('unreachable');
}

// The text of a completed stream, choice by choice, plus every chunk.
export async function collect(stream) {
  const chunks = [];
  const texts = [];
  for await (const chunk of stream) {
    chunks.push(chunk);
    for (const c of chunk.choices) {
      const piece = c.delta ? c.delta.content : c.text;
      texts[c.index] = (texts[c.index] ?? '') + (piece ?? '');
    }
  }
  return { chunks, texts };
}
