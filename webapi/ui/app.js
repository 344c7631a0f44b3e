// minipot's Data collection page. Plain JS, no build step, nothing from
// elsewhere. Attacker-supplied text only ever reaches the page through
// textContent (the page's CSP, with Trusted Types, also refuses any
// string assigned as HTML).
'use strict';

const API = '/api/v1';
const TOKEN_KEY = 'minipot.token';
const REFRESH_MS = 10000;

const $ = (id) => document.getElementById(id);

// The token comes in the URL fragment, which browsers never send to the
// server; it is kept for this tab only and removed from the address bar.
(function takeToken() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
})();

// CSP violations are counted where the browser test can see them.
let violations = 0;
document.addEventListener('securitypolicyviolation', () => {
  violations++;
  document.body.dataset.cspViolations = String(violations);
});

let settings = null; // the last GET /settings (or PATCH answer)
let etag = '';
let busy = 0;

function setBusy(delta) {
  busy += delta;
  document.body.dataset.busy = busy > 0 ? '1' : '0';
  for (const el of document.querySelectorAll('#main input, #main button')) el.disabled = busy > 0;
}

function notice(text, kind) {
  const n = $('notice');
  n.textContent = text || '';
  n.className = kind || '';
  n.hidden = !text;
}

class HTTPError extends Error {
  constructor(status, body) {
    super((body && body.error) || 'HTTP ' + status);
    this.status = status;
    this.body = body;
  }
}

async function call(method, path, body, headers) {
  const h = Object.assign({ Accept: 'application/json' }, headers || {});
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) h.Authorization = 'Bearer ' + token;
  const init = { method, headers: h, credentials: 'omit', cache: 'no-store' };
  if (body !== undefined) {
    h['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(API + path, init);
  let data = null;
  try { data = await resp.json(); } catch (e) { /* not JSON */ }
  if (resp.status === 401) {
    $('main').hidden = true;
    $('token-form').hidden = false;
    $('agent').textContent = '';
  }
  if (!resp.ok) throw new HTTPError(resp.status, data);
  return { data, resp };
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells) {
  const tr = document.createElement('tr');
  for (const c of cells) {
    const td = document.createElement('td');
    if (c instanceof Node) td.append(c); else td.textContent = String(c);
    tr.append(td);
  }
  return tr;
}

function fill(tableId, rows, empty, cols) {
  const tbody = document.querySelector('#' + tableId + ' tbody');
  tbody.replaceChildren();
  if (!rows.length) {
    const td = el('td', empty, 'empty');
    td.colSpan = cols;
    const tr = document.createElement('tr');
    tr.append(td);
    tbody.append(tr);
    return;
  }
  for (const r of rows) tbody.append(row(r));
}

// --- settings and status ---

async function loadSettings() {
  const { data, resp } = await call('GET', '/settings');
  settings = data;
  etag = resp.headers.get('ETag') || '';
  renderSettings();
}

function renderSettings() {
  $('enabled').checked = settings.enabled;
  $('log_credentials').checked = settings.log_credentials;
  syncChecks();
}

// syncChecks ticks each service's box as the settings say.
function syncChecks() {
  if (!settings) return;
  for (const box of document.querySelectorAll('#services input[data-service]')) {
    const svc = settings.services[box.dataset.service];
    box.checked = !!(svc && svc.enabled);
  }
  renderExportSettings();
}

// renderServices lists the services as /status gives them: its order,
// labels and ports (the service table lives once, in Go). Rows are made
// again only when the list changes, so a box being clicked stays.
function renderServices(list) {
  const tbody = document.querySelector('#services tbody');
  const keys = list.map((s) => s.key).join(' ');
  if (tbody.dataset.keys === keys) return;
  tbody.dataset.keys = keys;
  tbody.replaceChildren();
  for (const s of list) {
    const box = el('input');
    box.type = 'checkbox';
    box.id = 'svc-' + s.key;
    box.dataset.service = s.key;
    box.disabled = busy > 0;
    box.addEventListener('change', () => change({ services: { [s.key]: { enabled: box.checked } } }));
    const label = el('label', s.label);
    label.htmlFor = box.id;
    if (s.description) label.title = s.description;
    const tr = row([box, label, s.port + ' → ' + s.fake_port, el('span', '', 'state')]);
    tr.dataset.service = s.key;
    tbody.append(tr);
  }
  syncChecks();
}

// familyDetails is the technical why of a state: a line per family, or
// one line when every family has the same.
function familyDetails(st) {
  const fams = st.families || [];
  const withDetail = fams.filter((f) => f.detail);
  if (withDetail.length && withDetail.length === fams.length && withDetail.every((f) => f.detail === withDetail[0].detail)) {
    return [withDetail[0].detail];
  }
  return withDetail.map((f) => f.family + ': ' + f.detail);
}

async function loadStatus() {
  const { data } = await call('GET', '/status');
  const a = data.agent;
  let text = a.running ? 'Agent running' + (a.pid ? ' (pid ' + a.pid + ')' : '') : 'Agent not running';
  if (a.running && !a.in_sync) text += ' — settings not applied yet';
  if (a.note && !a.running) text += ': ' + a.note;
  $('agent').textContent = text;
  $('agent').className = 'agent ' + (a.running && a.in_sync ? 'ok' : 'warn');
  // A change made with uci and not yet applied (no reload_config).
  $('apply').hidden = !(a.running && !a.in_sync);
  storeLine(data.store);
  // Each service's state as the API computed it: words and class as given.
  renderServices(data.services);
  for (const s of data.services) {
    const tr = document.querySelector('#services tr[data-service="' + CSS.escape(s.key) + '"]');
    const st = s.state || { code: 'unknown', reason: '', text: 'Unknown.', families: [] };
    const span = tr.querySelector('.state');
    span.textContent = st.text;
    span.className = 'state ' + st.code;
    span.dataset.state = st.code;
    span.dataset.reason = st.reason;
    span.title = familyDetails(st).join('\n');
    tr.dataset.listening = s.listening ? '1' : '0';
  }
  renderExportStatus(data.export);
}

// storeLine shows the store's size against its bound (store.max_size),
// and says so when the agent found its store damaged and started afresh.
function storeLine(st) {
  if (!st) return;
  const mib = (n) => (n / 1048576).toFixed(1) + ' MiB';
  let text = 'The events take ' + mib(st.size || 0) +
    (st.max_size ? ' of at most ' + mib(st.max_size) + ' (the oldest go first)' : '') + '.';
  if (st.evicted) text += ' ' + st.evicted + ' old events made room since the agent started.';
  if (st.recovered) text += ' Warning: ' + st.recovered + '.';
  if (st.state === 'unavailable') text = 'Warning: ' + (st.problem || 'the agent cannot open its store') + '.';
  $('store-size').textContent = text;
}

// change sends a partial update guarded by the ETag: a change made
// meanwhile by LuCI, uci or a script is never overwritten.
async function change(patch) {
  setBusy(1);
  try {
    const { data, resp } = await call('PATCH', '/settings', patch, etag ? { 'If-Match': etag } : {});
    settings = data.settings;
    etag = resp.headers.get('ETag') || data.etag || '';
    const ag = data.applied && data.applied.agent;
    if (ag && ag.running && !ag.applied) {
      notice('Saved, but the agent has not applied it' + (ag.error ? ': ' + ag.error : '.'), 'warn');
    } else {
      notice('Saved.', 'ok');
    }
  } catch (e) {
    if (e.status === 412) {
      notice('Someone else changed the settings meanwhile (LuCI, uci or a script). ' +
        'The page now shows them as they are: make your change again if you still want it.', 'warn');
    } else if (e.status === 500 && e.body && e.body.rolled_back) {
      notice('The change could not be applied and was undone: ' + e.message, 'error');
    } else {
      notice('The change failed: ' + e.message, 'error');
    }
  }
  try {
    await loadSettings();
    await loadStatus();
  } catch (e) {
    notice('Cannot read the settings: ' + e.message, 'error');
  } finally {
    setBusy(-1);
  }
}

// apply asks the API to converge the rules and reload the agent with the
// file as it is.
async function apply() {
  setBusy(1);
  try {
    await call('POST', '/settings/apply', {});
    notice('Applied.', 'ok');
    await loadSettings();
    await loadStatus();
  } catch (e) {
    notice('Applying failed: ' + e.message, 'error');
  } finally {
    setBusy(-1);
  }
}

// --- attacks ---

const QUIET = new Set(['connect', 'disconnect']);
let showAll = false;

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = String(text);
  return e;
}

// chart draws attempts per hour as bars.
function chart(hourly) {
  const W = 720, H = 180, L = 36, R = 16, B = 22, T = 8;
  const n = Math.max(hourly.length, 1);
  const max = Math.max(1, ...hourly.map((h) => h.attempts));
  const bw = (W - L - R) / n;
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'bars', 'aria-labelledby': 'chart-title' });
  root.append(svg('title', { id: 'chart-title' }, 'Attempts per hour'));
  root.append(svg('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'axis' }));
  root.append(svg('text', { x: L - 4, y: T + 10, class: 'ylabel' }, max));
  root.append(svg('text', { x: L - 4, y: H - B, class: 'ylabel' }, 0));
  hourly.forEach((h, i) => {
    const bh = (h.attempts / max) * (H - B - T);
    const x = L + i * bw;
    const bar = svg('rect', { x: x + 1, y: H - B - bh, width: Math.max(bw - 2, 1), height: bh, class: 'bar' });
    const t = new Date(h.time);
    bar.append(svg('title', {}, `${t.toLocaleString()}: ${h.attempts} attempts, ${h.connections} connections`));
    root.append(bar);
    if (i % 6 === 0) {
      const label = String(t.getHours()).padStart(2, '0') + ':00';
      root.append(svg('text', { x: x + bw / 2, y: H - 6, class: 'xlabel' }, label));
    }
  });
  $('chart').replaceChildren(root);
  const total = hourly.reduce((s, h) => s + h.attempts, 0);
  $('chart-caption').textContent = `Attempts (logins and requests) per hour: ${total} in all.`;
}

function describe(e) {
  const parts = [];
  if (e.method || e.url) parts.push([e.method, e.url].filter(Boolean).join(' '));
  if (e.host) parts.push('Host: ' + e.host);
  if (e.user_agent) parts.push('User-Agent: ' + e.user_agent);
  if (e.username !== undefined || e.password !== undefined) {
    parts.push('user ' + (e.username || '') + ' / password ' + (e.password || ''));
  }
  if (e.action === 'login' && e.username === undefined && e.password === undefined) {
    parts.push('credentials not stored');
  }
  if (e.detail) parts.push(e.detail);
  if (e.count > 1) parts.push(`repeated ${e.count} times`);
  if (e.action === 'disconnect') {
    parts.push(`${e.reason || ''} after ${((e.duration_ms || 0) / 1000).toFixed(1)} s`.trim());
  }
  return parts.join(' · ');
}

async function loadAttacks() {
  const [{ data: st }, { data: ev }] = await Promise.all([
    call('GET', '/stats?since=24h&top=10'),
    call('GET', '/events?limit=' + (showAll ? 25 : 200)),
  ]);
  chart(st.hourly || []);
  // A flood outgrew the statistics' share of the store: they count only
  // the newest events.
  $('stats-partial').hidden = !st.partial;
  $('stats-partial').textContent = st.partial
    ? 'Too many distinct values to count them all within the store size: these figures count the events stored since ' +
      new Date(st.counted_since).toLocaleString() + ' only.'
    : '';
  const top = st.top || {};
  fill('top-sources', (top.sources || []).map((s) => [s.value, s.count]), 'No attacks yet.', 2);
  const pairs = top.pairs || [];
  $('credentials-off').hidden = st.credentials_collected || pairs.length > 0;
  fill('top-pairs', pairs.map((p) => [p.username, p.password, p.count]), 'None stored.', 3);
  fill('top-urls', (top.urls || []).map((u) => [u.value, u.count]), 'None.', 2);
  fill('top-proxy', (top.proxy_targets || []).map((u) => [u.value, u.count]), 'None.', 2);
  const label = (k) => (settings && settings.services[k] ? settings.services[k].label : k);
  // Scanners open many connections that try nothing: by default the
  // list shows what attackers tried.
  const shown = ev.events.filter((e) => showAll || !QUIET.has(e.action)).slice(0, 25);
  fill('events', shown.map((e) => [
    new Date(e.time).toLocaleString(), label(e.service), e.src_ip + ':' + e.src_port, e.action, describe(e),
  ]), showAll ? 'No events stored.' : 'No attempts among the latest events.', 5);
}

// --- purge ---

function confirmDialog(text) {
  return new Promise((resolve) => {
    const d = $('confirm');
    $('confirm-text').textContent = text;
    d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
    d.returnValue = '';
    d.showModal();
    $('confirm-cancel').focus();
  });
}

async function purge(scope) {
  const text = scope === 'credentials'
    ? 'Blank every stored username and password? The events stay. This cannot be undone.'
    : 'Delete every stored event? This cannot be undone.';
  if (!(await confirmDialog(text))) return;
  setBusy(1);
  try {
    await call('POST', '/events/purge', { scope });
    notice(scope === 'credentials' ? 'Stored credentials deleted.' : 'All events deleted.', 'ok');
    await loadAttacks();
  } catch (e) {
    notice('Deleting failed: ' + e.message, 'error');
  } finally {
    setBusy(-1);
  }
}

// --- export (issue 13): the fleet exporter's switch and state ---

function renderExportSettings() {
  const x = settings.export;
  if (!x) return;
  $('export-enabled').checked = x.enabled;
  $('export-credentials').checked = x.credentials;
  $('export-broker').textContent = x.broker || '(none set)';
}

function renderExportStatus(x) {
  if (!x) return;
  const m = x.mqtt;
  $('export-sensor').textContent = x.sensor || '–';
  let conn = 'export is off';
  if (x.enabled) conn = !x.running ? 'no: the exporter is not running' : (m && m.connected ? 'yes' : 'no');
  $('export-connected').textContent = conn;
  $('export-connected').className = x.enabled ? (m && m.connected ? 'state on' : 'state bad') : 'state off';
  $('export-last').textContent = m && m.last_export ? new Date(m.last_export).toLocaleString() : 'never';
  $('export-waiting').textContent = m ? String(m.waiting) : '–';
  $('export-lost').textContent = m ? String(m.lost) : '–';
  $('export-error').textContent = (m && m.last_error) || x.error || x.note || 'none';
}

function startExport() {
  $('export-enabled').addEventListener('change', (e) => change({ export: { enabled: e.target.checked } }));
  $('export-credentials').addEventListener('change', (e) => change({ export: { credentials: e.target.checked } }));
}

// --- end export ---

// --- start ---

async function refresh() {
  try {
    await Promise.all([loadStatus(), loadAttacks()]);
    document.body.dataset.refreshed = String(Date.now());
  } catch (e) {
    if (e.status !== 401) notice('Cannot reach the API: ' + e.message, 'error');
  }
}

async function start() {
  document.body.dataset.busy = '0';
  document.body.dataset.cspViolations = String(violations);
  $('enabled').addEventListener('change', (e) => change({ enabled: e.target.checked }));
  $('log_credentials').addEventListener('change', (e) => change({ log_credentials: e.target.checked }));
  $('refresh').addEventListener('click', refresh);
  $('apply').addEventListener('click', apply);
  $('show-all').addEventListener('change', (e) => { showAll = e.target.checked; refresh(); });
  $('purge-credentials').addEventListener('click', () => purge('credentials'));
  $('purge-all').addEventListener('click', () => purge('all'));
  startExport();
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('token-input').value.trim());
    location.reload();
  });
  try {
    await loadSettings();
  } catch (e) {
    if (e.status !== 401) notice('Cannot reach the API: ' + e.message, 'error');
    return;
  }
  $('main').hidden = false;
  await refresh();
  document.body.dataset.ready = '1';
  setInterval(() => { if (!busy && !document.hidden) refresh(); }, REFRESH_MS);
}

start();
