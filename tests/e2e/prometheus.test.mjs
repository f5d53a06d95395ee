// prometheus.test.mjs — the Prometheus harness itself (promtool and a real Prometheus scraping a
// target on 127.0.0.1), against a tiny target this test serves, so a harness fault is told apart
// from an lmserve fault.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { prometheusMissing, promtoolCheck, startPrometheus } from './prometheus.mjs';

const missing = prometheusMissing() || false; // node 20 skips on a null `skip`

test('promtool tells a clean exposition from a bad one', { skip: missing }, () => {
  const good = '# HELP t_total Things.\n# TYPE t_total counter\nt_total 3\n';
  assert.equal(promtoolCheck(good).code, 0);
  const bad = '# HELP t Things.\n# TYPE t counter\nt 3\n'; // counter without _total
  const r = promtoolCheck(bad);
  assert.notEqual(r.code, 0);
  assert.match(r.output, /_total/);
});

test('a real Prometheus scrapes a loopback target and answers queries', { skip: missing }, async () => {
  let hits = 0;
  const target = http.createServer((req, res) => {
    hits++;
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(`# HELP t_scrapes_total Scrapes.\n# TYPE t_scrapes_total counter\nt_scrapes_total ${hits}\n`);
  });
  await new Promise((r) => target.listen(0, '127.0.0.1', r));
  const prom = await startPrometheus(target.address().port);
  try {
    const res = await prom.waitFor('t_scrapes_total', (v) => v.length === 1 && Number(v[0].value[1]) >= 2);
    assert.equal(res[0].metric.job, 'lmserve');
    const up = await prom.query('up');
    assert.equal(up[0].value[1], '1');
  } finally {
    await prom.stop();
    target.close();
  }
});
