// responses.test.mjs — the OpenAI Responses API (/v3/responses, /v1/responses) through the
// official openai client: unary and streamed (raw events and the client's ResponseStream) give the
// same answer, the event sequence is the one clients rely on, and malformed requests get a 400 in
// OpenAI's error shape while the server goes on serving.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { startServer } from './server.mjs';

let srv;
let v1;
before(async () => {
  srv = await startServer();
  v1 = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 60000 });
});
after(async () => {
  assert.equal(await srv.stop(), 0, 'lmserve exits 0 on SIGTERM');
});

const params = {
  model: 'demo',
  instructions: 'You tell short stories.',
  input: [{ role: 'user', content: [{ type: 'input_text', text: 'Tell me about a cat.' }] }],
  max_output_tokens: 16,
  temperature: 0,
};

const messageText = (resp) =>
  resp.output
    .filter((o) => o.type === 'message')
    .flatMap((o) => o.content)
    .map((c) => c.text)
    .join('');

test('unary response has the Responses shape', async () => {
  const r = await srv.client.responses.create(params);
  assert.match(r.id, /^resp_/);
  assert.equal(r.object, 'response');
  assert.equal(r.model, 'demo');
  assert.ok(['completed', 'incomplete'].includes(r.status));
  if (r.status === 'incomplete') assert.equal(r.incomplete_details.reason, 'max_output_tokens');
  assert.equal(r.instructions, 'You tell short stories.');
  assert.equal(r.output.length, 1);
  const m = r.output[0];
  assert.equal(m.type, 'message');
  assert.equal(m.role, 'assistant');
  assert.match(m.id, /^msg_/);
  assert.equal(m.content[0].type, 'output_text');
  assert.ok(m.content[0].text.length > 0);
  assert.equal(r.output_text, m.content[0].text, "the client's output_text helper reads it");
  assert.ok(r.usage.input_tokens > 0);
  assert.ok(r.usage.output_tokens > 0 && r.usage.output_tokens <= 16);
  assert.equal(r.usage.total_tokens, r.usage.input_tokens + r.usage.output_tokens);
  assert.equal(typeof r.usage.input_tokens_details.cached_tokens, 'number');
});

test('streamed events add up to the unary response', async () => {
  const unary = await v1.responses.create(params);
  const stream = await v1.responses.create({ ...params, stream: true });
  const events = [];
  for await (const ev of stream) events.push(ev);
  assert.equal(events[0].type, 'response.created');
  assert.equal(events[0].response.status, 'in_progress');
  assert.equal(events[1].type, 'response.in_progress');
  events.forEach((ev, i) => assert.equal(ev.sequence_number, i));
  const types = events.map((e) => e.type);
  for (const t of [
    'response.output_item.added',
    'response.content_part.added',
    'response.output_text.delta',
    'response.output_text.done',
    'response.content_part.done',
    'response.output_item.done',
  ])
    assert.ok(types.includes(t), `${t} is sent`);
  const last = events[events.length - 1];
  assert.ok(['response.completed', 'response.incomplete'].includes(last.type));
  const deltas = events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('');
  assert.equal(deltas, messageText(unary));
  assert.equal(messageText(last.response), messageText(unary));
  assert.equal(last.response.status, unary.status);
  assert.equal(last.response.usage.output_tokens, unary.usage.output_tokens);
  assert.equal(events.find((e) => e.type === 'response.output_text.done').text, messageText(unary));
});

test("the client's ResponseStream helper gives the unary answer", async () => {
  const unary = await srv.client.responses.create(params);
  const stream = srv.client.responses.stream(params);
  let text = '';
  stream.on('response.output_text.delta', (e) => {
    text += e.delta;
  });
  const final = await stream.finalResponse();
  assert.equal(text, messageText(unary));
  assert.equal(messageText(final), messageText(unary));
});

test('tools of other types are skipped, function tools accepted; a string input works', async () => {
  const r = await srv.client.responses.create({
    model: 'demo',
    input: 'Once upon a time',
    max_output_tokens: 4,
    tools: [
      { type: 'web_search' },
      { type: 'function', name: 'shell', parameters: { type: 'object', properties: { cmd: { type: 'string' } } } },
    ],
    tool_choice: 'auto',
    parallel_tool_calls: false,
    store: false,
    include: ['reasoning.encrypted_content'],
    prompt_cache_key: 'k',
    reasoning: { effort: 'low', summary: 'auto' },
  });
  assert.ok(r.output.length >= 1);
  assert.equal(r.tools.length, 2, 'the response echoes the tools as sent');
  assert.equal(r.parallel_tool_calls, false);
});

test('malformed requests get 400 in OpenAI error shape, and the server keeps serving', async () => {
  const bad = [
    [{ model: 'demo', input: 5 }, 'input'],
    [{ model: 'demo', input: [{ type: 'function_call', name: 'f', arguments: '{}' }] }, 'input[0].call_id'],
    [{ model: 'demo', input: 'x', previous_response_id: 'resp_1' }, 'previous_response_id'],
    [{ model: 'demo', input: 'x', max_output_tokens: 0 }, 'max_output_tokens'],
    [{ model: 'demo', input: 'x', tool_choice: 'sometimes' }, 'tool_choice'],
    [{ model: 'demo', input: 'x', text: { format: { type: 'xml' } } }, 'text.format.type'],
  ];
  for (const [body, param] of bad) {
    await assert.rejects(srv.client.responses.create(body), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError, `${JSON.stringify(body)}: ${e}`);
      assert.equal(e.error.type, 'invalid_request_error');
      assert.equal(e.param, param);
      return true;
    });
  }
  const raw = await fetch(`${srv.url}/v3/responses`, { method: 'POST', body: '{"model":' });
  assert.equal(raw.status, 400);
  assert.equal((await raw.json()).error.type, 'invalid_request_error');
  await assert.rejects(
    srv.client.responses.create({ model: 'missing', input: 'x' }),
    (e) => e instanceof OpenAI.NotFoundError,
  );
  const ok = await srv.client.responses.create({ model: 'demo', input: 'x', max_output_tokens: 2 });
  assert.ok(ok.usage.output_tokens > 0);
});
