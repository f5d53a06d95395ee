// metrics.test.mjs — GET /metrics checked by the real tools: promtool lints lmserve's exposition,
// and a real Prometheus scrapes lmserve on 127.0.0.1 while requests run; its query API must then
// show the counters and histograms moved by exactly what the requests did (usage totals, request
// counts, one TTFT and one end-to-end observation per sample).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { freePort, prometheusMissing, promtoolCheck, startPrometheus } from './prometheus.mjs';
import { collect, startServer } from './server.mjs';

const missing = prometheusMissing() || false; // node 20 skips on a null `skip`
let srv;
before(async () => {
  srv = await startServer({ args: ['--metrics_enable'] });
});
after(async () => {
  assert.equal(await srv.stop(), 0);
});

const messages = [{ role: 'user', content: 'Tell me about a dog.' }];

test('/metrics is Prometheus text with the OVMS and lmserve families', async () => {
  const r = await fetch(`${srv.url}/metrics`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const text = await r.text();
  for (const family of [
    'ovms_current_graphs', 'ovms_requests_accepted_total', 'ovms_requests_rejected_total',
    'ovms_responses_total', 'ovms_graph_error_total', 'ovms_graph_processing_time_seconds',
    'lmserve_time_to_first_token_seconds', 'lmserve_time_per_output_token_seconds',
    'lmserve_inter_token_latency_seconds', 'lmserve_request_duration_seconds',
    'lmserve_prompt_tokens_total', 'lmserve_generation_tokens_total', 'lmserve_prompt_tokens_cached_total',
    'lmserve_requests_finished_total', 'lmserve_request_errors_total', 'lmserve_requests_running',
    'lmserve_requests_waiting', 'lmserve_kv_cache_used_blocks', 'lmserve_kv_cache_capacity_blocks',
    'lmserve_prefix_cache_hit_ratio', 'lmserve_model_state',
  ]) {
    assert.match(text, new RegExp(`^# TYPE ${family} `, 'm'), family);
  }
  assert.match(text, /^lmserve_model_state\{name="demo",state="AVAILABLE"\} 1$/m);
  // OVMS's 33 bucket bounds, 10 us * 1.8^i, in seconds.
  assert.match(text, /lmserve_time_to_first_token_seconds_bucket\{name="demo",le="1e-05"\}/);
  assert.match(text, /lmserve_time_to_first_token_seconds_bucket\{name="demo",le="1474.755971"\}/);
});

test('promtool check metrics passes on lmserve output after traffic', { skip: missing }, async () => {
  await srv.client.chat.completions.create({ model: 'demo', messages, max_tokens: 8 });
  await fetch(`${srv.url}/v3/chat/completions`, { method: 'POST', body: '{' }); // an error too
  const text = await (await fetch(`${srv.url}/metrics`)).text();
  const r = promtoolCheck(text);
  assert.equal(r.code, 0, r.output);
});

test('a real Prometheus scrapes lmserve and sees the counters and histograms move', { skip: missing }, async () => {
  const prom = await startPrometheus(srv.port);
  try {
    // Baselines through Prometheus itself, once it has scraped.
    const one = (v) => (v.length ? Number(v[0].value[1]) : 0);
    const q = async (expr) => one(await prom.query(expr));
    await prom.waitFor('up{job="lmserve"}', (v) => v.length === 1 && v[0].value[1] === '1');
    const base = {
      accepted: await q('sum(ovms_requests_accepted_total{name="demo"})'),
      prompt: await q('sum(lmserve_prompt_tokens_total{name="demo"})'),
      gen: await q('sum(lmserve_generation_tokens_total{name="demo"})'),
      ttft: await q('sum(lmserve_time_to_first_token_seconds_count{name="demo"})'),
      e2e: await q('sum(lmserve_request_duration_seconds_count{name="demo"})'),
      length: await q('sum(lmserve_requests_finished_total{name="demo",reason="length"})'),
    };
    let prompt = 0;
    let gen = 0;
    for (let i = 0; i < 3; i++) {
      const r = await srv.client.chat.completions.create({ model: 'demo', messages, max_tokens: 6, ignore_eos: true });
      prompt += r.usage.prompt_tokens;
      gen += r.usage.completion_tokens;
    }
    const s = await srv.client.chat.completions.create({
      model: 'demo', messages, max_tokens: 6, ignore_eos: true, stream: true, stream_options: { include_usage: true },
    });
    const { chunks } = await collect(s);
    const usage = chunks[chunks.length - 1].usage;
    prompt += usage.prompt_tokens;
    gen += usage.completion_tokens;

    const want = {
      accepted: base.accepted + 4,
      prompt: base.prompt + prompt,
      gen: base.gen + gen,
      ttft: base.ttft + 4,
      e2e: base.e2e + 4,
      length: base.length + 4,
    };
    const exprs = {
      accepted: 'sum(ovms_requests_accepted_total{name="demo"})',
      prompt: 'sum(lmserve_prompt_tokens_total{name="demo"})',
      gen: 'sum(lmserve_generation_tokens_total{name="demo"})',
      ttft: 'sum(lmserve_time_to_first_token_seconds_count{name="demo"})',
      e2e: 'sum(lmserve_request_duration_seconds_count{name="demo"})',
      length: 'sum(lmserve_requests_finished_total{name="demo",reason="length"})',
    };
    for (const k of Object.keys(want))
      await prom.waitFor(exprs[k], (v) => one(v) === want[k]);
    // The stream was counted as a stream, and histograms are consistent: +Inf bucket == count.
    assert.ok((await q('ovms_requests_accepted_total{name="demo",method="Stream"}')) >= 1);
    assert.equal(
      await q('sum(lmserve_time_to_first_token_seconds_bucket{name="demo",le="+Inf"})'),
      await q('sum(lmserve_time_to_first_token_seconds_count{name="demo"})'),
    );
    // Each request of 6 tokens had 5 gaps between tokens.
    assert.ok((await q('sum(lmserve_inter_token_latency_seconds_count{name="demo"})')) >= 4 * 5);
    assert.ok((await q('histogram_quantile(0.5, sum by (le) (lmserve_time_to_first_token_seconds_bucket))')) > 0);
    assert.equal(await q('lmserve_kv_cache_capacity_blocks{name="demo"}') > 0, true);
  } finally {
    await prom.stop();
  }
});

test('--metrics_list exposes only the named families (OVMS names accepted)', async () => {
  const s = await startServer({
    args: ['--metrics_enable', '--metrics_list', 'ovms_requests_accepted,ovms_graph_processing_time_us,ovms_streams,lmserve_time_to_first_token_seconds'],
  });
  try {
    const text = await (await fetch(`${s.url}/metrics`)).text();
    const families = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]).sort();
    assert.deepEqual(families, [
      'lmserve_time_to_first_token_seconds',
      'ovms_graph_processing_time_seconds',
      'ovms_requests_accepted_total',
    ]);
    assert.match(s.log(), /ovms_streams does not apply to LLM serving/);
  } finally {
    assert.equal(await s.stop(), 0);
  }
});

test('an unknown --metrics_list name stops the server; /metrics without --metrics_enable is 400', async () => {
  const { spawnSync } = await import('node:child_process');
  const path = await import('node:path');
  const bin = process.env.LM_BIN || path.resolve('build/release/lmserve');
  const port = String(await freePort());
  const r = spawnSync(bin, ['--rest_port', port, '--rest_bind_address', '127.0.0.1', '--metrics_enable', '--metrics_list', 'nope_total'], {
    encoding: 'utf8',
    timeout: 30000,
  });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /unknown metric family 'nope_total'/);
  const r2 = spawnSync(bin, ['--rest_port', port, '--metrics_list', 'ovms_streams'], { encoding: 'utf8', timeout: 30000 });
  assert.equal(r2.status, 64);
  assert.match(r2.stderr, /--metrics_list needs metrics to be enabled/);
  const s = await startServer();
  try {
    const m = await fetch(`${s.url}/metrics`);
    assert.equal(m.status, 400);
    assert.match((await m.json()).error.message, /--metrics_enable/);
  } finally {
    assert.equal(await s.stop(), 0);
  }
});
