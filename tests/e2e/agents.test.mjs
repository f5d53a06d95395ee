// agents.test.mjs — a tool loop through the Responses and Anthropic Messages APIs, as coding agents
// run it, with the official openai and @anthropic-ai/sdk clients against a replay model: the model
// thinks, calls a function, gets its result back and answers. Unary and streamed answers are the
// same (ids aside), and the calls made by each protocol go back in that protocol's own shape.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { makeReplayModel, toolCall } from './replay.mjs';
import { startServer } from './server.mjs';

const RESULT = 'sunny-marker-42';
const rules = [
  { when: RESULT, reply: 'It is sunny in Paris.' },
  {
    when: '"name": "get_weather"',
    reply: `<think>\nThe user wants the weather.\n</think>\n\n${toolCall('get_weather', { city: 'Paris' })}`,
  },
  { reply: 'Hello from the replay model.' },
];

let model;
let srv;
let anthropic;
before(async () => {
  model = makeReplayModel(rules);
  srv = await startServer({ args: ['--model_path', model.dir, '--model_name', 'replay'] });
  anthropic = new Anthropic({ baseURL: srv.url, apiKey: 'unused', maxRetries: 0, timeout: 60000 });
});
after(async () => {
  assert.equal(await srv.stop(), 0, 'lmserve exits 0 on SIGTERM');
  model.cleanup();
});

const question = 'What is the weather in Paris?';
const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };

// ---------------------------------------------------------------- Responses

const respTools = [{ type: 'function', name: 'get_weather', description: 'Weather of a city', parameters: schema }];

// The output without the ids that differ from one response to the next.
const stripIds = (output) => output.map(({ id, call_id, ...rest }) => ({ ...rest, has_call_id: !!call_id }));

test('Responses: reasoning and a function call, unary and streamed alike', async () => {
  const params = { model: 'replay', input: question, tools: respTools };
  const unary = await srv.client.responses.create(params);
  assert.equal(unary.status, 'completed');
  const kinds = unary.output.map((o) => o.type);
  assert.deepEqual(kinds, ['reasoning', 'function_call']);
  assert.equal(unary.output[0].content[0].text, 'The user wants the weather.');
  const call = unary.output[1];
  assert.equal(call.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.arguments), { city: 'Paris' });
  assert.ok(call.call_id.length > 0);

  const stream = await srv.client.responses.create({ ...params, stream: true });
  let args = '';
  let reasoning = '';
  let last;
  for await (const ev of stream) {
    if (ev.type === 'response.function_call_arguments.delta') args += ev.delta;
    if (ev.type === 'response.reasoning_text.delta') reasoning += ev.delta;
    assert.ok(!(ev.type === 'response.output_text.delta' && /tool_call|think>/.test(ev.delta)), 'no markup as text');
    last = ev;
  }
  assert.equal(last.type, 'response.completed');
  assert.equal(args, call.arguments);
  assert.equal(reasoning, unary.output[0].content[0].text);
  assert.deepEqual(stripIds(last.response.output), stripIds(unary.output));
});

test('Responses: the function result goes back and the model answers', async () => {
  const first = await srv.client.responses.create({ model: 'replay', input: question, tools: respTools });
  const call = first.output.find((o) => o.type === 'function_call');
  const input = [
    { role: 'user', content: question },
    ...first.output, // the reasoning and function_call items, as agents send them back
    { type: 'function_call_output', call_id: call.call_id, output: RESULT },
  ];
  const unary = await srv.client.responses.create({ model: 'replay', input, tools: respTools });
  assert.equal(unary.output_text, 'It is sunny in Paris.');
  let last;
  for await (const ev of await srv.client.responses.create({ model: 'replay', input, tools: respTools, stream: true }))
    last = ev;
  assert.equal(last.type, 'response.completed');
  assert.deepEqual(stripIds(last.response.output), stripIds(unary.output));
});

// ---------------------------------------------------------------- Anthropic Messages

const anthTools = [{ name: 'get_weather', description: 'Weather of a city', input_schema: schema }];
const stripBlockIds = (content) => content.map(({ id, ...rest }) => ({ ...rest, has_id: !!id }));

test('Messages: thinking and tool_use, unary and streamed alike', async () => {
  const params = {
    model: 'replay',
    max_tokens: 256,
    tools: anthTools,
    messages: [{ role: 'user', content: question }],
  };
  const unary = await anthropic.messages.create(params);
  assert.equal(unary.stop_reason, 'tool_use');
  assert.deepEqual(
    unary.content.map((b) => b.type),
    ['thinking', 'tool_use'],
  );
  assert.equal(unary.content[0].thinking, 'The user wants the weather.');
  assert.equal(unary.content[1].name, 'get_weather');
  assert.deepEqual(unary.content[1].input, { city: 'Paris' });

  let json = '';
  const stream = anthropic.messages.stream(params).on('inputJson', (delta) => {
    json += delta;
  });
  const final = await stream.finalMessage();
  assert.deepEqual(JSON.parse(json), { city: 'Paris' });
  assert.equal(final.stop_reason, 'tool_use');
  assert.deepEqual(stripBlockIds(final.content), stripBlockIds(unary.content));
});

test('Messages: the tool_result goes back and the model answers', async () => {
  const messages = [{ role: 'user', content: question }];
  const first = await anthropic.messages.create({ model: 'replay', max_tokens: 256, tools: anthTools, messages });
  const use = first.content.find((b) => b.type === 'tool_use');
  messages.push({ role: 'assistant', content: first.content });
  messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: RESULT }] });
  const params = { model: 'replay', max_tokens: 256, tools: anthTools, messages };
  const unary = await anthropic.messages.create(params);
  assert.equal(unary.stop_reason, 'end_turn');
  assert.deepEqual(unary.content, [{ type: 'text', text: 'It is sunny in Paris.' }]);
  const final = await anthropic.messages.stream(params).finalMessage();
  assert.deepEqual(final.content, unary.content);
  assert.equal(final.stop_reason, unary.stop_reason);
});

test('without tools the model just answers, on both protocols', async () => {
  const r = await srv.client.responses.create({ model: 'replay', input: 'hi' });
  assert.equal(r.output_text, 'Hello from the replay model.');
  const m = await anthropic.messages.create({ model: 'replay', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(m.content[0].text, 'Hello from the replay model.');
  assert.equal(m.stop_reason, 'end_turn');
});
