// models.test.mjs — models listing through the openai client; OVMS status, health, tokenize and
// CORS with plain fetch, as a browser or curl would use them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { startServer } from './server.mjs';

let srv;
before(async () => {
  srv = await startServer();
});
after(async () => {
  assert.equal(await srv.stop(), 0, 'lmserve exits 0 on SIGTERM');
});

test('models list and retrieve', async () => {
  const ids = [];
  for await (const m of srv.client.models.list()) ids.push(m.id);
  assert.deepEqual(ids, ['demo']);
  const m = await srv.client.models.retrieve('demo');
  assert.equal(m.id, 'demo');
  assert.equal(m.object, 'model');
  await assert.rejects(srv.client.models.retrieve('org/missing'), (e) => e instanceof OpenAI.NotFoundError);
});

test('OVMS config and health', async () => {
  const cfg = await (await fetch(`${srv.url}/v1/config`)).json();
  assert.equal(cfg.demo.model_version_status[0].state, 'AVAILABLE');
  assert.equal((await fetch(`${srv.url}/v2/health/live`)).status, 200);
  assert.equal((await fetch(`${srv.url}/v2/health/ready`)).status, 200);
  assert.equal((await fetch(`${srv.url}/v2/models/demo/ready`)).status, 200);
  assert.equal((await fetch(`${srv.url}/v2/models/other/ready`)).status, 404);
});

test('tokenize', async () => {
  const r = await fetch(`${srv.url}/v3/tokenize`, { method: 'POST', body: JSON.stringify({ model: 'demo', text: 'Once upon a time' }) });
  assert.equal(r.status, 200);
  const { tokens } = await r.json();
  assert.ok(tokens.length >= 4 && tokens.every(Number.isInteger));
});

test('CORS preflight and headers', async () => {
  const pre = await fetch(`${srv.url}/v3/chat/completions`, {
    method: 'OPTIONS',
    headers: { Origin: 'http://localhost:3000', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), '*');
  assert.match(pre.headers.get('access-control-allow-methods'), /POST/);
  const r = await fetch(`${srv.url}/v3/models`, { headers: { Origin: 'http://localhost:3000' } });
  assert.equal(r.headers.get('access-control-allow-origin'), '*');
});
