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
  for (const e of document.querySelectorAll('#main input, #main button')) {
    if (!e.closest('.own')) e.disabled = busy > 0;
  }
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
  const valid = data.settings.valid;
  const line = [a.running ? 'Agent running' + (a.pid ? ' (pid ' + a.pid + ')' : '') : 'Agent not running'];
  if (a.running && a.started) line.push(' since ', timeEl(a.started));
  if (a.running && !valid) line.push(' — the settings file has invalid options (below)');
  else if (a.running && !a.in_sync) line.push(' — the settings file changed and is not applied yet');
  if (!a.running) {
    if (a.note && !/not running/.test(a.note)) line.push(': ' + a.note);
    line.push(' (on OpenWrt: /etc/init.d/minipot start)');
  }
  $('agent').replaceChildren(...line);
  $('agent').className = 'agent ' + (a.running && a.in_sync && valid ? 'ok' : 'warn');
  // A change made with uci and not yet applied (no reload_config); an
  // invalid file cannot be applied.
  $('apply').hidden = !(a.running && !a.in_sync && valid);
  renderProblems(data.settings);
  storeLine(data.store);
  services = data.services.map((s) => ({ key: s.key, label: s.label }));
  fillServiceFilter();
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

// renderProblems names each invalid option of the settings file with the
// reason (/status's settings.errors), and apart from them the options
// minipot ignores (settings.warnings, absent from older APIs).
function renderProblems(st) {
  const list = (id, items) => {
    const ul = $(id);
    ul.replaceChildren();
    for (const f of items) {
      const li = el('li');
      li.dataset.field = f.field;
      li.append(f.field ? el('code', f.field) : el('span', 'The file'), el('span', ': ' + f.message));
      ul.append(li);
    }
    return items.length > 0;
  };
  const errs = list('config-error-list', (st && st.errors) || []);
  const warns = list('config-warning-list', (st && st.warnings) || []);
  $('config-errors').hidden = !errs;
  $('config-warnings').hidden = !warns;
  $('config-problems').hidden = !errs && !warns;
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
  if (st.error) text += ' The store cannot be read: ' + st.error + '.';
  if (st.note) text += ' Note: ' + st.note + '.';
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
    } else if (e.status === 409 || (e.status === 500 && !settings)) {
      notice('Not saved: the settings file has problems, listed at the top of the page. ' +
        'Fix them in /etc/config/ucollect first.', 'error');
    } else if (e.status === 400) {
      notice('Not saved: ' + fieldText(e.body, {}), 'error');
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
    notice(e.status === 409 ? 'Not applied: the settings file has problems, listed at the top of the page.'
      : 'Applying failed: ' + e.message, 'error');
  } finally {
    setBusy(-1);
  }
}

// --- time ---

// FMT is the page's one way of writing a time: the browser's locale and
// time zone, the same fields everywhere (a day is the date part of it, an
// axis hour its time part).
const FMT = {
  dateTime: new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' }),
  day: new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' }),
  time: new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' }),
};
const TIME_ZONE = FMT.dateTime.resolvedOptions().timeZone || 'local time';

// timeEl is a time as the page writes it, with the exact instant kept.
function timeEl(iso) {
  const t = el('time', FMT.dateTime.format(new Date(iso)), 'dt');
  t.dateTime = iso;
  return t;
}

// isoSeconds is an RFC 3339 UTC time as the API reads it.
const isoSeconds = (d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

// --- attacks ---

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = String(text);
  return e;
}

// A phone shows fewer rows: each event is a card, five lines tall, and
// the four top lists stack one under the other.
const PHONE = window.matchMedia('(max-width: 640px)').matches;
const PAGE = PHONE ? 20 : 50; // events per page
const TOP = PHONE ? 5 : 10; // entries per top list

let services = []; // /status's services: their order gives each its colour and pattern
let range = '24h';
let chartData = null; // { stats, win } of the last /stats
let picked = '', pickedText = ''; // the bar tapped: its start, its counts

const RANGES = {
  '24h': { text: 'the last 24 hours', days: 0 },
  '7d': { text: 'the last 7 days', days: 7 },
  '30d': { text: 'the last 30 days', days: 30 },
};

// windowOf is the /stats window of a range. 24 hours are drawn by the hour;
// 7 and 30 days by the day (168 or 720 bars would be under a pixel wide on
// a phone), whole days from local midnight, so that a bar is a day on the
// owner's calendar.
function windowOf(r) {
  const days = RANGES[r].days;
  if (!days) return { range: r, since: '24h', unit: 'hour' };
  const now = new Date();
  const start = new Date(now.getFullYear(), now.getMonth(), now.getDate() - (days - 1));
  return { range: r, since: isoSeconds(start), unit: 'day', start, days };
}

const dayKey = (d) => d.getFullYear() + '-' + (d.getMonth() + 1) + '-' + d.getDate();

// buckets turns /stats's hours into the bars of the window.
function buckets(hourly, win) {
  if (win.unit === 'hour') {
    return hourly.map((h) => {
      const start = new Date(h.time);
      return { start, end: new Date(start.getTime() + 3600000), services: Object.assign({}, h.services) };
    });
  }
  const out = [];
  const byDay = new Map();
  for (let i = 0; i < win.days; i++) {
    const s = win.start;
    const b = { start: new Date(s.getFullYear(), s.getMonth(), s.getDate() + i),
      end: new Date(s.getFullYear(), s.getMonth(), s.getDate() + i + 1), services: {} };
    out.push(b);
    byDay.set(dayKey(b.start), b);
  }
  for (const h of hourly) {
    const t = new Date(h.time);
    // An hour the API widened the window by (time zones off whole hours)
    // counts in the first day.
    const b = byDay.get(dayKey(t)) || (t < win.start ? out[0] : out[out.length - 1]);
    for (const [k, n] of Object.entries(h.services || {})) b.services[k] = (b.services[k] || 0) + n;
  }
  return out;
}

const PALETTE = ['#0b6bcb', '#d9480f', '#2b8a3e', '#862e9c', '#c92a2a', '#1098ad', '#b07d00', '#5c940d', '#364fc7', '#a61e4d'];

// A service's fill: a colour and, so that colour is not the only cue, a
// texture (plain, stripes or dots) that its legend entry shows too.
function fillOf(i) { return i % 3 === 0 ? PALETTE[i % PALETTE.length] : 'url(#pat-' + i + ')'; }

function patterns(n) {
  const defs = svg('defs');
  for (let i = 0; i < n; i++) {
    if (i % 3 === 0) continue;
    const p = svg('pattern', { id: 'pat-' + i, patternUnits: 'userSpaceOnUse', width: 6, height: 6 });
    p.append(svg('rect', { width: 6, height: 6, fill: PALETTE[i % PALETTE.length] }));
    if (i % 3 === 1) p.append(svg('path', { d: 'M-1,7 L7,-1 M-1,1 L1,-1 M5,7 L7,5', stroke: '#fff', 'stroke-width': 1.4 }));
    else p.append(svg('circle', { cx: 3, cy: 3, r: 1.3, fill: '#fff' }));
    defs.append(p);
  }
  return defs;
}

function niceMax(v) {
  if (v <= 5) return Math.max(v, 1);
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

const serviceIndex = (key) => { const i = services.findIndex((s) => s.key === key); return i < 0 ? services.length : i; };
const serviceLabel = (key) => { const s = services.find((x) => x.key === key); return s ? s.label : key; };

// drawChart draws the last /stats as stacked bars, one series per
// service, at the chart's real width (a scaled-down drawing would shrink
// its labels below legibility on a phone).
function drawChart() {
  if (!chartData) return;
  const { stats, win } = chartData;
  const bars = buckets(stats.hourly || [], win);
  const box = $('chart');
  const W = Math.max(240, Math.floor(box.clientWidth || 600));
  const H = W < 520 ? 200 : 240;
  const totals = bars.map((b) => Object.values(b.services).reduce((s, n) => s + n, 0));
  const max = niceMax(Math.max(0, ...totals));
  const L = 12 + 7 * String(max).length, R = 6, T = 10, B = 38;
  const plotW = W - L - R, plotH = H - T - B;
  const n = Math.max(bars.length, 1);
  const bw = plotW / n;
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', class: 'bars', 'aria-labelledby': 'chart-title' });
  root.append(svg('title', { id: 'chart-title' }, 'Attempts per ' + win.unit + ', ' + RANGES[win.range].text + ', by service'));
  root.append(patterns(services.length + 1));
  for (const v of [0, max / 2, max]) {
    if (v !== Math.round(v)) continue;
    const y = T + plotH - (v / max) * plotH;
    root.append(svg('line', { x1: L, y1: y, x2: W - R, y2: y, class: v ? 'grid' : 'axis' }));
    root.append(svg('text', { x: L - 4, y: y + 4, class: 'ylabel' }, v));
  }
  const keys = services.map((s) => s.key);
  bars.forEach((b, i) => {
    const g = svg('g', { class: 'bucket', 'data-start': b.start.toISOString(), 'data-total': totals[i] });
    const x = L + i * bw;
    const when = win.unit === 'hour'
      ? FMT.day.format(b.start) + ', ' + FMT.time.format(b.start) + '–' + FMT.time.format(b.end)
      : FMT.day.format(b.start);
    // The whole column answers a tap (phones have no hover): the bar's
    // counts go under the chart.
    const hit = svg('rect', { x, y: T, width: bw, height: plotH, class: 'hit' });
    g.append(hit);
    let y = T + plotH;
    const parts = [];
    const extra = Object.keys(b.services).filter((k) => !keys.includes(k));
    for (const k of keys.concat(extra)) {
      const c = b.services[k] || 0;
      if (!c) continue;
      const h = (c / max) * plotH;
      y -= h;
      const seg = svg('rect', { x: x + Math.min(1, bw * 0.1), y, width: Math.max(bw - Math.min(2, bw * 0.2), 1), height: h,
        class: 'seg', fill: fillOf(serviceIndex(k)), 'data-service': k, 'data-count': c });
      seg.append(svg('title', {}, `${serviceLabel(k)}: ${c} attempts, ${when}`));
      g.append(seg);
      parts.push(`${serviceLabel(k)} ${c}`);
    }
    const detail = `${when}: ${totals[i]} attempts` + (parts.length ? ' (' + parts.join(', ') + ')' : '') + '.';
    const pick = () => {
      for (const o of root.querySelectorAll('.bucket.picked')) o.classList.remove('picked');
      g.classList.add('picked');
      picked = g.dataset.start;
      pickedText = detail;
    };
    g.addEventListener('click', () => { pick(); $('chart-detail').textContent = detail; });
    if (g.dataset.start === picked) pick();
    root.append(g);
  });
  // A bar picked before a refresh stays picked, with its new counts.
  if (!root.querySelector('.bucket.picked')) picked = pickedText = '';
  $('chart-detail').textContent = pickedText;
  // The x axis: dated labels, as many as fit. The step is estimated from
  // the longest label this locale writes (12 px text: about 7 px a
  // character); each label is then measured as drawn, and one that would
  // touch the previous one, or the edge, is left out.
  box.replaceChildren(root);
  const sample = win.unit === 'hour' ? FMT.time.format(new Date(2020, 0, 1, 23, 59)) : FMT.day.format(new Date(2020, 8, 30));
  const steps = win.unit === 'hour' ? [1, 2, 3, 4, 6, 12, 24] : [1, 2, 3, 5, 7, 10, 15, 30];
  const step = steps.find((s) => s * bw >= 7 * sample.length + 12) || steps[steps.length - 1];
  // Hours are ticked on the clock (00:00, 06:00...) where the time zone
  // is whole hours off UTC; elsewhere (UTC+5:30) and for days, counted
  // back from now.
  const onClock = win.unit === 'hour' && bars.every((b) => b.start.getMinutes() === 0);
  let lastDay = '', lastRight = -Infinity;
  bars.forEach((b, i) => {
    const tick = onClock ? b.start.getHours() % step === 0 : (bars.length - 1 - i) % step === 0;
    if (!tick) return;
    const cx = L + i * bw + bw / 2;
    const t = svg('text', { x: cx, y: H - B + 17, class: 'xlabel', 'text-anchor': 'middle', 'data-start': b.start.toISOString() });
    const day = FMT.day.format(b.start);
    const lines = win.unit === 'hour' ? [FMT.time.format(b.start)].concat(day !== lastDay ? [day] : []) : [day];
    lines.forEach((text, k) => t.append(svg('tspan', { x: cx, dy: k ? 14 : 0 }, text)));
    root.append(t);
    const width = t.getBBox().width || 7 * Math.max(...lines.map((x) => x.length));
    let left = cx - width / 2;
    let anchor = 'middle', x = cx;
    if (left < 0) { anchor = 'start'; x = 0; }
    if (cx + width / 2 > W) { anchor = 'end'; x = W; }
    if (anchor !== 'middle') {
      left = anchor === 'start' ? 0 : W - width;
      t.setAttribute('text-anchor', anchor);
      for (const e of [t, ...t.children]) e.setAttribute('x', x);
    }
    if (left < lastRight + 6) {
      t.remove();
      return;
    }
    lastRight = left + width;
    if (win.unit === 'hour') lastDay = day;
    root.append(svg('line', { x1: cx, y1: T + plotH, x2: cx, y2: T + plotH + 4, class: 'axis' }));
  });
  box.dataset.range = win.range;
  box.dataset.since = win.since;
  box.dataset.unit = win.unit;
  drawLegend(bars);
  const total = totals.reduce((s, x) => s + x, 0);
  $('chart-caption').textContent = `Attempts (logins and requests) per ${win.unit}, ${RANGES[win.range].text}: ` +
    `${total} in all. Times are in ${TIME_ZONE}.`;
}

// drawLegend lists the services drawn, in the stacking order, bottom
// first, with each one's fill and its total.
function drawLegend(bars) {
  const sums = {};
  for (const b of bars) for (const [k, c] of Object.entries(b.services)) sums[k] = (sums[k] || 0) + c;
  const keys = Object.keys(sums).filter((k) => sums[k] > 0).sort((a, b) => serviceIndex(a) - serviceIndex(b));
  const ul = $('legend');
  ul.replaceChildren();
  for (const k of keys) {
    const li = el('li');
    li.dataset.service = k;
    li.dataset.count = String(sums[k]);
    const sw = svg('svg', { width: 14, height: 14, viewBox: '0 0 14 14', 'aria-hidden': 'true', class: 'swatch' });
    sw.append(svg('rect', { width: 14, height: 14, fill: fillOf(serviceIndex(k)) }));
    li.append(sw, el('span', serviceLabel(k) + ': ' + sums[k]));
    ul.append(li);
  }
  if (!keys.length) ul.append(el('li', 'No attempts in this range.', 'empty'));
}

async function loadStats() {
  const win = windowOf(range);
  const { data: st } = await call('GET', '/stats?top=' + TOP + '&since=' + encodeURIComponent(win.since));
  if (win.range !== range) return; // the owner switched meanwhile
  chartData = { stats: st, win };
  // A flood outgrew the statistics' share of the store: they count only
  // the newest events.
  $('stats-partial').hidden = !st.partial;
  $('stats-partial').textContent = st.partial
    ? 'Too many distinct values to count them all within the store size: these figures count the events stored since ' +
      FMT.dateTime.format(new Date(st.counted_since)) + ' only.'
    : '';
  drawChart();
  const top = st.top || {};
  // An address opens its events: the filter below, set to it.
  fill('top-sources', (top.sources || []).map((s) => {
    const b = el('button', s.value, 'link');
    b.type = 'button';
    b.title = 'Show the events of ' + s.value;
    b.addEventListener('click', () => showAddress(s.value));
    return [b, s.count];
  }), 'No attacks in this range.', 2);
  const pairs = top.pairs || [];
  const off = $('credentials-off');
  off.hidden = st.credentials_collected;
  off.textContent = st.credentials_hidden
    ? 'Credentials are not collected. Those stored while they were are hidden; “Delete stored credentials” below removes them.'
    : 'Credentials are not collected.';
  fill('top-pairs', pairs.map((p) => [p.username, p.password, p.count]), 'None stored.', 3);
  fill('top-urls', (top.urls || []).map((u) => [u.value, u.count]), 'None.', 2);
  fill('top-proxy', (top.proxy_targets || []).map((u) => [u.value, u.count]), 'None.', 2);
  $('top-window').textContent = 'The top lists count ' + RANGES[win.range].text + '.';
}

async function setRange(r) {
  range = r;
  for (const b of document.querySelectorAll('[data-range]')) b.setAttribute('aria-pressed', String(b.dataset.range === r));
  try {
    await loadStats();
  } catch (e) {
    if (e.status !== 401) notice('Cannot read the statistics: ' + e.message, 'error');
  }
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

// --- events: filters, pages, downloads ---

const EXPORT_MAX = 10000; // events per download: 10 requests of the API's largest page
const FILTER_NAMES = { service: 'Service', action: 'Action', src_ip: 'Source address', cursor: 'Page' };
const EVENT_COLS = ['Time', 'Service', 'Source', 'Action', 'What'];

// ev is the events view: the filter applied, the cursor of each page seen
// (so "Newer" goes back exactly), and the page shown.
const ev = { filter: { service: '', action: '', src_ip: '' }, cursors: [''], page: 0, seq: 0 };

function filterQuery(f) {
  const q = new URLSearchParams();
  for (const k of ['service', 'action', 'src_ip']) if (f[k]) q.set(k, f[k]);
  return q;
}

// fieldText names each bad query parameter as the form does.
function fieldText(body, names) {
  const fields = (body && body.fields) || [];
  if (!fields.length) return (body && body.error) || '';
  return fields.map((f) => (names[f.field] || f.field || 'the file') + ': ' + f.message).join('; ');
}

async function loadEvents() {
  const q = filterQuery(ev.filter);
  q.set('limit', String(PAGE));
  if (ev.cursors[ev.page]) q.set('cursor', ev.cursors[ev.page]);
  // Only the latest request is shown: a refresh answered after the owner
  // turned the page must not draw the page before.
  const seq = ++ev.seq;
  let data;
  try {
    ({ data } = await call('GET', '/events?' + q));
  } catch (e) {
    if (seq !== ev.seq) return;
    if (e.status !== 400) throw e;
    const fe = $('filter-error');
    fe.textContent = 'Not a valid filter: ' + fieldText(e.body, FILTER_NAMES);
    fe.hidden = false;
    fill('events', [], 'No events: the filter is not valid.', 5);
    $('ev-older').disabled = $('ev-newer').disabled = true;
    $('ev-page').textContent = '';
    return;
  }
  if (seq !== ev.seq) return;
  $('filter-error').hidden = true;
  const tbody = document.querySelector('#events tbody');
  tbody.replaceChildren();
  for (const e of data.events) {
    const tr = row([timeEl(e.time), serviceLabel(e.service), hostPort(e.src_ip, e.src_port), e.action, describe(e)]);
    tr.dataset.id = String(e.id);
    [...tr.children].forEach((td, i) => { td.dataset.label = EVENT_COLS[i]; });
    tbody.append(tr);
  }
  if (!data.events.length) {
    const filtered = ev.filter.service || ev.filter.action || ev.filter.src_ip;
    fill('events', [], filtered ? 'No event matches this filter.' : 'No events stored.', 5);
  }
  ev.cursors.length = ev.page + 1;
  if (data.next_cursor) ev.cursors.push(data.next_cursor);
  $('ev-older').disabled = !data.next_cursor;
  $('ev-newer').disabled = ev.page === 0;
  const first = ev.page * PAGE + 1;
  $('ev-page').textContent = data.events.length
    ? `${first}–${first + data.events.length - 1} · page ${ev.page + 1}`
    : `page ${ev.page + 1}`;
}

async function eventsAction(fn) {
  fn();
  try {
    await loadEvents();
  } catch (e) {
    if (e.status !== 401) notice('Cannot read the events: ' + e.message, 'error');
  }
}

// hostPort writes an address and port as a URL does ([2001:db8::1]:23),
// breakable only before the port and after an IPv6 colon, never inside a
// number.
function hostPort(ip, port) {
  const span = el('span');
  const text = (ip.includes(':') ? '[' + ip + ']' : ip) + ':' + port;
  const parts = ip.includes(':') ? text.split(/(?<=:)/) : [ip, ':' + port];
  parts.forEach((p, i) => {
    if (i) span.append(el('wbr'));
    span.append(p);
  });
  return span;
}

// showAddress lists the events of one source address and scrolls to them.
function showAddress(ip) {
  $('f-service').value = '';
  $('f-action').value = '';
  $('f-src').value = ip;
  eventsAction(() => { ev.filter = readFilter(); ev.cursors = ['']; ev.page = 0; });
  $('filters').scrollIntoView({ block: 'start' });
}

function readFilter() {
  return { service: $('f-service').value, action: $('f-action').value, src_ip: $('f-src').value.trim() };
}

function fillServiceFilter() {
  const sel = $('f-service');
  const keys = services.map((s) => s.key).join(' ');
  if (sel.dataset.keys === keys) return;
  sel.dataset.keys = keys;
  const cur = sel.value;
  sel.replaceChildren(el('option', 'All services'));
  sel.firstChild.value = '';
  for (const s of services) {
    const o = el('option', s.label);
    o.value = s.key;
    sel.append(o);
  }
  sel.value = cur;
}

const CSV_COLS = ['id', 'time', 'service', 'port', 'src_ip', 'src_port', 'conn_id', 'action', 'method', 'url', 'host',
  'user_agent', 'username', 'password', 'body', 'detail', 'count', 'duration_ms', 'bytes_in', 'bytes_out', 'reason'];

// csvCell quotes a value as RFC 4180 does, and puts a ' before text that
// a spreadsheet would take for a formula (attackers choose this text).
function csvCell(v) {
  if (v === undefined || v === null) return '';
  let s = String(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = "'" + s;
  return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

function toCSV(events) {
  const lines = [CSV_COLS.join(',')];
  for (const e of events) lines.push(CSV_COLS.map((c) => csvCell(e[c])).join(','));
  return lines.join('\r\n') + '\r\n';
}

// download fetches the events of the filter shown, page by page, up to
// EXPORT_MAX, and saves them as a file made in the browser.
async function download(kind) {
  const f = Object.assign({}, ev.filter);
  const btns = [$('dl-csv'), $('dl-json')];
  btns.forEach((b) => { b.disabled = true; });
  $('dl-note').textContent = 'Reading the events…';
  try {
    const events = [];
    let cursor = '', truncated = false;
    for (;;) {
      const q = filterQuery(f);
      q.set('limit', String(Math.min(1000, EXPORT_MAX - events.length)));
      if (cursor) q.set('cursor', cursor);
      const { data } = await call('GET', '/events?' + q);
      events.push(...data.events);
      cursor = data.next_cursor || '';
      if (!cursor) break;
      if (events.length >= EXPORT_MAX) { truncated = true; break; }
    }
    const now = new Date();
    const name = 'minipot-events-' + isoSeconds(now).replace(/[-:]/g, '').replace('T', '-').replace('Z', '') + '.' + kind;
    const body = kind === 'csv' ? toCSV(events)
      : JSON.stringify({ exported: isoSeconds(now), filter: f, truncated, events }, null, 1) + '\n';
    const blob = new Blob([body], { type: kind === 'csv' ? 'text/csv;charset=utf-8' : 'application/json' });
    const url = URL.createObjectURL(blob);
    const a = el('a');
    a.href = url;
    a.download = name;
    a.hidden = true;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    $('dl-note').textContent = `Saved ${events.length} events as ${name}` +
      (truncated ? `: the newest ${EXPORT_MAX}; older ones of this filter were left out.` : '.');
  } catch (e) {
    $('dl-note').textContent = '';
    if (e.status !== 401) notice('The download failed: ' + e.message, 'error');
  } finally {
    btns.forEach((b) => { b.disabled = false; });
  }
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
    await Promise.all([loadStats(), loadEvents()]);
  } catch (e) {
    notice('Deleting failed: ' + (e.status === 409 ? fieldText(e.body, {}) || e.message : e.message), 'error');
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
  $('export-last').replaceChildren(m && m.last_export ? timeEl(m.last_export) : 'never');
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
    // The services' order and labels come with /status: the chart's
    // colours and the events' labels wait for them.
    await loadStatus();
    await Promise.all([loadStats(), loadEvents()]);
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
  for (const b of document.querySelectorAll('[data-range]')) b.addEventListener('click', () => setRange(b.dataset.range));
  $('filters').addEventListener('submit', (e) => {
    e.preventDefault();
    eventsAction(() => { ev.filter = readFilter(); ev.cursors = ['']; ev.page = 0; });
  });
  $('f-clear').addEventListener('click', () => {
    $('filters').reset();
    eventsAction(() => { ev.filter = readFilter(); ev.cursors = ['']; ev.page = 0; });
  });
  $('ev-older').addEventListener('click', () => eventsAction(() => { if (ev.cursors[ev.page + 1]) ev.page++; }));
  $('ev-newer').addEventListener('click', () => eventsAction(() => { if (ev.page > 0) ev.page--; }));
  $('dl-csv').addEventListener('click', () => download('csv'));
  $('dl-json').addEventListener('click', () => download('json'));
  $('purge-credentials').addEventListener('click', () => purge('credentials'));
  $('purge-all').addEventListener('click', () => purge('all'));
  startExport();
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('token-input').value.trim());
    location.reload();
  });
  // The chart is drawn at its real width: again when that changes.
  let drawing = 0;
  window.addEventListener('resize', () => {
    cancelAnimationFrame(drawing);
    drawing = requestAnimationFrame(drawChart);
  });
  try {
    await loadSettings();
  } catch (e) {
    if (e.status === 401) return;
    if (e.status !== 500) {
      notice('Cannot reach the API: ' + e.message, 'error');
      return;
    }
    // A file that does not parse: /status names the problem, and the
    // stored events can still be read.
    settings = null;
  }
  $('main').hidden = false;
  await refresh();
  document.body.dataset.ready = '1';
  setInterval(() => { if (!busy && !document.hidden) refresh(); }, REFRESH_MS);
}

start();
