// ops.test.mjs — backpressure, deadlines and the access log. The queue is filled
// deterministically: LMSERVE_TEST_ADMISSION_GATE names a file; while it exists the generation loop
// admits nothing, so which requests wait and which are refused does not depend on machine speed.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startServer } from './server.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const chat = { model: 'demo', messages: [{ role: 'user', content: 'Tell me a story.' }], max_tokens: 8 };

async function post(url, body) {
  const r = await fetch(`${url}/v3/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: r.status, retryAfter: r.headers.get('retry-after'), text: await r.text() };
}

// The value of one series in a /metrics text (0 when absent).
async function metricValue(url, series) {
  const text = await (await fetch(`${url}/metrics`)).text();
  for (const line of text.split('\n')) if (line.startsWith(`${series} `)) return Number(line.split(' ')[1]);
  return 0;
}

async function waitMetric(url, series, want) {
  for (let i = 0; i < 600; i++) {
    if ((await metricValue(url, series)) === want) return;
    await sleep(50);
  }
  assert.fail(`${series} never reached ${want}: ${await metricValue(url, series)}`);
}

describe('a bounded queue: 4x its limit gets 503 + Retry-After for the excess, 200 for the rest', () => {
  let srv;
  let dir;
  let gate;
  const QUEUE = 3;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lm-gate-'));
    gate = path.join(dir, 'gate');
    fs.writeFileSync(gate, '');
    srv = await startServer({
      args: ['--max_num_seqs', '1', '--max_queued_requests', String(QUEUE), '--metrics_enable'],
      env: { LMSERVE_TEST_ADMISSION_GATE: gate },
    });
  });
  after(async () => {
    assert.equal(await srv.stop(), 0);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('load of 4x the queue limit', async () => {
    const total = 4 * QUEUE;
    // Unary and streamed alike; none can be admitted while the gate exists.
    const pending = [];
    for (let i = 0; i < total; i++) pending.push(post(srv.url, { ...chat, stream: i % 2 === 1 }));
    await waitMetric(srv.url, 'lmserve_requests_waiting{name="demo"}', QUEUE);
    // Every request past the queue's limit is refused at once, whatever the arrival order.
    await waitMetric(srv.url, 'lmserve_request_errors_total{name="demo",class="overloaded"}', total - QUEUE);
    fs.rmSync(gate); // open the gate: the queued ones run
    const results = await Promise.all(pending);
    const ok = results.filter((r) => r.status === 200);
    const busy = results.filter((r) => r.status === 503);
    assert.equal(ok.length, QUEUE, JSON.stringify(results.map((r) => r.status)));
    assert.equal(busy.length, total - QUEUE);
    for (const r of busy) {
      assert.equal(r.retryAfter, '1');
      const e = JSON.parse(r.text).error;
      assert.equal(e.code, 'overloaded');
      assert.equal(e.type, 'server_error');
      assert.match(e.message, /--max_queued_requests/);
    }
    for (const r of ok) assert.ok(!r.text.includes('"error"'), r.text);
    const rejected =
      (await metricValue(srv.url, 'ovms_requests_rejected_total{api="V3",interface="REST",method="Unary",name="demo"}')) +
      (await metricValue(srv.url, 'ovms_requests_rejected_total{api="V3",interface="REST",method="Stream",name="demo"}'));
    assert.equal(rejected, total - QUEUE);
    assert.equal(await metricValue(srv.url, 'lmserve_request_errors_total{name="demo",class="overloaded"}'), total - QUEUE);
    // Nothing left waiting, and the server still serves.
    await waitMetric(srv.url, 'lmserve_requests_waiting{name="demo"}', 0);
    assert.equal((await post(srv.url, chat)).status, 200);
  });
});

describe('--request_timeout_s', () => {
  let srv;
  let dir;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lm-gate-'));
    const gate = path.join(dir, 'gate');
    fs.writeFileSync(gate, ''); // never opened: requests wait until their deadline
    srv = await startServer({ args: ['--request_timeout_s', '1', '--metrics_enable'], env: { LMSERVE_TEST_ADMISSION_GATE: gate } });
  });
  after(async () => {
    assert.equal(await srv.stop(), 0);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a unary request past its deadline gets 408 with a clear message', async () => {
    const r = await post(srv.url, chat);
    assert.equal(r.status, 408);
    assert.match(JSON.parse(r.text).error.message, /longer than the server's limit of 1 s \(--request_timeout_s\)/);
  });

  test('a streamed request past its deadline ends with an error event and [DONE]', async () => {
    const r = await post(srv.url, { ...chat, stream: true });
    assert.equal(r.status, 200);
    assert.match(r.text, /--request_timeout_s/);
    assert.ok(r.text.trimEnd().endsWith('data: [DONE]'));
    assert.equal(await metricValue(srv.url, 'lmserve_request_errors_total{name="demo",class="timeout"}'), 2);
  });
});

describe('access log', () => {
  let srv;
  before(async () => {
    srv = await startServer({ args: ['--log_format', 'json'] });
  });
  after(async () => {
    assert.equal(await srv.stop(), 0);
  });

  test('one JSON line per request with method, path, model, status, tokens, TTFT, time, finish', async () => {
    const unary = await srv.client.chat.completions.create(chat);
    const bad = await post(srv.url, { ...chat, model: 'nope' });
    assert.equal(bad.status, 404);
    await sleep(200); // the line is written when the connection's request completes
    const lines = srv
      .log()
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l)); // every line is JSON
    const access = lines.filter((l) => l.event === 'access');
    const gen = access.find((l) => l.id === unary.id);
    assert.ok(gen, JSON.stringify(access));
    assert.equal(gen.method, 'POST');
    assert.equal(gen.path, '/v3/chat/completions');
    assert.equal(gen.model, 'demo');
    assert.equal(gen.status, 200);
    assert.equal(gen.prompt_tokens, unary.usage.prompt_tokens);
    assert.equal(gen.completion_tokens, unary.usage.completion_tokens);
    assert.equal(gen.finish, unary.choices[0].finish_reason);
    assert.ok(gen.ttft_s >= 0 && gen.duration_s >= gen.ttft_s);
    const miss = access.find((l) => l.model === 'nope');
    assert.equal(miss.status, 404);
  });
});

describe('request limits (docs/api.md, "Limits")', () => {
  let srv;
  before(async () => {
    srv = await startServer();
  });
  after(async () => {
    assert.equal(await srv.stop(), 0);
  });

  const expect400 = async (body, pattern, param) => {
    const r = await fetch(`${srv.url}/v3/${body.messages ? 'chat/completions' : 'completions'}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body.raw === 'string' ? body.raw : JSON.stringify(body),
    });
    const text = await r.text();
    assert.equal(r.status, 400, text);
    const e = JSON.parse(text).error;
    assert.match(e.message, pattern);
    if (param !== undefined) assert.equal(e.param, param);
  };

  test('JSON nested deeper than 100 levels', async () => {
    const deep = `{"model":"demo","messages":[{"role":"user","content":"hi"}],"x":${'['.repeat(100)}${']'.repeat(100)}}`;
    await expect400({ raw: deep, messages: true }, /nests deeper than 100 levels/);
  });

  test('more than 10,000 messages', async () => {
    const messages = Array.from({ length: 10001 }, () => ({ role: 'user', content: 'a' }));
    await expect400({ model: 'demo', messages }, /too many messages: 10001 \(limit is 10000\)/, 'messages');
  });

  test('more than 128 tools', async () => {
    const tools = Array.from({ length: 129 }, (_, i) => ({ type: 'function', function: { name: `f${i}` } }));
    await expect400({ model: 'demo', messages: [{ role: 'user', content: 'a' }], tools }, /too many tools: 129/, 'tools');
  });

  test('more than 300 logit_bias entries', async () => {
    const logit_bias = Object.fromEntries(Array.from({ length: 301 }, (_, i) => [String(i), 1]));
    await expect400({ model: 'demo', prompt: 'a', logit_bias }, /too many logit_bias entries: 301/, 'logit_bias');
  });

  test('a 10 MB prompt is refused by its length, before tokenizing', async () => {
    const big = 'word '.repeat(2 * 1024 * 1024); // 10 MiB
    await expect400({ model: 'demo', prompt: big }, /the prompt is 10485760 bytes: more than the \d+ tokens this model accepts can hold/, 'prompt');
    await expect400(
      { model: 'demo', messages: [{ role: 'user', content: big }] },
      /bytes: more than the \d+ tokens this model accepts can hold/,
      'messages',
    );
  });

  test('prompt + max_tokens larger than the whole KV cache is refused at once', async () => {
    await expect400({ model: 'demo', prompt: 'Once', max_tokens: 1000000 }, /more than the whole KV cache holds \(\d+\): it could never run/);
    // within the cache: runs (capped at the context)
    const r = await srv.client.completions.create({ model: 'demo', prompt: 'Once', max_tokens: 1000 });
    assert.equal(r.choices[0].finish_reason, 'length');
  });
});
