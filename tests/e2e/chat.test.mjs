// chat.test.mjs — /v3/chat/completions through the official openai client: unary and streamed,
// usage, stop strings, seeds (same text unary and streamed), n, logprobs, errors.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { collect, startServer } from './server.mjs';

let srv;
before(async () => {
  srv = await startServer();
});
after(async () => {
  assert.equal(await srv.stop(), 0, 'lmserve exits 0 on SIGTERM');
});

const messages = [
  { role: 'system', content: 'You tell short stories.' },
  { role: 'user', content: 'Tell me about a cat.' },
];

test('unary chat completion has the OpenAI shape', async () => {
  const r = await srv.client.chat.completions.create({ model: 'demo', messages, max_tokens: 16, temperature: 0 });
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.model, 'demo');
  assert.equal(typeof r.created, 'number');
  assert.equal(r.choices.length, 1);
  const c = r.choices[0];
  assert.equal(c.index, 0);
  assert.equal(c.message.role, 'assistant');
  assert.equal(typeof c.message.content, 'string');
  assert.ok(['stop', 'length'].includes(c.finish_reason));
  assert.ok(r.usage.prompt_tokens > 0);
  assert.ok(r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 16);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

test('streamed chat equals unary at temperature 0, with role first, finish and usage last', async () => {
  const params = { model: 'demo', messages, max_tokens: 24, temperature: 0 };
  const unary = await srv.client.chat.completions.create(params);
  const stream = await srv.client.chat.completions.create({
    ...params,
    stream: true,
    stream_options: { include_usage: true },
  });
  const { chunks, texts } = await collect(stream);
  assert.equal(texts[0], unary.choices[0].message.content);
  assert.equal(chunks[0].object, 'chat.completion.chunk');
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  const last = chunks[chunks.length - 1];
  assert.deepEqual(last.choices, []);
  assert.equal(last.usage.completion_tokens, unary.usage.completion_tokens);
  assert.equal(last.usage.prompt_tokens, unary.usage.prompt_tokens);
  const fin = chunks[chunks.length - 2].choices[0];
  assert.equal(fin.finish_reason, unary.choices[0].finish_reason);
  for (const ch of chunks) assert.equal(ch.id, chunks[0].id);
});

test('a seed gives the same text every time, unary and streamed', async () => {
  const params = { model: 'demo', messages, max_tokens: 32, temperature: 1.0, top_p: 0.95, seed: 1234 };
  const a = await srv.client.chat.completions.create(params);
  const b = await srv.client.chat.completions.create(params);
  assert.equal(a.choices[0].message.content, b.choices[0].message.content);
  for (let i = 0; i < 2; i++) {
    const { texts } = await collect(await srv.client.chat.completions.create({ ...params, stream: true }));
    assert.equal(texts[0], a.choices[0].message.content);
  }
  const other = await srv.client.chat.completions.create({ ...params, seed: 99, max_tokens: 64 });
  const longer = await srv.client.chat.completions.create({ ...params, max_tokens: 64 });
  assert.notEqual(other.choices[0].message.content, longer.choices[0].message.content);
});

test('stop strings end the text before the stop string', async () => {
  const base = { model: 'demo', messages, max_tokens: 40, temperature: 0 };
  const full = (await srv.client.chat.completions.create(base)).choices[0].message.content;
  assert.ok(full.length > 10, `greedy text too short: ${JSON.stringify(full)}`);
  const stop = full.slice(Math.floor(full.length / 2), Math.floor(full.length / 2) + 3);
  const r = await srv.client.chat.completions.create({ ...base, stop: ['@@never@@', stop] });
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.equal(r.choices[0].message.content, full.slice(0, full.indexOf(stop)));
  const { texts, chunks } = await collect(await srv.client.chat.completions.create({ ...base, stop, stream: true }));
  assert.equal(texts[0], r.choices[0].message.content);
  assert.equal(chunks[chunks.length - 1].choices[0].finish_reason, 'stop');
});

test('n returns independent choices', async () => {
  const r = await srv.client.chat.completions.create({
    model: 'demo',
    messages,
    max_tokens: 16,
    n: 3,
    seed: 7,
    temperature: 1.2,
  });
  assert.deepEqual(
    r.choices.map((c) => c.index),
    [0, 1, 2],
  );
  assert.ok(new Set(r.choices.map((c) => c.message.content)).size > 1);
  const { texts } = await collect(
    await srv.client.chat.completions.create({
      model: 'demo',
      messages,
      max_tokens: 16,
      n: 3,
      seed: 7,
      temperature: 1.2,
      stream: true,
    }),
  );
  assert.deepEqual(
    texts,
    r.choices.map((c) => c.message.content),
  );
});

test('logprobs, unary and streamed', async () => {
  const params = { model: 'demo', messages, max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 3 };
  const r = await srv.client.chat.completions.create(params);
  const content = r.choices[0].logprobs.content;
  assert.equal(content.length, r.usage.completion_tokens);
  for (const t of content) {
    assert.equal(typeof t.token, 'string');
    assert.ok(t.logprob <= 0);
    assert.ok(Array.isArray(t.bytes));
    assert.equal(t.top_logprobs.length, 3);
    assert.ok(Math.abs(t.top_logprobs[0].logprob - t.logprob) < 1e-4, 'greedy picks the top token');
  }
  const { chunks } = await collect(await srv.client.chat.completions.create({ ...params, stream: true }));
  const streamed = chunks.flatMap((c) => c.choices.flatMap((x) => x.logprobs?.content ?? []));
  assert.deepEqual(
    streamed.map((t) => t.token),
    content.map((t) => t.token),
  );
});

test('errors come back as OpenAI errors', async () => {
  await assert.rejects(
    srv.client.chat.completions.create({ model: 'demo', messages, temperature: 3 }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'temperature',
  );
  await assert.rejects(
    srv.client.chat.completions.create({ model: 'no-such-model', messages }),
    (e) => e instanceof OpenAI.NotFoundError && e.param === 'model' && e.code === 'model_not_found',
  );
  await assert.rejects(
    srv.client.chat.completions.create({ model: 'demo', messages: [] }),
    (e) => e.status === 400 && e.param === 'messages',
  );
  await assert.rejects(
    srv.client.chat.completions.create({ model: 'demo', messages, response_format: { type: 'json_object' } }),
    (e) => e.status === 400 && /not supported yet/.test(e.message),
  );
  await assert.rejects(
    srv.client.chat.completions.create({ model: 'demo', messages, n: 0, stream: true }),
    (e) => e.status === 400 && e.param === 'n',
  );
  // the server is still fine
  const r = await srv.client.chat.completions.create({ model: 'demo', messages, max_tokens: 4 });
  assert.equal(r.choices.length, 1);
});

test('max_tokens ends with finish_reason length', async () => {
  const r = await srv.client.chat.completions.create({
    model: 'demo',
    messages,
    max_completion_tokens: 5,
    temperature: 0,
    ignore_eos: true,
  });
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 5);
});
