// auth.test.mjs — the API key: every protected endpoint answers 401 without it (unary and
// streamed), works with it (Authorization: Bearer and x-api-key), health and /metrics stay open
// unless --api_key_protect_health, and the key never appears in logs or error bodies.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { collect, startServer } from './server.mjs';

const KEY = 'sk-lmserve-test-0123456789abcdef';
const chat = { model: 'demo', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4 };
const completion = { model: 'demo', prompt: 'Once', max_tokens: 4 };

// Every endpoint that needs the key: [method, path, body].
const protectedCalls = [
  ['POST', '/v3/chat/completions', chat],
  ['POST', '/v3/chat/completions', { ...chat, stream: true }],
  ['POST', '/v1/chat/completions', chat],
  ['POST', '/v3/completions', completion],
  ['POST', '/v3/completions', { ...completion, stream: true }],
  ['POST', '/v3/tokenize', { model: 'demo', prompt: 'hello' }],
  ['POST', '/v3/responses', { model: 'demo', input: 'Hi', max_output_tokens: 4 }],
  ['POST', '/v3/responses', { model: 'demo', input: 'Hi', max_output_tokens: 4, stream: true }],
  ['POST', '/v1/messages', { model: 'demo', max_tokens: 4, messages: [{ role: 'user', content: 'Hi' }] }],
  ['POST', '/v1/messages', { model: 'demo', max_tokens: 4, stream: true, messages: [{ role: 'user', content: 'Hi' }] }],
  ['POST', '/v1/messages/count_tokens', { model: 'demo', messages: [{ role: 'user', content: 'Hi' }] }],
  ['GET', '/v3/models'],
  ['GET', '/v1/models'],
  ['GET', '/v3/models/demo'],
  ['GET', '/v1/config'],
  ['POST', '/v1/config/reload', {}],
];
const healthCalls = [
  ['GET', '/v2/health/live'],
  ['GET', '/v2/health/ready'],
  ['GET', '/v2/models/demo/ready'],
  ['GET', '/metrics'],
];

async function call(srv, [method, p, body], headers = {}) {
  const r = await fetch(`${srv.url}${p}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, text: await r.text() };
}

describe('with --api_key_file', () => {
  let srv;
  let dir;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lm-key-'));
    fs.writeFileSync(path.join(dir, 'key'), `${KEY}  \nsecond line is ignored\n`);
    srv = await startServer({
      args: ['--api_key_file', path.join(dir, 'key'), '--metrics_enable', '--log_level', 'DEBUG'],
      apiKey: KEY,
    });
  });
  after(async () => {
    assert.equal(await srv.stop(), 0);
    assert.ok(!srv.log().includes(KEY), 'the key never appears in the log');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('every protected endpoint answers 401 without the key, or with a wrong one', async () => {
    const wrong = [
      {},
      { authorization: 'Bearer nope' },
      { authorization: `Bearer ${KEY.slice(0, -1)}X` }, // same length, last byte differs
      { authorization: `Bearer ${KEY}x` }, // the key as a prefix
      { authorization: KEY }, // no Bearer
      { 'x-api-key': 'nope' },
    ];
    for (const c of protectedCalls) {
      for (const h of wrong) {
        const r = await call(srv, c, h);
        assert.equal(r.status, 401, `${c[0]} ${c[1]} with ${JSON.stringify(h)}`);
        const body = JSON.parse(r.text);
        if (c[1].startsWith('/v1/messages')) {
          assert.equal(body.type, 'error'); // Anthropic's shape on Anthropic's routes
          assert.equal(body.error.type, 'authentication_error');
        } else {
          assert.equal(body.error.code, 'invalid_api_key');
          assert.equal(body.error.type, 'invalid_request_error');
        }
        assert.ok(!r.text.includes(KEY), 'the key is not in the error body');
      }
    }
  });

  test('with the key (Bearer or x-api-key) the endpoints work', async () => {
    for (const c of protectedCalls) {
      for (const h of [{ authorization: `Bearer ${KEY}` }, { 'x-api-key': KEY }]) {
        const r = await call(srv, c, h);
        assert.notEqual(r.status, 401, `${c[0]} ${c[1]}: ${r.text}`);
        assert.ok(r.status < 500, `${c[0]} ${c[1]}: ${r.status} ${r.text}`);
      }
    }
  });

  test('health endpoints and /metrics stay open', async () => {
    for (const c of healthCalls) assert.equal((await call(srv, c)).status, 200, c[1]);
  });

  test('the official client: the right key works, a wrong one is an AuthenticationError', async () => {
    const r = await srv.client.chat.completions.create(chat);
    assert.equal(r.object, 'chat.completion');
    const { texts } = await collect(await srv.client.chat.completions.create({ ...chat, stream: true }));
    assert.equal(typeof texts[0], 'string');
    const bad = new OpenAI({ baseURL: `${srv.url}/v3`, apiKey: 'wrong', maxRetries: 0 });
    await assert.rejects(bad.chat.completions.create(chat), (e) => e instanceof OpenAI.AuthenticationError);
    await assert.rejects(
      bad.chat.completions.create({ ...chat, stream: true }),
      (e) => e instanceof OpenAI.AuthenticationError,
    );
  });
});

describe('with API_KEY and --api_key_protect_health', () => {
  let srv;
  before(async () => {
    srv = await startServer({ args: ['--api_key_protect_health', '--metrics_enable'], env: { API_KEY: KEY }, apiKey: KEY });
  });
  after(async () => {
    assert.equal(await srv.stop(), 0);
  });

  test('health endpoints and /metrics need the key too', async () => {
    for (const c of healthCalls) {
      assert.equal((await call(srv, c)).status, 401, c[1]);
      assert.equal((await call(srv, c, { authorization: `Bearer ${KEY}` })).status, 200, c[1]);
    }
  });

  test('CORS preflights stay open (browsers send them without credentials)', async () => {
    const r = await fetch(`${srv.url}/v3/chat/completions`, { method: 'OPTIONS' });
    assert.equal(r.status, 204);
  });
});

describe('without a key', () => {
  test('an unreadable --api_key_file is a usage error', async () => {
    const { spawnSync } = await import('node:child_process');
    const bin = process.env.LM_BIN || path.resolve('build/release/lmserve');
    const r = spawnSync(bin, ['--api_key_file', '/nonexistent/key', '--rest_port', '1'], { encoding: 'utf8' });
    assert.equal(r.status, 64);
    assert.match(r.stderr, /--api_key_file \/nonexistent\/key: cannot be read/);
  });
});
