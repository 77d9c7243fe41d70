// LocalPort's dashboard: one ES module, no framework, no build step. It follows the daemon's
// server-sent events (/api/events: a snapshot, then each service's status when it changes) and never
// polls; the clock-driven texts (uptime, next retry) are computed here from timestamps. Every request
// carries the daemon's token: the page's own URL has it, this module's URL too.

const token = new URL(import.meta.url).searchParams.get('token') ?? '';
const withToken = (path, params = new URLSearchParams()) => {
  params.set('token', token);
  return `${path}?${params}`;
};

const $ = (id) => document.getElementById(id);
const STATES = {
  ready: { icon: '✓', tone: 'ok' },
  starting: { icon: '…', tone: 'warn' },
  restarting: { icon: '↻', tone: 'warn' },
  stopping: { icon: '…', tone: 'warn' },
  failed: { icon: '✕', tone: 'bad' },
  stopped: { icon: '■', tone: 'off' },
  idle: { icon: '○', tone: 'off' },
  // A ${VAR} it needs is not set in the daemon's environment: its last error names the variable.
  unresolved: { icon: '?', tone: 'bad' },
};
const HEALTH = { healthy: { icon: '✓', tone: 'ok' }, unhealthy: { icon: '✕', tone: 'bad' }, unknown: { icon: '?', tone: 'off' } };
const LOG_LINES_KEPT = 500;

/** name → { status, el: { root, … } }, in the config's order. */
const services = new Map();
/** Server time minus this browser's: uptime is counted on the daemon's clock. */
let skew = 0;
let events;
/**
 * What the page knows of its daemon: `live` (what it shows is current), `lost` (the stream broke: it
 * shows what the daemon last said, and reconnects), `stopped` (that daemon is gone for good: a new one
 * has another token, likely another port; nothing at this address will answer again).
 */
let link = 'connecting';

// ---- formatting -------------------------------------------------------------------------------

const now = () => Date.now() + skew;

function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${String(s % 60).padStart(2, '0')} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${String(m % 60).padStart(2, '0')} m`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

function bytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

const clock = (iso) => new Date(iso).toLocaleTimeString();

/**
 * Puts `text` in `el` with each space-separated token (an address, `user@host:port`) kept whole: a line
 * breaks between tokens, never inside one, unless a token alone is wider than the card (see the CSS).
 */
function setTokens(el, text) {
  el.replaceChildren();
  text.split(/(\s+)/).forEach((part, i) => {
    if (i % 2 === 1 || part === '') return void (part && el.append(part));
    const span = document.createElement('span');
    span.className = 'tok';
    span.textContent = part;
    el.append(span);
  });
}

/**
 * The target, and the shared connection it rides on. The target names the connection's endpoint already
 * (`deploy@bastion:22 → db:5432`), so the connection is named by its id only (`ssh#1`, as in /metrics);
 * its endpoint is said in full only when the target does not say it.
 */
function targetText(s) {
  if (!s.connection) return s.target;
  const via = s.target.includes(s.connection.label) ? s.connection.id : s.connection.label;
  return `${s.target} (via ${via})`;
}

// ---- rendering --------------------------------------------------------------------------------

function badge(el, word, look) {
  el.dataset.tone = look.tone;
  el.querySelector('.icon').textContent = look.icon;
  el.querySelector('.text').textContent = word;
}

function create(name) {
  const root = $('service-template').content.firstElementChild.cloneNode(true);
  const id = `svc-${services.size}`;
  const q = (sel) => root.querySelector(sel);
  root.id = id;
  root.dataset.service = name;
  q('.name').id = `${id}-name`;
  q('.name').textContent = name;
  root.setAttribute('aria-labelledby', `${id}-name`);
  q('.actions').setAttribute('aria-label', `Actions for ${name}`);
  for (const b of root.querySelectorAll('button[data-action]')) {
    b.setAttribute('aria-label', `${b.textContent} ${name}`);
    b.addEventListener('click', () => act(b.dataset.action, { names: [name] }, name, root));
  }
  // "Log of db": the panel's name says whose it is (the visible text stays "Log").
  q('.log summary .whose').textContent = ` of ${name}`;
  q('.log .lines').setAttribute('aria-label', `Log lines of ${name}`);
  q('.log').addEventListener('toggle', () => followLogs());
  const el = {
    root,
    state: q('.state'),
    health: q('.health'),
    tags: q('.tags'),
    target: q('.target'),
    local: q('.local'),
    uptime: q('.uptime'),
    restarts: q('.restarts'),
    retry: q('.retry'),
    traffic: q('.traffic'),
    error: q('.error'),
    log: q('.log'),
    lines: q('.log .lines'),
  };
  return el;
}

function renderService(s) {
  let entry = services.get(s.name);
  if (!entry) {
    entry = { status: s, el: create(s.name) };
    services.set(s.name, entry);
  }
  entry.status = s;
  const { el } = entry;
  el.root.dataset.state = s.state;
  badge(el.state, s.state, STATES[s.state] ?? { icon: '•', tone: 'off' });
  el.state.title = `state: ${s.state}${s.since ? ` since ${clock(s.since)}` : ''}`;
  if (s.health && ['ready', 'starting', 'restarting'].includes(s.state)) {
    el.health.hidden = false;
    badge(el.health, s.health.state, HEALTH[s.health.state] ?? HEALTH.unknown);
    el.health.title = `${s.health.type} check${s.health.message ? `: ${s.health.message}` : ''}`;
  } else el.health.hidden = true;
  el.tags.textContent = s.tags.map((t) => `#${t}`).join(' ');
  setTokens(el.target, targetText(s));
  el.target.title = s.connection ? `shared connection ${s.connection.id}: ${s.connection.label}` : '';
  setTokens(el.local, s.listen.join(', ') || `${s.localAddress}:${s.localPort ?? '—'}`);
  let restarts = String(s.restarts);
  const extra = [];
  if (s.attempt) extra.push(`attempt ${s.attempt}`);
  if (s.failedAttempts) extra.push(`${s.failedAttempts} failed`);
  if (extra.length) restarts += ` (${extra.join(', ')})`;
  el.restarts.textContent = restarts;
  renderTraffic(entry);
  el.error.textContent = s.lastError ? `${s.lastError}${s.lastErrorAt ? ` (at ${clock(s.lastErrorAt)})` : ''}` : '';
  if (s.state === 'ready' && s.health?.state === 'unhealthy' && s.health.message) el.error.textContent = `health: ${s.health.message}`;
  tickOne(entry);
}

function renderTraffic(entry) {
  const t = entry.status.traffic;
  entry.el.traffic.textContent = t ? `${t.active} open, ${t.total} in all · ${bytes(t.bytesIn)} in, ${bytes(t.bytesOut)} out` : '—';
}

/** The texts that change with the clock alone. */
function tickOne({ status: s, el }) {
  // Not current: the uptime and the countdown stop where the daemon last left them.
  if (link === 'lost' || link === 'stopped') return;
  el.uptime.textContent = s.state === 'ready' && s.since ? duration(now() - Date.parse(s.since)) : '—';
  if (s.nextRetryAt) {
    const left = Date.parse(s.nextRetryAt) - now();
    el.retry.textContent = left > 0 ? `in ${duration(left)} (${clock(s.nextRetryAt)})` : 'now';
  } else el.retry.textContent = '—';
}

function renderAll(snap) {
  skew = Date.parse(snap.now) - Date.now();
  $('config').textContent = snap.config;
  const names = new Set(snap.services.map((s) => s.name));
  for (const [name, entry] of services) {
    if (!names.has(name)) {
      entry.el.root.remove();
      services.delete(name);
    }
  }
  for (const s of snap.services) renderService(s);
  // In the config's order.
  const list = $('services');
  for (const s of snap.services) list.append(services.get(s.name).el.root);
  $('empty').hidden = snap.services.length > 0;
  renderGroups(snap.tags);
  renderReload(snap.reloadError);
  summarize();
  followLogs();
}

function renderGroups(tags) {
  const list = $('groups');
  list.replaceChildren();
  const groups = [{ label: 'All services', count: services.size, selection: { all: true } }, ...tags.map((t) => ({ label: `#${t}`, count: [...services.values()].filter((e) => e.status.tags.includes(t)).length, selection: { tags: [t] } }))];
  for (const g of groups) {
    const li = document.createElement('li');
    li.setAttribute('role', 'group');
    li.setAttribute('aria-label', g.label);
    const label = document.createElement('span');
    label.className = 'label';
    label.textContent = g.label;
    const count = document.createElement('span');
    count.className = 'count';
    count.textContent = `${g.count} service${g.count === 1 ? '' : 's'}`;
    li.append(label, count);
    for (const action of ['start', 'stop', 'restart']) {
      const b = document.createElement('button');
      b.type = 'button';
      b.dataset.action = action;
      b.textContent = action[0].toUpperCase() + action.slice(1);
      b.setAttribute('aria-label', `${b.textContent} ${g.label === 'All services' ? 'all services' : `the services tagged ${g.label.slice(1)}`}`);
      b.addEventListener('click', () => act(action, g.selection, g.label));
      li.append(b);
    }
    list.append(li);
  }
}

function renderReload(error) {
  $('reload').hidden = !error;
  $('reload-error').textContent = error ?? '';
}

function summarize() {
  const counts = new Map();
  for (const { status } of services.values()) counts.set(status.state, (counts.get(status.state) ?? 0) + 1);
  $('summary').textContent = counts.size ? `(${[...counts].map(([state, n]) => `${n} ${state}`).join(', ')})` : '';
}

function announce(text) {
  const region = $('announce');
  const p = document.createElement('p');
  p.textContent = text;
  region.append(p);
  while (region.childElementCount > 5) region.firstElementChild.remove();
}

function showLink(state, text) {
  const el = $('link');
  el.dataset.link = state;
  el.querySelector('.icon').textContent = { live: '●', reconnecting: '↻', lost: '✕', connecting: '…' }[state];
  el.querySelector('.text').textContent = text;
}

/**
 * Whether what the page shows is current. Once the stream is lost, every card says it is not (dimmed,
 * its clock stopped, its buttons off: nothing would carry them out) and a banner says why, so a stale
 * "ready · healthy" is never read as the present.
 */
function setLink(state) {
  if (link === 'stopped') return;
  link = state;
  const stale = state === 'lost' || state === 'stopped';
  $('services').toggleAttribute('data-stale', stale);
  for (const b of document.querySelectorAll('button[data-action]')) b.disabled = stale;
  $('lost').hidden = !stale;
  if (state === 'live') return showLink('live', 'Live');
  if (state === 'lost') {
    $('lost-text').textContent = 'The page reconnects by itself if it comes back.';
    return showLink('reconnecting', 'Reconnecting…');
  }
  if (state === 'stopped') {
    $('lost-text').textContent = 'This daemon has stopped. Run `localport ui` for the new address.';
    showLink('lost', 'Disconnected: this daemon has stopped.');
    // Nothing at this address will answer again: stop asking.
    events?.close();
    logs?.close();
  }
}

/**
 * EventSource does not tell why it failed: ask the same URL. 403: a daemon listens here with another
 * token (a new daemon); refused: nothing listens on this loopback port any more (only a stopping daemon
 * closes it). Either way this daemon is gone for good. A slow answer is no verdict: keep reconnecting.
 */
async function probe() {
  try {
    const res = await fetch(withToken('api/events'), { method: 'HEAD', cache: 'no-store', signal: AbortSignal.timeout(5000) });
    if (res.status === 403) setLink('stopped');
  } catch (error) {
    if (error instanceof TypeError) setLink('stopped');
  }
}

// ---- the daemon's events -----------------------------------------------------------------------

function connect() {
  events?.close();
  events = new EventSource(withToken('api/events'));
  events.addEventListener('open', () => setLink('live'));
  events.addEventListener('snapshot', (m) => {
    renderAll(JSON.parse(m.data));
    setLink('live');
  });
  events.addEventListener('service', (m) => {
    const { now: at, service } = JSON.parse(m.data);
    skew = Date.parse(at) - Date.now();
    const fresh = !services.has(service.name);
    renderService(service);
    if (fresh) $('services').append(services.get(service.name).el.root);
    summarize();
  });
  events.addEventListener('traffic', (m) => {
    for (const [name, traffic] of Object.entries(JSON.parse(m.data))) {
      const entry = services.get(name);
      if (!entry) continue;
      entry.status = { ...entry.status, traffic };
      renderTraffic(entry);
    }
  });
  events.addEventListener('localport', (m) => {
    const e = JSON.parse(m.data);
    if (e.type === 'state') announce(`${e.service}: ${e.to}${e.error ? ` (${e.error})` : ''}`);
    else if (e.type === 'reload') announce(e.applied ? 'Config reloaded.' : 'The config on disk is invalid; the services keep running.');
    // This page fell behind and missed events: start again from a snapshot.
    else if (e.type === 'dropped') connect();
  });
  events.addEventListener('error', () => {
    if (link === 'stopped') return;
    setLink('lost');
    const source = events;
    void probe().then(() => {
      // The daemon answered with an error the browser does not retry (503: too many pages open): ask again later.
      if (link === 'lost' && source === events && source.readyState === EventSource.CLOSED) setTimeout(() => link === 'lost' && source === events && connect(), 5000);
    });
  });
}

// ---- actions -----------------------------------------------------------------------------------

async function act(action, selection, label, card) {
  card?.setAttribute('aria-busy', 'true');
  try {
    // The token in a header, as JSON: the daemon refuses a POST that is not both (CSRF).
    const res = await fetch(`api/${action}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(selection),
    });
    const body = res.headers.get('content-type')?.startsWith('application/json') ? await res.json() : { ok: false, error: { message: `HTTP ${res.status}` } };
    if (!body.ok) throw Object.assign(new Error(body.error.message), { hint: body.error.hint });
    hideFailure();
    announce(`${action} requested: ${label}`);
  } catch (error) {
    showFailure(`Could not ${action} ${label}: ${error.message}${error.hint ? ` (${error.hint})` : ''}`);
  } finally {
    card?.removeAttribute('aria-busy');
  }
}

function showFailure(text) {
  $('failure-text').textContent = text;
  $('failure').hidden = false;
}
function hideFailure() {
  $('failure').hidden = true;
}

// ---- log tails ---------------------------------------------------------------------------------

let logs;
let logKey = '';
let logTimer;

/** One stream for every open log panel, opened again when the set changes (a browser allows six connections per server). */
function followLogs() {
  clearTimeout(logTimer);
  logTimer = setTimeout(() => {
    const open = [...services].filter(([, e]) => e.el.log.open).map(([name]) => name);
    const key = open.join('\n');
    if (key === logKey && logs && logs.readyState !== EventSource.CLOSED) return;
    logKey = key;
    logs?.close();
    logs = undefined;
    if (!open.length) return;
    const params = new URLSearchParams();
    for (const name of open) params.append('service', name);
    logs = new EventSource(withToken('api/logs', params));
    logs.addEventListener('log', (m) => appendLog(JSON.parse(m.data)));
  }, 50);
}

function appendLog({ service, lines, reset, skipped, error }) {
  const entry = services.get(service);
  if (!entry) return;
  const pre = entry.el.lines;
  const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  if (reset) pre.replaceChildren();
  const note = (text) => {
    const span = document.createElement('span');
    span.className = 'note';
    span.textContent = `${text}\n`;
    pre.append(span);
  };
  if (skipped) note(`… ${bytes(skipped)} skipped …`);
  if (error) note(error);
  if (lines.length) pre.append(document.createTextNode(`${lines.join('\n')}\n`));
  // Text nodes and notes: keep the last LOG_LINES_KEPT or so lines' worth of nodes.
  while (pre.childNodes.length > LOG_LINES_KEPT / 10 && pre.textContent.split('\n').length > LOG_LINES_KEPT) pre.firstChild.remove();
  if (atBottom || reset) pre.scrollTop = pre.scrollHeight;
}

// ---- start -------------------------------------------------------------------------------------

$('failure-close').addEventListener('click', hideFailure);
setInterval(() => {
  if (document.visibilityState === 'visible') for (const entry of services.values()) tickOne(entry);
}, 1000);
connect();
