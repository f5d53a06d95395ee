// chat.test.mjs — the chat page (src/server/ui) in a real browser: Debian's chromium, headless,
// driven by playwright-core. Starts lmserve (LM_BIN, else build/release/lmserve) with the demo model
// on 127.0.0.1, chats with streaming, stops a generation, reloads and finds the conversation, and
// writes a screenshot to LM_TEST_OUT (default build/test-output). The browser talks to lmserve
// through a relay of the test's own on 127.0.0.1 that passes everything through unchanged but hands
// on the events of a streamed answer one every EVENT_GAP_MS: the tiny demo model's tokens then
// arrive over seconds, not milliseconds, so the test sees text while the stream is open and can
// press Stop in the middle of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = process.env.LM_BIN || path.join(root, 'build/release/lmserve');
const outDir = process.env.LM_TEST_OUT || path.join(root, 'build/test-output');
const chromiumPath = process.env.LM_CHROMIUM || '/usr/bin/chromium';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startServer() {
  const port = await freePort();
  const proc = spawn(bin, ['--rest_port', String(port), '--rest_bind_address', '127.0.0.1'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  proc.stderr.on('data', (d) => (log += d));
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline && proc.exitCode === null) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/v2/health/ready`)).status === 200) return { port, proc };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill('SIGKILL');
  throw new Error(`lmserve did not become ready:\n${log}`);
}

const EVENT_GAP_MS = 120;

// The relay: requests go to lmserve as they are; an event-stream answer comes back one event per
// EVENT_GAP_MS. When the browser goes away (Stop), the request to lmserve is closed too.
function startRelay(upstreamPort) {
  const server = http.createServer((req, res) => {
    const up = http.request({ host: '127.0.0.1', port: upstreamPort, path: req.url, method: req.method,
                              headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode, ur.headers);
      if (!String(ur.headers['content-type'] || '').startsWith('text/event-stream')) {
        ur.pipe(res);
        return;
      }
      let pending = '';
      const queue = [];
      let ended = false;
      let timer = null;
      const pump = () => {
        timer = null;
        if (queue.length) {
          res.write(queue.shift());
          timer = setTimeout(pump, EVENT_GAP_MS);
        } else if (ended) {
          res.end(pending);
        }
      };
      ur.setEncoding('utf8');
      ur.on('data', (d) => {
        pending += d;
        let i;
        while ((i = pending.indexOf('\n\n')) >= 0) {
          queue.push(pending.slice(0, i + 2));
          pending = pending.slice(i + 2);
        }
        if (!timer) pump();
      });
      ur.on('end', () => {
        ended = true;
        if (!timer) pump();
      });
      res.on('close', () => {
        clearTimeout(timer);
        up.destroy();
      });
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

test('chat page: stream, stop, reload, screenshot', { skip: !fs.existsSync(chromiumPath) && `no ${chromiumPath}` },
  async () => {
    const { port, proc } = await startServer();
    const relay = await startRelay(port);
    const origin = `http://127.0.0.1:${relay.address().port}`;
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'lmserve-chromium-'));
    // Flags for a closed machine: nothing but 127.0.0.1 is reachable, and as root no sandbox.
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      viewport: { width: 1100, height: 760 },
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
             '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = browser.pages()[0] || (await browser.newPage());
      const requests = [];
      const problems = [];
      page.on('request', (r) => requests.push(r.url()));
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`console: ${m.text()}`);
      });

      await page.goto(`${origin}/`);
      await page.waitForFunction(() => document.querySelectorAll('#model option').length > 0);
      assert.equal(await page.inputValue('#model'), 'demo');

      // A short answer: text shows while the stream is still open.
      await page.click('#toggle-settings');
      await page.fill('#max-tokens', '24');
      await page.dispatchEvent('#max-tokens', 'change');
      await page.fill('#prompt', 'Once upon a time');
      await page.press('#prompt', 'Enter');
      await page.waitForFunction(() => {
        const m = document.querySelector('#messages .msg.assistant.streaming .content');
        return m && m.textContent.length > 0;
      }, null, { timeout: 30000 });
      assert.equal(await page.isVisible('#stop'), true, 'Stop shows while generating');
      await page.waitForSelector('#send', { state: 'visible', timeout: 60000 });
      const first = page.locator('#messages .msg.assistant').first();
      const firstText = await first.locator('.content').textContent();
      assert.ok(firstText.length > 0, 'the first answer has text');
      const firstStats = await first.locator('.stats').textContent();
      assert.match(firstStats, /TTFT \d+ ms/);
      assert.match(firstStats, /tokens\/s/);
      assert.match(firstStats, /length|stop/);

      // A long answer, stopped in the middle.
      await page.fill('#max-tokens', '');
      await page.dispatchEvent('#max-tokens', 'change');
      await page.fill('#prompt', 'Tell me a long story');
      await page.click('#send');
      await page.waitForFunction(() => {
        const m = document.querySelector('#messages .msg.assistant.streaming .content');
        return m && m.textContent.length > 20;
      }, null, { timeout: 30000 });
      await page.click('#stop');
      await page.waitForSelector('#send', { state: 'visible', timeout: 10000 });
      const second = page.locator('#messages .msg.assistant').nth(1);
      assert.match(await second.locator('.stats').textContent(), /stopped/);
      const secondText = await second.locator('.content').textContent();
      assert.ok(secondText.length > 0, 'the stopped answer keeps its text');

      // The conversation survives a reload (local storage).
      await page.reload();
      await page.waitForSelector('#messages .msg.assistant');
      const users = await page.locator('#messages .msg.user .content').allTextContents();
      assert.deepEqual(users, ['Once upon a time', 'Tell me a long story']);
      const answers = await page.locator('#messages .msg.assistant .content').allTextContents();
      assert.deepEqual(answers, [firstText, secondText]);
      assert.equal(await page.locator('#chats li').count(), 1);
      assert.equal(await page.locator('#chats li button.open').textContent(), 'Once upon a time');

      fs.mkdirSync(outDir, { recursive: true });
      const shot = path.join(outDir, 'chat-page.png');
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok(fs.statSync(shot).size > 1000);
      console.log(`screenshot: ${shot}`);

      // Same origin only, and nothing the Content-Security-Policy or the script complained about.
      const foreign = requests.filter((u) => !u.startsWith(`${origin}/`));
      assert.deepEqual(foreign, [], 'the page asks nothing of any other origin');
      assert.deepEqual(problems, []);
    } catch (e) {
      // what the page showed, for the log
      const page = browser.pages()[0];
      if (page) {
        console.log(`#status: ${await page.locator('#status').textContent().catch(() => '?')}`);
        console.log(`#messages: ${await page.locator('#messages').innerHTML().catch(() => '?')}`);
      }
      throw e;
    } finally {
      await browser.close();
      fs.rmSync(profile, { recursive: true, force: true });
      relay.close();
      proc.kill('SIGTERM');
    }
  });
