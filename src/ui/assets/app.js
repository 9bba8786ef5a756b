// The Sluice dashboard: polls /metrics (Prometheus text, parsed here),
// /v1/topics and /v1/subscriptions every 2 s and shows them. No
// dependencies, no inline code (the page's Content-Security-Policy forbids it).
'use strict';

const POLL_MS = 2000;
const WINDOW_MS = 5 * 60 * 1000;  // the chart's span
const KEY_STORAGE = 'sluice.apiKey';
const MAX_ERRORS = 100;
const MAX_WEBHOOK_LOOKUPS = 20;  // subscriptions whose webhook state is read each poll
// Events queued to subscribers (a server without it shows "n/a").
const DELIVERY_SERIES = ['sluice_deliveries_total'];

const $ = (id) => document.getElementById(id);

// --- Prometheus text format 0.0.4 -------------------------------------------

// Returns [{name, labels, value}] for every sample line; comments skipped.
function parseMetrics(text) {
  const samples = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line[0] === '#') continue;
    let i = 0;
    while (i < line.length && /[A-Za-z0-9_:]/.test(line[i])) i++;
    const name = line.slice(0, i);
    const labels = {};
    if (line[i] === '{') {
      i++;
      for (;;) {
        while (line[i] === ' ' || line[i] === ',') i++;
        if (i >= line.length) throw new Error('unterminated labels: ' + line);
        if (line[i] === '}') { i++; break; }
        const eq = line.indexOf('=', i);
        if (eq < 0 || line[eq + 1] !== '"') throw new Error('bad label: ' + line);
        const key = line.slice(i, eq).trim();
        let value = '';
        i = eq + 2;
        while (i < line.length && line[i] !== '"') {
          if (line[i] === '\\' && i + 1 < line.length) {
            i++;
            value += line[i] === 'n' ? '\n' : line[i];
          } else {
            value += line[i];
          }
          i++;
        }
        if (i >= line.length) throw new Error('unterminated label value: ' + line);
        i++;  // closing quote
        labels[key] = value;
      }
    }
    const fields = line.slice(i).trim().split(/\s+/);
    samples.push({ name, labels, value: parseValue(fields[0]) });
  }
  return samples;
}

function parseValue(text) {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return Number(text);
}

// The sum of every sample of `name` whose labels pass `where`; null if none.
function total(samples, name, where) {
  let sum = null;
  for (const s of samples) {
    if (s.name === name && (!where || where(s.labels))) sum = (sum || 0) + s.value;
  }
  return sum;
}

// --- formatting -------------------------------------------------------------

function fmtNumber(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  if (Math.abs(n) >= 1e9) return (n / 1e9).toFixed(1) + 'G';
  if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(1) + 'M';
  if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(1) + 'k';
  return String(Math.round(n));
}

function fmtRate(r) {
  if (r === null || r === undefined || Number.isNaN(r)) return '–';
  if (r === 0) return '0';
  if (r < 10) return r.toFixed(1);
  return fmtNumber(r);
}

function fmtBytes(b) {
  if (b === null || b === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let u = 0;
  while (b >= 1024 && u < units.length - 1) { b /= 1024; u++; }
  return (u === 0 ? String(b) : b.toFixed(1)) + ' ' + units[u];
}

function fmtAgo(ms) {
  if (ms < 0) ms = 0;
  const s = Math.round(ms / 1000);
  if (s < 60) return s + ' s ago';
  if (s < 3600) return Math.round(s / 60) + ' min ago';
  if (s < 86400) return Math.round(s / 3600) + ' h ago';
  return Math.round(s / 86400) + ' d ago';
}

function fmtDuration(s) {
  if (s < 60) return Math.round(s) + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min';
  if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  return Math.floor(s / 86400) + ' d ' + Math.floor((s % 86400) / 3600) + ' h';
}

function clock(t) { return new Date(t).toLocaleTimeString([], { hour12: false }); }

function setText(id, text) {
  const el = $(id);
  if (el.textContent !== text) el.textContent = text;
}

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function emptyRow(tbody, columns, text) {
  const tr = document.createElement('tr');
  const td = cell(text, 'empty');
  td.colSpan = columns;
  tr.append(td);
  tbody.replaceChildren(tr);
}

// --- talking to the server --------------------------------------------------

class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function apiKey() { return sessionStorage.getItem(KEY_STORAGE) || ''; }

async function get(path, asText) {
  const headers = { Accept: asText ? 'text/plain' : 'application/json' };
  const key = apiKey();
  if (key) headers.Authorization = 'Bearer ' + key;
  const response = await fetch(path, { headers, cache: 'no-store', credentials: 'omit', redirect: 'error' });
  const body = await response.text();
  if (!response.ok) {
    let message = response.status + ' ' + response.statusText;
    try { message = JSON.parse(body).message || message; } catch (e) { /* not JSON */ }
    throw new HttpError(response.status, message);
  }
  return asText ? body : JSON.parse(body);
}

// --- state between polls ----------------------------------------------------

const state = {
  previous: null,        // {t, published, delivered, counters: Map}
  topicOffsets: new Map(),  // topic -> {t, offset}
  topicRates: new Map(),    // topic -> events/s
  history: [],           // [{t, publish, deliver}] for the chart
  errors: [],            // [{t, what, count}] newest first
  webhookErrors: new Map(),  // subscription id -> last error text seen
  timer: null,
  deliverySeries: null,
  lastTopics: null,      // the last /v1/topics page (the filter re-renders it)
  samples: null,         // the last /metrics samples
};

// --- rendering --------------------------------------------------------------

function setStatus(kind, text) {
  const pill = $('status');
  pill.dataset.state = kind;
  pill.textContent = text;
}

function showLogin(show, why) {
  $('login').hidden = !show;
  if (why) setText('login-why', why);
  $('forget').hidden = !apiKey();
  if (show) $('key').focus();
}

function showNotice(text) {
  const notice = $('notice');
  notice.hidden = !text;
  notice.textContent = text || '';
}

function addError(t, what, count) {
  state.errors.unshift({ t, what, count });
  if (state.errors.length > MAX_ERRORS) state.errors.length = MAX_ERRORS;
}

function renderErrors() {
  const list = $('errors');
  const items = state.errors.map((e) => {
    const li = document.createElement('li');
    const time = document.createElement('time');
    time.dateTime = new Date(e.t).toISOString();
    time.textContent = clock(e.t);
    const what = document.createElement('span');
    what.className = 'what';
    what.textContent = e.what;
    li.append(time, what);
    if (e.count > 1) {
      const count = document.createElement('span');
      count.className = 'count';
      count.textContent = '×' + fmtNumber(e.count);
      li.append(count);
    }
    return li;
  });
  list.replaceChildren(...items);
  $('errors-empty').hidden = state.errors.length > 0;
}

// Counter deltas since the last poll that mean something went wrong.
function collectErrors(t, samples, previous) {
  const now = new Map();
  for (const s of samples) {
    let what = null;
    if (s.name === 'sluice_http_requests_total' && /^[45]/.test(s.labels.code || '')) {
      what = 'HTTP ' + s.labels.code + ' on ' + s.labels.route;
    } else if (s.name === 'sluice_limit_refusals_total') {
      what = 'refused by limit ' + s.labels.limit;
    } else if (s.name === 'sluice_webhook_attempts_total' && s.labels.outcome !== 'delivered') {
      what = s.labels.outcome === 'dead_letter' ? 'webhook delivery dead-lettered' : 'webhook attempt failed (retrying)';
    } else if (s.name === 'sluice_fanout_missed_events_total') {
      what = 'events missed by a loop\'s fan-out (subscribers closed with 4008 or sent a gap)';
    } else if (s.name === 'sluice_slow_consumer_closes_total') {
      what = 'slow consumers closed (send queue full)';
    } else if (s.name === 'sluice_deliveries_dropped_total') {
      what = 'events dropped for slow consumers (drop policy)';
    } else if (s.name === 'sluice_connections_rejected_total') {
      what = 'connections refused: ' + (s.labels.reason || 'other');
    } else if (s.name === 'sluice_auth_refusals_total') {
      what = 'credentials refused: ' + (s.labels.reason || 'other').replace(/_/g, ' ');
    }
    if (!what) continue;
    now.set(what, (now.get(what) || 0) + s.value);
  }
  if (previous) {
    for (const [what, value] of now) {
      const delta = value - (previous.get(what) || 0);
      if (delta > 0) addError(t, what, delta);
    }
  }
  return now;
}

function renderTiles(t, samples) {
  const connections = total(samples, 'sluice_connections');
  setText('stat-connections', fmtNumber(connections));
  const accepted = total(samples, 'sluice_connections_accepted_total');
  setText('stat-accepted', accepted === null ? '' : fmtNumber(accepted) + ' accepted');

  const published = total(samples, 'sluice_events_published_total');
  if (state.deliverySeries === null) {
    state.deliverySeries = DELIVERY_SERIES.find((name) => total(samples, name) !== null) || '';
  }
  const delivered = state.deliverySeries ? total(samples, state.deliverySeries) : null;
  let publishRate = null;
  let deliverRate = null;
  const p = state.previous;
  if (p && t > p.t) {
    const dt = (t - p.t) / 1000;
    publishRate = published !== null && p.published !== null ? Math.max(0, published - p.published) / dt : null;
    deliverRate = delivered !== null && p.delivered !== null ? Math.max(0, delivered - p.delivered) / dt : null;
    state.history.push({ t, publish: publishRate, deliver: deliverRate });
    while (state.history.length && state.history[0].t < t - WINDOW_MS) state.history.shift();
  }
  setText('stat-publish-rate', fmtRate(publishRate));
  setText('stat-published', published === null ? '' : fmtNumber(published) + ' published');
  setText('stat-delivery-rate', state.deliverySeries ? fmtRate(deliverRate) : 'n/a');
  setText('stat-delivered', state.deliverySeries ? fmtNumber(delivered) + ' delivered'
                                                 : 'not exported by this server');

  setText('stat-topics', fmtNumber(total(samples, 'sluice_topics')));
  setText('stat-subscriptions', fmtNumber(total(samples, 'sluice_subscriptions')));

  const ok = total(samples, 'sluice_webhook_attempts_total', (l) => l.outcome === 'delivered') || 0;
  const retry = total(samples, 'sluice_webhook_attempts_total', (l) => l.outcome === 'retry') || 0;
  const dead = total(samples, 'sluice_webhook_attempts_total', (l) => l.outcome === 'dead_letter') || 0;
  state.webhookTotals = fmtNumber(ok) + ' delivered · ' + fmtNumber(retry) + ' retries · ' + fmtNumber(dead) + ' dead';

  const rss = total(samples, 'process_resident_memory_bytes');
  setText('stat-memory', rss === null ? '–' : fmtBytes(rss));
  const start = total(samples, 'process_start_time_seconds');
  setText('stat-uptime', start === null ? '' : 'up ' + fmtDuration(Math.max(0, t / 1000 - start)));
  return { published, delivered };
}

function renderChart() {
  const canvas = $('chart');
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (width === 0) return;
  if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
  if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
  const g = canvas.getContext('2d');
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  const css = getComputedStyle(document.documentElement);
  const color = (name) => css.getPropertyValue(name).trim();
  const left = 46;
  const bottom = height - 18;
  const top = 8;
  const now = Date.now();
  let max = 1;
  for (const h of state.history) max = Math.max(max, h.publish || 0, h.deliver || 0);
  // A round top for the axis: 1, 2 or 5 times a power of ten.
  const magnitude = Math.pow(10, Math.floor(Math.log10(max)));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s * 4 >= max);
  const yMax = step * 4;
  g.font = '11px system-ui, sans-serif';
  g.fillStyle = color('--muted');
  g.strokeStyle = color('--line');
  g.lineWidth = 1;
  g.textAlign = 'right';
  g.textBaseline = 'middle';
  for (let i = 0; i <= 4; i++) {
    const y = bottom - ((bottom - top) * i) / 4;
    g.beginPath();
    g.moveTo(left, Math.round(y) + 0.5);
    g.lineTo(width, Math.round(y) + 0.5);
    g.stroke();
    const v = step * i;
    g.fillText(Number.isInteger(v) ? fmtNumber(v) : v.toFixed(1), left - 6, y);
  }
  g.textAlign = 'center';
  g.textBaseline = 'alphabetic';
  for (let m = 0; m <= 5; m += width < 480 ? 2 : 1) {
    const x = left + ((width - left) * (WINDOW_MS - m * 60000)) / WINDOW_MS;
    g.fillText(m === 0 ? 'now' : '-' + m + ' min', Math.min(Math.max(x, left + 14), width - 14), height - 4);
  }
  const xOf = (t) => left + ((width - left) * (t - (now - WINDOW_MS))) / WINDOW_MS;
  const yOf = (v) => bottom - ((bottom - top) * v) / yMax;
  for (const [field, name] of [['deliver', '--deliver'], ['publish', '--publish']]) {
    const points = state.history.filter((h) => h[field] !== null);
    if (points.length === 0) continue;
    g.strokeStyle = color(name);
    g.lineWidth = 2;
    g.lineJoin = 'round';
    g.beginPath();
    points.forEach((h, i) => (i === 0 ? g.moveTo(xOf(h.t), yOf(h[field])) : g.lineTo(xOf(h.t), yOf(h[field]))));
    g.stroke();
  }
}

// Each topic's rate: its offset's growth since the last poll.
function updateTopicRates(t, page) {
  for (const topic of page.topics) {
    const before = state.topicOffsets.get(topic.topic);
    if (before && t > before.t) {
      state.topicRates.set(topic.topic, Math.max(0, topic.lastOffset - before.offset) / ((t - before.t) / 1000));
    }
    state.topicOffsets.set(topic.topic, { t, offset: topic.lastOffset });
  }
  state.lastTopics = page;
}

function renderTopics(t, page) {
  const tbody = $('topics').tBodies[0];
  const filter = $('topic-filter').value.trim().toLowerCase();
  const shown = page.topics
    .filter((x) => !filter || x.topic.toLowerCase().includes(filter))
    .sort((a, b) => (state.topicRates.get(b.topic) || 0) - (state.topicRates.get(a.topic) || 0) ||
                    (b.lastEventAt || '').localeCompare(a.lastEventAt || '') || a.topic.localeCompare(b.topic))
    .slice(0, 100);
  if (shown.length === 0) {
    emptyRow(tbody, 6, filter ? 'No topic matches the filter.' : 'No topics yet: publish an event to create one.');
  } else {
    tbody.replaceChildren(...shown.map((x) => {
      const tr = document.createElement('tr');
      const rate = state.topicRates.get(x.topic);
      tr.dataset.topic = x.topic;
      if (rate > 0) tr.className = 'hot';
      const name = cell(x.topic, 'name');
      name.title = x.topic + ' (epoch ' + x.epoch + ')';
      tr.append(name, cell(rate === undefined ? '–' : fmtRate(rate), 'num rate'),
                cell(String(x.lastOffset), 'num offset'), cell(fmtNumber(x.historyEvents), 'num'),
                cell(fmtBytes(x.historyBytes), 'num'),
                cell(x.lastEventAt ? fmtAgo(t - Date.parse(x.lastEventAt)) : '–', 'muted'));
      return tr;
    }));
  }
  let note = '';
  if (page.total > page.topics.length) note = 'Rates for the first ' + page.topics.length + ' of ' + page.total + ' topics (by name). ';
  if (shown.length === 100) note += 'The 100 busiest shown.';
  setText('topics-note', note);
  // Every topic's history when the server exports the totals; else the page's topics.
  const samples = state.samples || [];
  const events = total(samples, 'sluice_history_events') ?? page.topics.reduce((sum, x) => sum + x.historyEvents, 0);
  const bytes = total(samples, 'sluice_history_bytes') ?? page.topics.reduce((sum, x) => sum + x.historyBytes, 0);
  setText('stat-history', fmtNumber(events) + ' in history · ' + fmtBytes(bytes));
}

function webhookCell(t, sub, detail) {
  if (!sub.webhook) return cell('—', 'muted');
  const w = detail && detail.webhookState;
  if (!w) return cell('configured', 'muted wrap');
  let text = 'ok · ' + fmtNumber(w.delivered || 0) + ' delivered';
  let kind = 'state-ok';
  if (w.consecutiveFailures > 0) {
    kind = 'state-bad';
    text = 'failing ×' + w.consecutiveFailures + (w.lastStatus ? ' (HTTP ' + w.lastStatus + ')' : '');
    if (w.nextAttemptAt) text += ' · retry ' + clock(Date.parse(w.nextAttemptAt));
  } else if (w.inFlight) {
    kind = 'state-warn';
    text = 'delivering · ' + fmtNumber(w.delivered || 0) + ' delivered';
  }
  if (w.deadLetters > 0) {
    text += ' · ' + fmtNumber(w.deadLetters) + ' dead letters';
    if (kind === 'state-ok') kind = 'state-warn';
  }
  const td = cell(text, kind + ' wrap webhook');
  if (w.lastError) td.title = w.lastError;
  // A new webhook error is a recent error.
  const status = w.lastStatus ? 'HTTP ' + w.lastStatus : '';
  const error = w.lastError ? w.lastError + (status && !w.lastError.includes(status) ? ' (' + status + ')' : '') : '';
  if (error && state.webhookErrors.get(sub.id) !== error) addError(t, 'webhook of ' + sub.id + ': ' + error, 1);
  state.webhookErrors.set(sub.id, error);
  return td;
}

function renderSubscriptions(t, list, details) {
  const tbody = $('subscriptions').tBodies[0];
  const subs = list.subscriptions;
  let streams = 0;
  for (const s of subs) streams += (s.counters && s.counters.attachedStreams) || 0;
  setText('stat-streams', streams + ' attached streams');
  if (subs.length === 0) {
    emptyRow(tbody, 4, 'No subscriptions: POST /v1/subscriptions creates one.');
  } else {
    tbody.replaceChildren(...subs.map((s) => {
      const tr = document.createElement('tr');
      tr.dataset.subscription = s.id;
      const c = s.counters || {};
      const topics = cell(s.topics.join(', ') + (s.filter ? ' + filter' : ''), 'name');
      topics.title = s.filter ? JSON.stringify(s.filter) : '';
      const id = document.createElement('div');
      id.className = 'id';
      id.textContent = s.id;
      topics.append(id);
      const matched = cell(fmtNumber(c.eventsMatched || 0), 'num matched');
      if (c.lastEventAt) matched.title = 'last ' + fmtAgo(t - Date.parse(c.lastEventAt));
      tr.append(topics, matched, cell(String(c.attachedStreams || 0), 'num'),
                webhookCell(t, s, details.get(s.id)));
      return tr;
    }));
  }
  setText('subscriptions-note', list.nextCursor ? 'The first ' + subs.length + ' subscriptions shown.' : '');
  let failing = 0;
  for (const d of details.values()) if (d.webhookState && d.webhookState.consecutiveFailures > 0) failing++;
  const hooks = subs.filter((s) => s.webhook).length;
  setText('stat-webhooks', failing > 0 ? failing + ' failing' : String(hooks));
  setText('stat-webhook-detail', (failing > 0 ? 'of ' + hooks + ' · ' : '') + (state.webhookTotals || ''));
  $('stat-webhooks').className = 'value' + (failing > 0 ? ' state-bad' : '');
}

// --- the poll loop ----------------------------------------------------------

async function poll() {
  const t = Date.now();
  try {
    const [text, topics, subscriptions] = await Promise.all([
      get('/metrics', true), get('/v1/topics?limit=1000'), get('/v1/subscriptions?limit=100')]);
    const withHooks = subscriptions.subscriptions.filter((s) => s.webhook).slice(0, MAX_WEBHOOK_LOOKUPS);
    const details = new Map();
    await Promise.all(withHooks.map(async (s) => {
      try { details.set(s.id, await get('/v1/subscriptions/' + encodeURIComponent(s.id))); } catch (e) { /* deleted meanwhile */ }
    }));
    const samples = parseMetrics(text);
    state.samples = samples;
    const counters = collectErrors(t, samples, state.previous && state.previous.counters);
    const totals = renderTiles(t, samples);
    updateTopicRates(t, topics);
    renderTopics(t, topics);
    renderSubscriptions(t, subscriptions, details);
    renderErrors();
    renderChart();
    state.previous = { t, published: totals.published, delivered: totals.delivered, counters };
    showLogin(false);
    showNotice('');
    setStatus('live', 'live');
    setText('updated', 'updated ' + clock(t));
  } catch (e) {
    if (e.status === 401) {
      setStatus('key', 'key needed');
      showLogin(true, apiKey() ? 'That key was not accepted (unknown or revoked). Enter another one.'
                               : 'This server requires an API key with the read (or admin) scope to show its data.');
      return;  // the form restarts polling
    }
    if (e.status === 403) {
      setStatus('forbidden', 'forbidden');
      showLogin(true, 'That key lacks the read scope: ' + e.message);
      return;
    }
    setStatus('offline', 'offline');
    showNotice(e instanceof HttpError ? 'The server answered: ' + e.message
                                      : 'Cannot reach the server (' + e.message + '); retrying.');
  }
  schedule();
}

function schedule() {
  clearTimeout(state.timer);
  state.timer = setTimeout(poll, POLL_MS);
}

function restart() {
  clearTimeout(state.timer);
  state.previous = null;
  poll();
}

async function loadVersion() {
  try {
    const root = await get('/');
    setText('version', root.version ? 'v' + root.version : '');
  } catch (e) { /* the version is decoration */ }
}

document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const key = $('key').value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY_STORAGE, key);
    $('key').value = '';
    restart();
  });
  $('forget').addEventListener('click', () => {
    sessionStorage.removeItem(KEY_STORAGE);
    restart();
  });
  $('topic-filter').addEventListener('input', () => {
    if (state.lastTopics) renderTopics(Date.now(), state.lastTopics);
  });
  window.addEventListener('resize', renderChart);
  loadVersion();
  poll();
});
