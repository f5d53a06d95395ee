// tools.test.mjs — tool calls and reasoning through /v3/chat/completions with the official openai
// client, driven by replay models (docs/tools.md) with real tokenizers and chat templates: for
// every parser the unary and streamed answers carry the same calls, arguments and reasoning,
// finish_reason is "tool_calls", and no markup reaches a content delta. Also the hermes3 round
// trip: call, tool result sent back, final answer.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startServer } from './server.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const data = path.join(root, 'tests/data');

// A replay model folder: the tokenizer of tests/data/tokenizers/<tok>, the template file, rules.
function replayModel(tok, template, rules) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lm-replay-'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ architectures: ['LmserveReplay'], max_position_embeddings: 8192 }));
  fs.writeFileSync(path.join(dir, 'replay.json'), JSON.stringify({ rules }));
  fs.copyFileSync(path.join(data, 'tokenizers', tok, 'tokenizer.json.gz'), path.join(dir, 'tokenizer.json.gz'));
  fs.copyFileSync(path.join(data, 'tokenizers', tok, 'tokenizer_config.json'), path.join(dir, 'tokenizer_config.json'));
  fs.copyFileSync(path.join(data, 'templates', template), path.join(dir, 'chat_template.jinja'));
  return dir;
}

const tools = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Weather in a city',
      parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] },
    },
  },
];
const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
const markup = ['<tool_call>', '</tool_call>', '<think>', '</think>', '<|', '[TOOL_CALLS]', '[ARGS]', 'functools', '<function=', '<parameter='];

// Everything a stream said, put together as a unary message would hold it.
async function gather(stream) {
  let content = '';
  let reasoning = '';
  const calls = [];
  let finish = null;
  for await (const chunk of stream) {
    for (const c of chunk.choices) {
      const d = c.delta ?? {};
      if (typeof d.content === 'string') {
        for (const m of markup) assert.ok(!d.content.includes(m), `markup ${m} in a content delta: ${JSON.stringify(d.content)}`);
        content += d.content;
      }
      if (typeof d.reasoning_content === 'string') {
        for (const m of markup) assert.ok(!d.reasoning_content.includes(m), `markup in reasoning: ${d.reasoning_content}`);
        reasoning += d.reasoning_content;
      }
      for (const t of d.tool_calls ?? []) {
        if (t.id) {
          assert.equal(t.index, calls.length, 'calls are numbered from 0 in order');
          assert.equal(t.type, 'function');
          calls.push({ id: t.id, name: t.function.name, arguments: t.function.arguments ?? '' });
        } else {
          calls[t.index].arguments += t.function.arguments;
        }
      }
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  return { content, reasoning, calls, finish };
}

const cases = [
  {
    name: 'hermes3 + qwen3 (detected from the Qwen3 template)',
    tok: 'qwen3',
    template: 'Qwen-Qwen3-8B.jinja',
    args: [],
    reply: '<think>\nThe user wants the weather.\n</think>\n\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}\n</tool_call>',
    reasoning: 'The user wants the weather.',
    args_want: { city: 'Paris', days: 2 },
  },
  {
    name: 'llama3 (<|python_tag|> special token)',
    tok: 'llama3',
    template: 'meta-llama-Llama-3.1-8B-Instruct.jinja',
    args: [],
    reply: '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}',
    args_want: { city: 'Paris' },
  },
  {
    name: 'mistral',
    tok: 'mistral-7b-v0.1',
    template: 'mistralai-Mistral-7B-Instruct-v0.3.jinja',
    args: [],
    reply: '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris"}}]',
    args_want: { city: 'Paris' },
  },
  {
    name: 'devstral',
    tok: 'mistral-7b-v0.1',
    template: 'Mistral-Small-3.2-24B-Instruct-2506.jinja',
    args: [],
    reply: '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}',
    args_want: { city: 'Paris' },
  },
  {
    name: 'phi4 (named: the published template has no functools)',
    tok: 'phi3',
    template: 'microsoft-phi-4.jinja',
    args: ['--tool_parser', 'phi4'],
    reply: 'functools[{"name": "get_weather", "arguments": {"city": "Paris"}}]',
    args_want: { city: 'Paris' },
  },
  {
    name: 'qwen3coder (values typed by the schema)',
    tok: 'qwen3',
    template: 'Qwen3-Coder.jinja',
    args: [],
    reply: '<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>',
    args_want: { city: 'Paris', days: 3 },
  },
  {
    name: 'gptoss (Harmony; reasoning and calls)',
    tok: 'qwen3',
    template: 'openai-gpt-oss-120b.jinja',
    args: [],
    reply: '<|channel|>analysis<|message|>Need the weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris"}<|call|>',
    reasoning: 'Need the weather.',
    args_want: { city: 'Paris' },
  },
];

for (const c of cases) {
  test(`tool parser ${c.name}: unary == streamed, finish tool_calls, no markup`, async () => {
    const dir = replayModel(c.tok, c.template, [{ reply: c.reply }]);
    const srv = await startServer({ args: ['--model_path', dir, '--model_name', 'replay', ...c.args] });
    try {
      const params = { model: 'replay', messages, tools, max_tokens: 200 };
      const r = await srv.client.chat.completions.create(params);
      const m = r.choices[0].message;
      assert.equal(r.choices[0].finish_reason, 'tool_calls', srv.log());
      assert.equal(m.tool_calls.length, 1);
      assert.ok(m.tool_calls[0].id.length > 0);
      assert.equal(m.tool_calls[0].type, 'function');
      assert.equal(m.tool_calls[0].function.name, 'get_weather');
      assert.deepEqual(JSON.parse(m.tool_calls[0].function.arguments), c.args_want);
      assert.ok(m.content === null || m.content === '', `content: ${JSON.stringify(m.content)}`);
      if (c.reasoning) assert.equal(m.reasoning_content, c.reasoning);
      const s = await gather(await srv.client.chat.completions.create({ ...params, stream: true }));
      assert.equal(s.finish, 'tool_calls');
      assert.equal(s.calls.length, 1);
      assert.equal(s.calls[0].name, m.tool_calls[0].function.name);
      assert.equal(s.calls[0].arguments, m.tool_calls[0].function.arguments);
      assert.equal(s.content, m.content ?? '');
      assert.equal(s.reasoning, m.reasoning_content ?? '');
    } finally {
      assert.equal(await srv.stop(), 0);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('hermes3 round trip: call, tool result, final answer (openai client)', async () => {
  const dir = replayModel('qwen3', 'Qwen-Qwen3-8B.jinja', [
    { when: '<tool_response>\nSunny, 24 C', reply: '<think>\nThe tool answered.\n</think>\n\nIt is sunny in Paris, 24 C.' },
    { reply: '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>' },
  ]);
  const srv = await startServer({ args: ['--model_path', dir, '--model_name', 'replay', '--tool_parser', 'hermes3', '--reasoning_parser', 'qwen3'] });
  try {
    const first = await srv.client.chat.completions.create({ model: 'replay', messages, tools });
    const call = first.choices[0].message.tool_calls[0];
    assert.equal(first.choices[0].finish_reason, 'tool_calls');
    const history = [
      ...messages,
      first.choices[0].message, // content null + tool_calls, as OpenAI clients send it back
      { role: 'tool', tool_call_id: call.id, content: 'Sunny, 24 C' },
    ];
    const second = await srv.client.chat.completions.create({ model: 'replay', messages: history, tools });
    assert.equal(second.choices[0].finish_reason, 'stop');
    assert.equal(second.choices[0].message.content, 'It is sunny in Paris, 24 C.');
    assert.equal(second.choices[0].message.reasoning_content, 'The tool answered.');
    assert.equal(second.choices[0].message.tool_calls, undefined);
  } finally {
    assert.equal(await srv.stop(), 0);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('an unknown parser name fails the load; none turns a slot off', async () => {
  const dir = replayModel('qwen3', 'Qwen-Qwen3-8B.jinja', [{ reply: '<think>r</think>x <tool_call>\n{"name": "f", "arguments": {}}\n</tool_call>' }]);
  try {
    await assert.rejects(startServer({ args: ['--model_path', dir, '--model_name', 'replay', '--tool_parser', 'bogus'] }), /bogus/);
    const srv = await startServer({ args: ['--model_path', dir, '--model_name', 'replay', '--tool_parser', 'none', '--reasoning_parser', 'none'] });
    try {
      const r = await srv.client.chat.completions.create({ model: 'replay', messages, tools });
      assert.equal(r.choices[0].finish_reason, 'stop');
      assert.ok(r.choices[0].message.content.includes('<tool_call>'));
      assert.equal(r.choices[0].message.tool_calls, undefined);
    } finally {
      assert.equal(await srv.stop(), 0);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
