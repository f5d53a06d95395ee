// messages.test.mjs — the Anthropic Messages API (/v1/messages, count_tokens) through the
// official @anthropic-ai/sdk client: unary and streamed (raw events and the client's MessageStream)
// give the same message, the event sequence is Anthropic's, and malformed requests get Anthropic's
// error shape while the server goes on serving.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { startServer } from './server.mjs';

let srv;
let client;
before(async () => {
  srv = await startServer();
  client = new Anthropic({ baseURL: srv.url, apiKey: 'unused', maxRetries: 0, timeout: 60000 });
});
after(async () => {
  assert.equal(await srv.stop(), 0, 'lmserve exits 0 on SIGTERM');
});

const params = {
  model: 'demo',
  max_tokens: 16,
  temperature: 0,
  system: [{ type: 'text', text: 'You tell short stories.', cache_control: { type: 'ephemeral' } }],
  messages: [{ role: 'user', content: [{ type: 'text', text: 'Tell me about a cat.' }] }],
};

const text = (msg) =>
  msg.content
    .filter((b) => b.type === 'text')
    .map((b) => b.text)
    .join('');
// prefix caching moves prompt tokens from input_tokens to cache_read_input_tokens
const promptTokens = (u) => u.input_tokens + (u.cache_read_input_tokens ?? 0);

test('unary message has the Messages shape', async () => {
  const m = await client.messages.create(params);
  assert.match(m.id, /^msg_/);
  assert.equal(m.type, 'message');
  assert.equal(m.role, 'assistant');
  assert.equal(m.model, 'demo');
  assert.equal(m.content[0].type, 'text');
  assert.ok(m.content[0].text.length > 0);
  assert.ok(['end_turn', 'max_tokens'].includes(m.stop_reason));
  assert.equal(m.stop_sequence, null);
  assert.ok(promptTokens(m.usage) > 0);
  assert.ok(m.usage.output_tokens > 0 && m.usage.output_tokens <= 16);
});

test('streamed events add up to the unary message', async () => {
  const unary = await client.messages.create(params);
  const stream = await client.messages.create({ ...params, stream: true });
  const events = [];
  for await (const ev of stream) events.push(ev);
  const types = events.map((e) => e.type);
  assert.equal(types[0], 'message_start');
  assert.equal(types[types.length - 1], 'message_stop');
  assert.equal(types[types.length - 2], 'message_delta');
  assert.ok(types.includes('content_block_start') && types.includes('content_block_stop'));
  const deltas = events
    .filter((e) => e.type === 'content_block_delta')
    .map((e) => {
      assert.equal(e.delta.type, 'text_delta');
      return e.delta.text;
    })
    .join('');
  assert.equal(deltas, text(unary));
  const md = events[events.length - 2];
  assert.equal(md.delta.stop_reason, unary.stop_reason);
  assert.equal(md.usage.output_tokens, unary.usage.output_tokens);
});

test("the client's MessageStream helper gives the unary message", async () => {
  const unary = await client.messages.create(params);
  let streamed = '';
  const stream = client.messages.stream(params).on('text', (t) => {
    streamed += t;
  });
  const final = await stream.finalMessage();
  assert.equal(streamed, text(unary));
  assert.deepEqual(final.content, unary.content);
  assert.equal(final.stop_reason, unary.stop_reason);
  assert.equal(final.usage.output_tokens, unary.usage.output_tokens);
  assert.equal(promptTokens(final.usage), promptTokens(unary.usage));
});

test('a stop sequence ends the message with stop_reason stop_sequence, unary and streamed', async () => {
  const free = await client.messages.create({ ...params, max_tokens: 32 });
  const full = text(free);
  const word = full.trim().split(/\s+/)[2]; // greedy, so the same text comes again
  assert.ok(word && full.indexOf(word) > 0, `a stop word in ${JSON.stringify(full)}`);
  const stopped = { ...params, max_tokens: 32, stop_sequences: ['never-generated-xyz', word] };
  const m = await client.messages.create(stopped);
  assert.equal(m.stop_reason, 'stop_sequence');
  assert.equal(m.stop_sequence, word);
  assert.equal(text(m), full.slice(0, full.indexOf(word)));
  const final = await client.messages.stream(stopped).finalMessage();
  assert.equal(final.stop_reason, 'stop_sequence');
  assert.equal(final.stop_sequence, word);
  assert.deepEqual(final.content, m.content);
});

test('count_tokens counts the rendered prompt', async () => {
  const { model, system, messages } = params;
  const c = await client.messages.countTokens({ model, system, messages });
  const m = await client.messages.create(params);
  assert.equal(c.input_tokens, promptTokens(m.usage));
});

test('tools, tool_choice, thinking and metadata are accepted; server tools are skipped', async () => {
  const m = await client.messages.create({
    ...params,
    max_tokens: 4,
    tools: [
      { name: 'Bash', description: 'run a command', input_schema: { type: 'object', properties: { command: { type: 'string' } } } },
      { type: 'web_search_20250305', name: 'web_search' },
    ],
    tool_choice: { type: 'auto', disable_parallel_tool_use: true },
    thinking: { type: 'disabled' },
    metadata: { user_id: 'u' },
    stop_sequences: ['THE END'],
  });
  assert.equal(m.type, 'message');
});

test("malformed requests get 4xx in Anthropic's error shape, and the server keeps serving", async () => {
  const bad = [
    { model: 'demo', messages: [{ role: 'user', content: 'x' }] },
    { model: 'demo', max_tokens: 5, messages: [] },
    { model: 'demo', max_tokens: 5, messages: [{ role: 'robot', content: 'x' }] },
    { model: 'demo', max_tokens: 5, temperature: 3, messages: [{ role: 'user', content: 'x' }] },
    { model: 'demo', max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'image', source: {} }] }] },
  ];
  for (const body of bad) {
    await assert.rejects(client.messages.create(body), (e) => {
      assert.ok(e instanceof Anthropic.BadRequestError, `${JSON.stringify(body)}: ${e}`);
      assert.equal(e.error.type, 'error');
      assert.equal(e.error.error.type, 'invalid_request_error');
      assert.ok(e.error.error.message.length > 0);
      return true;
    });
  }
  await assert.rejects(
    client.messages.create({ ...params, model: 'missing' }),
    (e) => e instanceof Anthropic.NotFoundError && e.error.error.type === 'not_found_error',
  );
  const raw = await fetch(`${srv.url}/v1/messages?beta=true`, {
    method: 'POST',
    headers: { 'x-api-key': 'k', 'anthropic-version': '2023-06-01' },
    body: '{"model":',
  });
  assert.equal(raw.status, 400);
  assert.equal((await raw.json()).error.type, 'invalid_request_error');
  const ok = await client.messages.create({ ...params, max_tokens: 2 });
  assert.ok(ok.usage.output_tokens > 0);
});
