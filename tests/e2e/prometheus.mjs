// prometheus.mjs — the real Prometheus tools for end-to-end tests: `promtool check metrics` on an
// exposition, and a Prometheus server (Debian's `prometheus` package, scripts/install-deps.sh)
// scraping a target on 127.0.0.1, queried through its HTTP API. Ports are picked free at run time
// (retried if taken meanwhile); the data folder is temporary and removed by stop().
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function onPath(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

// Why the Prometheus tests cannot run here, or null when they can.
export function prometheusMissing() {
  if (!onPath('promtool') || !onPath('prometheus'))
    return 'promtool/prometheus are not installed (scripts/install-deps.sh installs Debian\'s prometheus)';
  return null;
}

// Runs `promtool check metrics` on an exposition; { code, output }.
export function promtoolCheck(text) {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

// Starts Prometheus scraping http://127.0.0.1:<targetPort><metricsPath> every second. Resolves
// with { url, query(expr), waitFor(expr, pred, ms), stop(), log() } once Prometheus is ready.
export async function startPrometheus(targetPort, { metricsPath = '/metrics', headers } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lm-prom-'));
  const auth = headers && headers.authorization
    ? `    authorization:\n      credentials_file: ${path.join(dir, 'token')}\n`
    : '';
  if (auth) fs.writeFileSync(path.join(dir, 'token'), headers.authorization.replace(/^Bearer /, ''));
  fs.writeFileSync(
    path.join(dir, 'prometheus.yml'),
    'global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n' +
      'scrape_configs:\n  - job_name: lmserve\n' +
      `    metrics_path: ${metricsPath}\n` +
      auth +
      `    static_configs:\n      - targets: ['127.0.0.1:${targetPort}']\n`,
  );
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const proc = spawn(
      'prometheus',
      [
        `--config.file=${path.join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let log = '';
    proc.stderr.on('data', (d) => {
      log += d;
    });
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 30000;
    let up = false;
    while (!up && Date.now() < deadline && proc.exitCode === null) {
      try {
        up = (await fetch(`${url}/-/ready`)).status === 200;
      } catch {
        // not listening yet
      }
      if (!up) await sleep(100);
    }
    const stop = () =>
      new Promise((resolve) => {
        const done = () => {
          fs.rmSync(dir, { recursive: true, force: true });
          resolve();
        };
        if (proc.exitCode !== null) return done();
        proc.once('exit', done);
        proc.kill('SIGTERM');
      });
    if (!up) {
      proc.kill('SIGKILL');
      if (attempt === 2) {
        fs.rmSync(dir, { recursive: true, force: true });
        throw new Error(`prometheus did not become ready:\n${log}`);
      }
      continue;
    }
    // An instant query; resolves with the result vector ([{ metric, value: [t, "v"] }]).
    const query = async (expr) => {
      const r = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const j = await r.json();
      if (j.status !== 'success') throw new Error(`query ${expr}: ${JSON.stringify(j)}`);
      return j.data.result;
    };
    // Polls `expr` until pred(result) holds (scrapes are every second), or fails after `ms`.
    const waitFor = async (expr, pred, ms = 30000) => {
      const end = Date.now() + ms;
      let last;
      while (Date.now() < end) {
        last = await query(expr);
        if (pred(last)) return last;
        await sleep(250);
      }
      throw new Error(`${expr}: still ${JSON.stringify(last)} after ${ms} ms\n${log}`);
    };
    return { url, query, waitFor, stop, log: () => log };
  }
  throw new Error('unreachable');
}
