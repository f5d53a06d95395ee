// lmserve chat page. Talks only to its own origin: GET /v3/models, POST /v3/chat/completions
// (streamed, stream_options.include_usage). Conversations and settings live in localStorage; model
// output is always set as text, never parsed as HTML.
'use strict';

const STORE_CHATS = 'lmserve.chats';
const STORE_SETTINGS = 'lmserve.settings';
const STORE_KEY = 'lmserve.apiKey';

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};

function load(key, fallback) {
  try {
    const v = JSON.parse(localStorage.getItem(key));
    return v === null ? fallback : v;
  } catch {
    return fallback;
  }
}

const state = {
  chats: load(STORE_CHATS, []),   // [{id, title, model, created, messages: [...]}], newest first
  settings: load(STORE_SETTINGS, {}),
  current: null,                   // the open chat's id
  abort: null,                     // AbortController of the generation in flight
};

function saveChats() {
  try {
    localStorage.setItem(STORE_CHATS, JSON.stringify(state.chats));
  } catch (e) {
    setStatus(`could not save the conversation: ${e.message}`);
  }
}

function saveSettings() {
  const s = state.settings;
  s.model = $('model').value || s.model;
  s.system = $('system').value;
  s.temperature = $('temperature').value;
  s.max_tokens = $('max-tokens').value;
  localStorage.setItem(STORE_SETTINGS, JSON.stringify(s));
}

function setStatus(text) {
  $('status').textContent = text || '';
}

function currentChat() {
  return state.chats.find((c) => c.id === state.current) || null;
}

// ---------------------------------------------------------------- API

function authHeaders() {
  const key = localStorage.getItem(STORE_KEY);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

// Asks for the API key in a dialog; resolves true when one was given.
function askKey() {
  const d = $('key-dialog');
  $('key-input').value = '';
  return new Promise((resolve) => {
    d.addEventListener('close', () => {
      const key = $('key-input').value.trim();
      if (d.returnValue === 'ok' && key) {
        localStorage.setItem(STORE_KEY, key);
        resolve(true);
      } else {
        resolve(false);
      }
    }, { once: true });
    d.showModal();
  });
}

// fetch() with the stored API key; on 401 asks for a key once and retries.
async function api(path, init = {}) {
  for (let attempt = 0; ; attempt++) {
    const r = await fetch(path, { ...init, headers: { ...(init.headers || {}), ...authHeaders() } });
    if (r.status !== 401 || attempt > 0) return r;
    localStorage.removeItem(STORE_KEY);
    if (!(await askKey())) return r;
  }
}

async function errorText(r) {
  try {
    const j = await r.json();
    if (j && j.error) return typeof j.error === 'string' ? j.error : j.error.message || JSON.stringify(j.error);
  } catch {
    // not JSON
  }
  return `HTTP ${r.status} ${r.statusText}`;
}

async function loadModels() {
  const sel = $('model');
  try {
    const r = await api('/v3/models');
    if (!r.ok) throw new Error(await errorText(r));
    const { data } = await r.json();
    sel.replaceChildren(...data.map((m) => {
      const o = el('option', null, m.id);
      o.value = m.id;
      return o;
    }));
    if (state.settings.model && data.some((m) => m.id === state.settings.model)) sel.value = state.settings.model;
    if (!data.length) setStatus('the server serves no model yet');
  } catch (e) {
    setStatus(`could not list models: ${e.message}`);
  }
}

// ---------------------------------------------------------------- rendering

// Splits <think>...</think> out of content, for models whose reasoning arrives inside the text.
function splitThink(text) {
  const open = text.indexOf('<think>');
  if (open < 0) return { content: text, reasoning: '' };
  const close = text.indexOf('</think>', open);
  const reasoning = close < 0 ? text.slice(open + 7) : text.slice(open + 7, close);
  const content = text.slice(0, open) + (close < 0 ? '' : text.slice(close + 8));
  return { content: content.replace(/^\s+/, ''), reasoning: reasoning.trim() };
}

function statsText(s) {
  if (!s) return '';
  const parts = [];
  if (s.ttft_ms !== undefined) parts.push(`TTFT ${Math.round(s.ttft_ms)} ms`);
  if (s.tokens_per_s !== undefined) parts.push(`${s.tokens_per_s.toFixed(1)} tokens/s`);
  if (s.tokens !== undefined) parts.push(`${s.tokens} token${s.tokens === 1 ? '' : 's'}`);
  if (s.finish) parts.push(s.finish);
  return parts.join(' · ');
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // no clipboard API (plain http on a non-local address): the old way
    const t = el('textarea');
    t.value = text;
    document.body.append(t);
    t.select();
    document.execCommand('copy');
    t.remove();
  }
}

function renderMessage(m, streaming) {
  const li = el('li', `msg ${m.role}${m.error ? ' error' : ''}${streaming ? ' streaming' : ''}`);
  li.append(el('div', 'role', m.role));
  const split = splitThink(m.content || '');
  const reasoning = [m.reasoning, split.reasoning].filter(Boolean).join('\n');
  if (reasoning) {
    const d = el('details', 'reasoning');
    d.append(el('summary', null, streaming && !split.content ? 'Thinking…' : 'Reasoning'), el('pre', null, reasoning));
    li.append(d);
  }
  for (const tc of m.tool_calls || []) {
    const d = el('details', 'tool');
    d.open = true;
    d.append(el('summary', null, `Tool call: ${tc.function.name}`), el('pre', null, tc.function.arguments));
    li.append(d);
  }
  li.append(el('div', 'content', m.error || split.content));
  if (m.role === 'assistant') {
    const foot = el('div', 'foot');
    foot.append(el('span', 'stats', statsText(m.stats)));
    const copy = el('button', 'copy', 'Copy');
    copy.type = 'button';
    copy.addEventListener('click', () => copyText(split.content));
    foot.append(copy);
    li.append(foot);
  }
  return li;
}

function renderMessages() {
  const chat = currentChat();
  const list = $('messages');
  list.replaceChildren(...(chat ? chat.messages.map((m, i) =>
    renderMessage(m, state.abort && i === chat.messages.length - 1)) : []));
  list.scrollTop = list.scrollHeight;
}

function renderChats() {
  $('chats').replaceChildren(...state.chats.map((c) => {
    const li = el('li', c.id === state.current ? 'current' : '');
    const open = el('button', 'open', c.title || 'New chat');
    open.type = 'button';
    open.title = c.title || '';
    open.addEventListener('click', () => {
      if (state.abort) return;
      state.current = c.id;
      render();
    });
    const del = el('button', 'del', '×');
    del.type = 'button';
    del.setAttribute('aria-label', `Delete ${c.title || 'chat'}`);
    del.addEventListener('click', () => {
      if (state.abort && c.id === state.current) return;
      state.chats = state.chats.filter((x) => x !== c);
      if (state.current === c.id) state.current = null;
      saveChats();
      render();
    });
    li.append(open, del);
    return li;
  }));
}

// At most one message re-render per frame while tokens stream in.
let renderPending = false;
function scheduleRenderMessages() {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => {
    renderPending = false;
    renderMessages();
  });
}

function render() {
  renderChats();
  renderMessages();
  const busy = !!state.abort;
  $('send').hidden = busy;
  $('stop').hidden = !busy;
}

// ---------------------------------------------------------------- generation

// Reads a server-sent event stream, calling onEvent with each parsed `data:` JSON.
async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let end;
    while ((end = buf.search(/\r?\n\r?\n/)) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end).replace(/^\r?\n\r?\n/, '');
      const data = block.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
      if (!data || data === '[DONE]') continue;
      onEvent(JSON.parse(data));
    }
  }
}

function requestMessages(chat) {
  const out = [];
  const system = $('system').value.trim();
  if (system) out.push({ role: 'system', content: system });
  for (const m of chat.messages) {
    if (m.error) continue;
    const msg = { role: m.role, content: splitThink(m.content || '').content };
    if (m.tool_calls && m.tool_calls.length) msg.tool_calls = m.tool_calls;
    out.push(msg);
  }
  return out;
}

function applyDelta(m, delta) {
  if (typeof delta.content === 'string') m.content += delta.content;
  const r = delta.reasoning_content ?? delta.reasoning;
  if (typeof r === 'string') m.reasoning = (m.reasoning || '') + r;
  for (const tc of delta.tool_calls || []) {
    m.tool_calls = m.tool_calls || [];
    const i = tc.index ?? m.tool_calls.length;
    const t = (m.tool_calls[i] = m.tool_calls[i] || { id: '', type: 'function', function: { name: '', arguments: '' } });
    if (tc.id) t.id = tc.id;
    if (tc.function?.name) t.function.name += tc.function.name;
    if (tc.function?.arguments) t.function.arguments += tc.function.arguments;
  }
}

async function send(text) {
  const model = $('model').value;
  if (!model) {
    setStatus('no model to talk to');
    return;
  }
  setStatus('');
  saveSettings();
  let chat = currentChat();
  if (!chat) {
    chat = { id: `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`, title: '', model,
             created: new Date().toISOString(), messages: [] };
    state.chats.unshift(chat);
    state.current = chat.id;
  }
  if (!chat.title) chat.title = text.slice(0, 60);
  chat.model = model;
  chat.messages.push({ role: 'user', content: text });
  const body = { model, messages: requestMessages(chat), stream: true, stream_options: { include_usage: true } };
  const temp = parseFloat($('temperature').value);
  if (!Number.isNaN(temp)) body.temperature = temp;
  const maxTokens = parseInt($('max-tokens').value, 10);
  if (maxTokens > 0) body.max_tokens = maxTokens;

  const m = { role: 'assistant', content: '', model };
  chat.messages.push(m);
  state.abort = new AbortController();
  render();

  const t0 = performance.now();
  let tFirst = null;
  let pieces = 0;
  let usage = null;
  let finish = null;
  let lastSave = 0;
  const stats = () => {
    const now = performance.now();
    const s = {};
    if (tFirst !== null) s.ttft_ms = tFirst - t0;
    const tokens = usage ? usage.completion_tokens : pieces;
    if (tFirst !== null && tokens > 1 && now > tFirst) s.tokens_per_s = ((tokens - 1) * 1000) / (now - tFirst);
    s.tokens = tokens;
    return s;
  };
  try {
    const r = await api('/v3/chat/completions', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      signal: state.abort.signal,
    });
    if (!r.ok) throw new Error(await errorText(r));
    await readEvents(r.body, (ev) => {
      if (ev.error) throw new Error(ev.error.message || JSON.stringify(ev.error));
      if (ev.usage) usage = ev.usage;
      for (const c of ev.choices || []) {
        if (c.delta) {
          if (tFirst === null && (c.delta.content || c.delta.reasoning_content || c.delta.reasoning || c.delta.tool_calls))
            tFirst = performance.now();
          applyDelta(m, c.delta);
          pieces++;
        }
        if (c.finish_reason) finish = c.finish_reason;
      }
      m.stats = stats();
      const now = performance.now();
      if (now - lastSave > 500) {
        lastSave = now;
        saveChats();
      }
      scheduleRenderMessages();
    });
    m.stats = { ...stats(), finish: finish || 'done' };
  } catch (e) {
    if (e.name === 'AbortError') {
      m.stats = { ...stats(), finish: 'stopped' };
    } else {
      m.stats = stats();
      if (!m.content) m.error = e.message;
      else m.stats.finish = `error: ${e.message}`;
    }
  } finally {
    state.abort = null;
    saveChats();
    render();
  }
}

// ---------------------------------------------------------------- export

function chatMarkdown(chat) {
  const lines = [`# ${chat.title || 'Chat'}`, '', `model: ${chat.model}, ${chat.created}`, ''];
  for (const m of chat.messages) {
    lines.push(`## ${m.role}`, '');
    if (m.reasoning) lines.push('<details><summary>reasoning</summary>', '', m.reasoning, '', '</details>', '');
    for (const tc of m.tool_calls || []) lines.push(`tool call \`${tc.function.name}\`: \`${tc.function.arguments}\``, '');
    lines.push(m.error ? `error: ${m.error}` : m.content, '');
  }
  return lines.join('\n');
}

function exportChat() {
  const chat = currentChat();
  if (!chat) return;
  const blob = new Blob([JSON.stringify(chat, null, 2)], { type: 'application/json' });
  const a = el('a');
  a.href = URL.createObjectURL(blob);
  a.download = `lmserve-chat-${chat.id}.json`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

// ---------------------------------------------------------------- wiring

function init() {
  const s = state.settings;
  $('system').value = s.system || '';
  $('temperature').value = s.temperature || '';
  $('max-tokens').value = s.max_tokens || '';
  state.current = state.chats.length ? state.chats[0].id : null;

  $('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = $('prompt').value.trim();
    if (!text || state.abort) return;
    $('prompt').value = '';
    send(text);
  });
  $('prompt').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $('composer').requestSubmit();
    }
  });
  $('stop').addEventListener('click', () => state.abort && state.abort.abort());
  $('new-chat').addEventListener('click', () => {
    if (state.abort) return;
    state.current = null;
    render();
    $('prompt').focus();
  });
  $('toggle-settings').addEventListener('click', () => {
    const p = $('settings');
    p.hidden = !p.hidden;
    $('toggle-settings').setAttribute('aria-expanded', String(!p.hidden));
  });
  for (const id of ['model', 'system', 'temperature', 'max-tokens']) $(id).addEventListener('change', saveSettings);
  $('forget-key').addEventListener('click', () => {
    localStorage.removeItem(STORE_KEY);
    setStatus('API key forgotten');
  });
  $('copy-chat').addEventListener('click', () => {
    const chat = currentChat();
    if (chat) copyText(chatMarkdown(chat));
  });
  $('export-chat').addEventListener('click', exportChat);
  // another tab changed the conversations
  window.addEventListener('storage', (e) => {
    if (e.key === STORE_CHATS && !state.abort) {
      state.chats = load(STORE_CHATS, []);
      render();
    }
  });
  render();
  loadModels();
  $('prompt').focus();
}

init();
