// completions.test.mjs — /v3/completions through the official openai client: unary and streamed,
// usage, stop, seeds, n, logprobs, echo, errors.
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

const prompt = 'Once upon a time';

test('unary completion has the OpenAI shape', async () => {
  const r = await srv.client.completions.create({ model: 'demo', prompt, max_tokens: 12, temperature: 0 });
  assert.match(r.id, /^cmpl-/);
  assert.equal(r.object, 'text_completion');
  assert.equal(r.model, 'demo');
  assert.equal(r.choices.length, 1);
  assert.equal(typeof r.choices[0].text, 'string');
  assert.ok(r.choices[0].text.length > 0);
  assert.equal(r.choices[0].logprobs, null);
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

test('streamed completion equals unary, deterministic both ways', async () => {
  for (const extra of [{ temperature: 0 }, { temperature: 0.9, seed: 42 }]) {
    const params = { model: 'demo', prompt, max_tokens: 30, ...extra };
    const unary = await srv.client.completions.create(params);
    const again = await srv.client.completions.create(params);
    assert.equal(again.choices[0].text, unary.choices[0].text);
    const { chunks, texts } = await collect(
      await srv.client.completions.create({ ...params, stream: true, stream_options: { include_usage: true } }),
    );
    assert.equal(texts[0], unary.choices[0].text);
    const last = chunks[chunks.length - 1];
    assert.equal(last.usage.completion_tokens, unary.usage.completion_tokens);
    assert.equal(chunks[chunks.length - 2].choices[0].finish_reason, unary.choices[0].finish_reason);
  }
});

test('stop strings', async () => {
  const base = { model: 'demo', prompt, max_tokens: 40, temperature: 0, ignore_eos: true };
  const full = (await srv.client.completions.create(base)).choices[0].text;
  const stop = full.slice(Math.floor(full.length / 2), Math.floor(full.length / 2) + 4);
  const r = await srv.client.completions.create({ ...base, stop });
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.equal(r.choices[0].text, full.slice(0, full.indexOf(stop)));
  const kept = await srv.client.completions.create({ ...base, stop: [stop], include_stop_str_in_output: true });
  assert.equal(kept.choices[0].text, full.slice(0, full.indexOf(stop) + stop.length));
});

test('n, echo and logprobs', async () => {
  const n = await srv.client.completions.create({ model: 'demo', prompt, max_tokens: 10, n: 2, seed: 3, temperature: 1 });
  assert.deepEqual(
    n.choices.map((c) => c.index),
    [0, 1],
  );

  const echo = await srv.client.completions.create({ model: 'demo', prompt, max_tokens: 5, echo: true, temperature: 0 });
  assert.ok(echo.choices[0].text.startsWith(prompt));

  const lp = await srv.client.completions.create({ model: 'demo', prompt, max_tokens: 6, logprobs: 2, temperature: 0, ignore_eos: true });
  const l = lp.choices[0].logprobs;
  assert.equal(l.tokens.length, 6);
  assert.equal(l.token_logprobs.length, 6);
  assert.equal(l.top_logprobs.length, 6);
  assert.equal(l.text_offset.length, 6);
  assert.equal(l.tokens.join(''), lp.choices[0].text);
  assert.equal(l.text_offset[0], 0);
  for (const t of l.top_logprobs) assert.ok(Object.keys(t).length >= 1 && Object.keys(t).length <= 2);

  const { chunks } = await collect(
    await srv.client.completions.create({ model: 'demo', prompt, max_tokens: 6, logprobs: 1, temperature: 0, ignore_eos: true, stream: true }),
  );
  const toks = chunks.flatMap((c) => c.choices.flatMap((x) => x.logprobs?.tokens ?? []));
  assert.deepEqual(toks, l.tokens);
});

test('errors', async () => {
  await assert.rejects(
    srv.client.completions.create({ model: 'demo', prompt, max_tokens: -1 }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'max_tokens',
  );
  await assert.rejects(
    srv.client.completions.create({ model: 'demo', prompt: 'x '.repeat(2000) }),
    (e) => e.status === 400 && /tokens/.test(e.message),
  );
  await assert.rejects(
    srv.client.completions.create({ model: 'nope', prompt }),
    (e) => e instanceof OpenAI.NotFoundError,
  );
  await assert.rejects(
    srv.client.completions.create({ model: 'demo', prompt, top_p: 0 }),
    (e) => e.status === 400 && e.param === 'top_p',
  );
});
