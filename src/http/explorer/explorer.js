// Factline explorer: a single page over the JSON API under ./api/.
// Plain ES module, no dependencies. All user content goes through textContent (via `h`), never HTML.

const TOKEN_KEY = 'factline.token';
const PAGE = { streams: 50, events: 100, live: 200, workflows: 50 };
const LIVE_MAX_ROWS = 500;

// ---------------------------------------------------------------------------------------------
// DOM helpers

/** Creates an element: attrs become properties (or attributes for data-/aria-/unknown keys), strings become text nodes. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value == null || value === false) continue;
    if (key === 'innerHTML' || key === 'outerHTML' || key === 'style') throw new Error(`h(): ${key} is not allowed`);
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (key.startsWith('data-') || key.startsWith('aria-') || !(key in el)) el.setAttribute(key, value === true ? '' : String(value));
    else el[key] = value;
  }
  return append(el, ...children);
}

/** Appends nodes and strings (as text), flattening arrays and skipping null/false. */
function append(el, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces an element's children (like replaceChildren, but skipping null/false like `h`). */
function replace(el, ...children) {
  el.replaceChildren();
  return append(el, ...children);
}

const $ = (id) => document.getElementById(id);
const link = (href, text, attrs = {}) => h('a', { href, ...attrs }, text);
const badge = (text, kind = text) => h('span', { class: `badge badge-${String(kind).replace(/[^a-z0-9-]/gi, '')}` }, text);
const pre = (value, attrs = {}) => h('pre', { class: 'json', ...attrs }, pretty(value));
const cell = (...children) => h('td', null, ...children);

// ---------------------------------------------------------------------------------------------
// Formatting

const pad = (n, width = 2) => String(n).padStart(width, '0');

function pretty(value) {
  return value === undefined ? 'undefined' : JSON.stringify(value, null, 2);
}

function compact(value, max = 160) {
  const text = value === undefined ? 'undefined' : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function toDate(value) {
  if (value == null || value === '') return null;
  const date = new Date(typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** Local date and time, e.g. 2024-05-01 13:04:05; with ms when asked. */
function fmtTime(value, ms = false) {
  const d = toDate(value);
  if (!d) return value == null ? '' : String(value);
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${ms ? `.${pad(d.getMilliseconds(), 3)}` : ''}`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

function timeEl(value, ms = false) {
  const d = toDate(value);
  return h('time', { datetime: d ? d.toISOString() : null, title: d ? d.toISOString() : null }, fmtTime(value, ms));
}

/** Elapsed time as "+850 ms", "+1.2 s", "+3 min 4 s", "+2 h 5 min", "+1 d 3 h". */
function fmtElapsed(ms) {
  if (!Number.isFinite(ms)) return '';
  const sign = ms < 0 ? '-' : '+';
  const abs = Math.abs(ms);
  if (abs < 1000) return `${sign}${Math.round(abs)} ms`;
  if (abs < 60_000) return `${sign}${(abs / 1000).toFixed(1)} s`;
  const s = Math.floor(abs / 1000);
  if (abs < 3_600_000) return `${sign}${Math.floor(s / 60)} min ${s % 60} s`;
  if (abs < 86_400_000) return `${sign}${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${sign}${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

// ---------------------------------------------------------------------------------------------
// Routes (hash-based so views can be linked)

const enc = encodeURIComponent;
const href = {
  streams: (prefix) => (prefix ? `#/streams?prefix=${enc(prefix)}` : '#/streams'),
  stream: (name, version) => `#/stream/${enc(name)}${version ? `/v/${version}` : ''}`,
  event: (id) => `#/event/${enc(id)}`,
  correlation: (id) => `#/correlation/${enc(id)}`,
  workflows: (status) => (status ? `#/workflows?status=${enc(status)}` : '#/workflows'),
  workflow: (id) => `#/workflow/${enc(id)}`,
};

function safeDecode(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function parseHash(hash) {
  const body = hash.replace(/^#/, '');
  const cut = body.search(/[?&]/);
  const path = cut < 0 ? body : body.slice(0, cut);
  const query = new URLSearchParams(cut < 0 ? '' : body.slice(cut + 1));
  const parts = path.split('/').filter(Boolean).map(safeDecode);
  return { parts, query };
}

/** Moves a `token=...` out of the hash into sessionStorage, and out of the address bar and history. */
function takeTokenFromHash() {
  const body = location.hash.replace(/^#/, '');
  const match = /(^|[?&])token=([^&]*)/.exec(body);
  if (!match) return;
  setToken(safeDecode(match[2]));
  let rest = body.slice(match.index + match[0].length);
  if (match[1] !== '&') rest = rest.replace(/^&/, '');
  const cleaned = (body.slice(0, match.index) + (match[1] === '?' && rest ? '?' : '') + rest).replace(/[?&]$/, '');
  history.replaceState(history.state, '', `${location.pathname}${location.search}${cleaned ? `#${cleaned}` : ''}`);
}

/** Updates the address bar for the current view without re-rendering it. */
function replaceHash(hash) {
  if (location.hash !== hash) history.replaceState(history.state, '', hash);
}

// ---------------------------------------------------------------------------------------------
// API client

let authReads = false;

const getToken = () => sessionStorage.getItem(TOKEN_KEY) ?? '';
function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
  const input = $('token');
  if (input && input.value !== token) input.value = token;
}

class ApiError extends Error {
  constructor(problem) {
    super(problem.detail || problem.title || 'Request failed');
    this.name = 'ApiError';
    this.problem = problem;
    this.status = problem.status;
    this.code = problem.code;
  }
}

/** Calls the API (relative to the page, so a mount path like /factline/ works) and returns the JSON body. */
async function api(path, { query, method = 'GET', body, signal, retried = false } = {}) {
  const url = new URL(path, document.baseURI);
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value != null && value !== '') url.searchParams.set(key, String(value));
  }
  const headers = { Accept: 'application/json' };
  const token = getToken();
  if (token && (method !== 'GET' || authReads)) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(url, { method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401 && method === 'GET' && token && !authReads && !retried) {
    authReads = true;
    return api(path, { query, method, body, signal, retried: true });
  }
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) {
    const problem = json && typeof json === 'object' ? json : {};
    throw new ApiError({
      title: problem.title || `HTTP ${response.status}`,
      detail: problem.detail || (json ? '' : text.slice(0, 300) || response.statusText),
      status: problem.status || response.status,
      code: problem.code,
      type: problem.type,
    });
  }
  return json;
}

let infoCache = null;

async function getInfo({ fresh = false, signal } = {}) {
  if (!infoCache || fresh) {
    const info = await api('api/info', { signal });
    authReads = authReads || Boolean(info?.auth?.reads);
    infoCache = info;
    renderStoreInfo(info);
  }
  return infoCache;
}

function renderStoreInfo(info) {
  replace($('store-info'),
    h('span', { class: 'store-kind' }, info.store ?? '?'),
    ' · head ',
    h('span', { id: 'head-position', class: 'mono' }, info.head ?? '?'),
    info.version ? h('span', { class: 'muted' }, ` · v${info.version}`) : null,
  );
}

function setHead(head) {
  if (head == null) return;
  if (infoCache) infoCache.head = head;
  const el = $('head-position');
  if (el) el.textContent = head;
}

// ---------------------------------------------------------------------------------------------
// Error banner

function showError(error) {
  if (error?.name === 'AbortError') return;
  const banner = $('error');
  const problem = error instanceof ApiError ? error.problem : null;
  const network = error instanceof TypeError && /fetch|network/i.test(error.message);
  const title = problem ? problem.title : network ? 'Network error' : 'Error';
  const detail = problem ? problem.detail : String(error?.message ?? error);
  const needsToken = problem && (problem.status === 401 || problem.status === 403);
  replace(banner,
    h('div', { class: 'error-text' },
      h('strong', { class: 'error-title' }, title),
      problem?.status ? h('span', { class: 'error-status' }, ` (${problem.status}${problem.code ? ` ${problem.code}` : ''})`) : null,
      detail ? h('span', { class: 'error-detail' }, ` ${detail}`) : null,
      needsToken ? h('div', { class: 'error-hint' }, 'Fill in the Token field at the top right with a valid bearer token, then try again.') : null,
    ),
    h('button', { type: 'button', class: 'error-close', title: 'Dismiss', 'aria-label': 'Dismiss', onclick: clearError }, '×'),
  );
  banner.hidden = false;
}

function clearError() {
  const banner = $('error');
  banner.hidden = true;
  banner.replaceChildren();
}

// ---------------------------------------------------------------------------------------------
// View lifecycle: each view gets a context whose signal aborts its requests and timers when left.

let current = null;

function createContext() {
  const controller = new AbortController();
  const cleanups = [];
  const timers = new Set();
  return {
    signal: controller.signal,
    get alive() {
      return !controller.signal.aborted;
    },
    onLeave(fn) {
      cleanups.push(fn);
    },
    /** setTimeout that never fires once the view is left. */
    later(fn, ms) {
      const id = setTimeout(() => {
        timers.delete(id);
        if (!controller.signal.aborted) fn();
      }, ms);
      timers.add(id);
      return id;
    },
    leave() {
      controller.abort();
      for (const id of timers) clearTimeout(id);
      for (const fn of cleanups.splice(0)) fn();
    },
  };
}

function setView(...children) {
  replace($('view'), ...children);
}

const routes = {
  streams: (ctx, parts, query) => streamsView(ctx, query.get('prefix') ?? ''),
  stream: (ctx, parts) => streamView(ctx, parts[1] ?? '', parts[2] === 'v' ? Number(parts[3]) : null),
  event: (ctx, parts) => eventView(ctx, parts[1] ?? ''),
  correlation: (ctx, parts) => correlationView(ctx, parts[1] ?? ''),
  live: (ctx) => liveView(ctx),
  projections: (ctx) => projectionsView(ctx),
  workflows: (ctx, parts, query) => workflowsView(ctx, query.get('status') ?? ''),
  workflow: (ctx, parts) => workflowView(ctx, parts[1] ?? ''),
};

const navOf = { stream: 'streams', event: 'streams', correlation: 'streams', workflow: 'workflows' };

function route() {
  current?.leave();
  clearError();
  const { parts, query } = parseHash(location.hash);
  const name = Object.hasOwn(routes, parts[0]) ? parts[0] : 'streams';
  for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('active', a.dataset.nav === (navOf[name] ?? name));
  document.title = 'Factline explorer';
  const ctx = (current = createContext());
  setView(h('p', { class: 'muted' }, 'Loading…'));
  Promise.resolve()
    .then(() => routes[name](ctx, parts, query))
    .catch((error) => ctx.alive && showError(error));
}

// ---------------------------------------------------------------------------------------------
// Streams

async function streamsView(ctx, initialPrefix) {
  document.title = 'Streams · Factline';
  const search = h('input', {
    id: 'stream-search', type: 'search', placeholder: 'Stream name prefix…', value: initialPrefix,
    autocomplete: 'off', spellcheck: false, 'aria-label': 'Stream name prefix',
  });
  const rows = h('tbody', { id: 'stream-list' });
  const more = h('button', { type: 'button', class: 'more', hidden: true }, 'More');
  const status = h('p', { class: 'muted' });
  setView(
    h('div', { class: 'toolbar' }, h('h1', null, 'Streams'), search),
    h('table', { class: 'table streams' },
      h('thead', null, h('tr', null, h('th', null, 'Stream'), h('th', { class: 'num' }, 'Version'), h('th', null, 'Last updated'), h('th', null, 'Created'))),
      rows),
    status, more,
  );

  let seq = 0;
  let next = null;
  async function load(prefix, after) {
    const mine = ++seq;
    more.disabled = true;
    try {
      const page = await api('api/streams', { query: { prefix, after, limit: PAGE.streams }, signal: ctx.signal });
      if (mine !== seq) return;
      if (!after) rows.replaceChildren();
      append(rows, page.streams.map(streamRow));
      next = page.next;
      more.hidden = !next;
      status.textContent = rows.children.length ? '' : prefix ? `No streams start with “${prefix}”.` : 'No streams yet.';
    } finally {
      if (mine === seq) more.disabled = false;
    }
  }

  let timer = null;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      replaceHash(href.streams(search.value));
      load(search.value, null).catch(showError);
    }, 250);
  });
  ctx.onLeave(() => clearTimeout(timer));
  more.addEventListener('click', () => load(search.value, next).catch(showError));
  await load(initialPrefix, null);
}

function streamRow(s) {
  return h('tr', { 'data-stream': s.stream },
    cell(link(href.stream(s.stream), s.stream, { class: 'stream-link' }), s.deleted ? badge('deleted') : null),
    h('td', { class: 'num' }, s.version),
    cell(timeEl(s.updatedAt)),
    cell(timeEl(s.createdAt)));
}

// ---------------------------------------------------------------------------------------------
// Events (shared by the stream view, the event view and the live tail)

function eventCard(event, { showStream = false, onState = null } = {}) {
  const metadata = event.metadata ?? {};
  return h('article', { class: 'event-row card', 'data-version': event.version, 'data-id': event.id },
    h('div', { class: 'event-head' },
      link(href.event(event.id), `v${event.version}`, { class: 'event-link version', title: `Event ${event.id}` }),
      h('span', { class: 'event-type' }, event.type),
      showStream ? link(href.stream(event.stream, event.version), event.stream, { class: 'stream-ref' }) : null,
      h('span', { class: 'spacer' }),
      h('span', { class: 'muted mono', title: 'Position in $all' }, `#${event.position}`),
      timeEl(event.recordedAt, true),
      onState ? h('button', { type: 'button', class: 'small', title: 'Show the state after this event', onclick: () => onState(event.version) }, 'state') : null),
    h('div', { class: 'event-body' },
      h('div', { class: 'json-block' }, h('div', { class: 'label' }, 'data'), pre(event.data)),
      Object.keys(metadata).length ? h('div', { class: 'json-block' }, h('div', { class: 'label' }, 'metadata'), pre(metadata)) : null));
}

function findDecider(info, stream) {
  return (info.deciders ?? []).find((d) => stream.startsWith(d.prefix)) ?? null;
}

async function streamView(ctx, name, focusVersion) {
  document.title = `${name} · Factline`;
  const path = `api/streams/${enc(name)}`;
  const meta = h('p', { class: 'muted stream-meta' });
  const list = h('div', { id: 'stream-events', class: 'events' });
  const more = h('button', { type: 'button', class: 'more', hidden: true }, 'More');
  const side = h('aside', { class: 'side' });
  setView(
    h('div', { class: 'crumbs' }, link(href.streams(), 'Streams'), ' / '),
    h('h1', { class: 'stream-title' }, name),
    meta,
    h('div', { class: 'columns' }, h('section', { class: 'main-col' }, list, more), side),
  );

  const [info, page] = await Promise.all([getInfo({ signal: ctx.signal }), api(path, { query: { from: 1, limit: PAGE.events }, signal: ctx.signal })]);
  const decider = findDecider(info, name);
  const travel = decider && page.version > 0 ? timeTravel(ctx, name, decider, page.version, focusVersion) : null;
  const onState = travel ? (v) => travel.show(v) : null;

  append(meta, `version ${page.version}`, page.deleted ? badge('deleted') : null, decider ? ` · decider ${decider.name}` : null);
  let next = page.next;
  const addEvents = (events) => {
    append(list, events.map((e) => eventCard(e, { onState })));
    more.hidden = !next;
    travel?.highlight();
  };
  if (!page.events.length) list.append(h('p', { class: 'muted' }, 'This stream has no events.'));
  addEvents(page.events);
  more.addEventListener('click', async () => {
    more.disabled = true;
    try {
      const nextPage = await api(path, { query: { from: next, limit: PAGE.events }, signal: ctx.signal });
      next = nextPage.next;
      addEvents(nextPage.events);
    } catch (error) {
      showError(error);
    } finally {
      more.disabled = false;
    }
  });

  if (travel) side.append(travel.panel);
  else if (!decider) side.append(h('p', { class: 'note' }, 'Register a decider for this stream in factline.config.ts to see its state at each version.'));
  travel?.show(travel.version, { scroll: focusVersion != null });
}

/** The time-travel panel: a slider over the versions, the state after the chosen one and its diff. */
function timeTravel(ctx, name, decider, max, focus) {
  const start = Number.isInteger(focus) && focus >= 1 && focus <= max ? focus : max;
  const slider = h('input', { id: 'time-travel', type: 'range', min: 1, max, step: 1, value: start, 'aria-label': 'Version' });
  const label = h('div', { id: 'time-travel-version', class: 'tt-label', 'aria-live': 'polite' });
  const prev = h('button', { type: 'button', id: 'time-travel-prev', title: 'Previous version', 'aria-label': 'Previous version' }, '◀');
  const next = h('button', { type: 'button', id: 'time-travel-next', title: 'Next version', 'aria-label': 'Next version' }, '▶');
  const state = h('pre', { id: 'state', class: 'json state' });
  const diff = h('ul', { id: 'state-diff', class: 'diff' });
  const panel = h('div', { class: 'time-travel card' },
    h('h2', null, 'Time travel ', h('span', { class: 'muted' }, `(${decider.name})`)),
    h('div', { class: 'tt-controls' }, prev, slider, next),
    label,
    h('h3', null, 'Changes'), diff,
    h('h3', null, 'State after this version'), state);

  const tt = { panel, version: start };
  let latest = 0;

  const setLabel = (version, event) => replace(label,
    h('strong', null, `version ${version} of ${max}`),
    event ? h('span', { class: 'tt-event' }, ' · ', h('span', { class: 'event-type' }, event.type), ' · ', timeEl(event.recordedAt, true)) : null);

  tt.highlight = () => {
    for (const row of document.querySelectorAll('#stream-events .event-row')) {
      row.classList.toggle('current', row.dataset.version === String(tt.version));
    }
  };

  tt.show = async (version, { scroll = true } = {}) => {
    version = Math.min(max, Math.max(1, Math.round(version) || max));
    tt.version = version;
    slider.value = String(version);
    prev.disabled = version <= 1;
    next.disabled = version >= max;
    const row = [...document.querySelectorAll('#stream-events .event-row')].find((r) => r.dataset.version === String(version));
    setLabel(version, row ? { type: row.querySelector('.event-type')?.textContent, recordedAt: row.querySelector('time')?.getAttribute('datetime') } : null);
    tt.highlight();
    if (scroll) row?.scrollIntoView({ block: 'nearest' });
    replaceHash(href.stream(name, version));
    panel.classList.add('loading');
    const mine = ++latest;
    try {
      const answer = await api(`api/streams/${enc(name)}/state`, { query: { version }, signal: ctx.signal });
      if (mine !== latest) return; // an older answer that arrived late
      state.textContent = pretty(answer.state);
      replace(diff, diffItems(answer.diff ?? []));
      if (answer.event) setLabel(version, answer.event);
    } catch (error) {
      if (mine === latest) showError(error);
    } finally {
      if (mine === latest) panel.classList.remove('loading');
    }
  };

  slider.addEventListener('input', () => tt.show(Number(slider.value)));
  prev.addEventListener('click', () => tt.show(tt.version - 1));
  next.addEventListener('click', () => tt.show(tt.version + 1));
  return tt;
}

function diffItems(entries) {
  if (!entries.length) return [h('li', { class: 'diff-none muted' }, 'No change to the state.')];
  return entries.map((d) => h('li', { class: `diff-entry diff-${String(d.kind).replace(/[^a-z]/gi, '')}` },
    h('span', { class: 'diff-path mono' }, d.path || '(root)'),
    h('span', { class: 'diff-kind' }, d.kind),
    h('span', { class: 'diff-values mono' },
      'before' in d ? h('span', { class: 'diff-before' }, compact(d.before, 400)) : null,
      'before' in d && 'after' in d ? ' → ' : null,
      'after' in d ? h('span', { class: 'diff-after' }, compact(d.after, 400)) : null)));
}

// ---------------------------------------------------------------------------------------------
// One event, its causes and effects

async function eventView(ctx, id) {
  document.title = `Event ${id} · Factline`;
  const answer = await api(`api/events/${enc(id)}`, { signal: ctx.signal });
  const { event, causes = [], effects = [], rootCauseId = null, truncated = false } = answer;
  document.title = `${event.type} · Factline`;
  const md = event.metadata ?? {};
  const field = (term, ...value) => [h('dt', null, term), h('dd', null, ...value)];
  setView(
    h('div', { class: 'crumbs' }, link(href.streams(), 'Streams'), ' / ', link(href.stream(event.stream), event.stream), ' / '),
    h('h1', null, event.type, ' ', h('span', { class: 'muted' }, `v${event.version}`)),
    h('div', { class: 'columns' },
      h('section', { class: 'main-col' },
        h('dl', { class: 'fields card' },
          field('id', h('span', { class: 'mono' }, event.id)),
          field('stream', link(href.stream(event.stream), event.stream, { class: 'stream-ref' })),
          field('version', link(href.stream(event.stream, event.version), String(event.version), { title: 'Open the stream at this version' })),
          field('position', h('span', { class: 'mono' }, event.position)),
          field('type', h('span', { class: 'event-type' }, event.type)),
          field('schema version', String(event.schemaVersion ?? '')),
          field('recorded', timeEl(event.recordedAt, true)),
          field('correlation id', typeof md.correlationId === 'string' && md.correlationId
            ? link(href.correlation(md.correlationId), md.correlationId, { id: 'correlation-id', class: 'mono', title: 'Every event of this correlation' })
            : h('span', { class: 'muted' }, 'none')),
          field('causation id', md.causationId ? link(href.event(md.causationId), md.causationId, { class: 'mono' }) : h('span', { class: 'muted' }, 'none'))),
        h('h2', null, 'Data'), pre(event.data),
        h('h2', null, 'Metadata'), pre(md)),
      h('aside', { class: 'side' },
        h('h2', null, 'Caused by'), relatedList(causes, 'causes', rootCauseId ? null : 'No cause recorded.'),
        rootCauseId ? h('p', { id: 'root-cause', class: 'muted' }, 'first caused by ', h('span', { class: 'mono' }, rootCauseId), ' (a command, or an event of another store)') : null,
        h('h2', null, 'Caused'), relatedList(effects, 'effects', 'No known effects.'),
        truncated ? h('p', { id: 'chain-truncated', class: 'note' }, `The chain goes on: only the nearest ${causes.length + effects.length} causes and effects are shown.`) : null)),
  );
}

/** Events as small cards; an effect's `depth` (1: caused by the event itself) indents it. */
function relatedList(events, id, empty) {
  if (!events.length) return empty ? h('p', { id, class: 'muted' }, empty) : null;
  return h('ol', { id, class: 'related' }, events.map((e) => h('li', { class: 'card', 'data-depth': e.depth == null ? null : Math.min(e.depth, 6) },
    link(href.event(e.id), e.type, { class: 'event-link event-type' }),
    h('div', { class: 'muted' }, link(href.stream(e.stream, e.version), `${e.stream} v${e.version}`, { class: 'stream-ref' }), ' · ', timeEl(e.recordedAt)))));
}

// ---------------------------------------------------------------------------------------------
// The events of one correlation

async function correlationView(ctx, id) {
  document.title = `Correlation ${id} · Factline`;
  const rows = h('tbody', { id: 'correlation-events' });
  const more = h('button', { type: 'button', class: 'more', hidden: true }, 'More');
  setView(
    h('div', { class: 'crumbs' }, link(href.streams(), 'Streams'), ' / '),
    h('h1', null, 'Correlation ', h('span', { class: 'mono muted' }, id)),
    h('table', { class: 'table live' },
      h('thead', null, h('tr', null, ...['Position', 'Time', 'Stream', 'Version', 'Type', 'Data'].map((t) => h('th', { class: /Position|Version/.test(t) ? 'num' : null }, t)))),
      rows),
    more,
  );
  let next = null;
  async function load(after) {
    more.disabled = true;
    try {
      const page = await api(`api/correlations/${enc(id)}`, { query: { after, limit: PAGE.events }, signal: ctx.signal });
      append(rows, page.events.map(liveRow));
      next = page.next;
      more.hidden = !next;
      if (!rows.children.length) rows.append(h('tr', null, h('td', { colSpan: 6, class: 'muted' }, 'No events carry this correlation id.')));
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener('click', () => load(next).catch(showError));
  await load(null);
}

// ---------------------------------------------------------------------------------------------
// Live tail of $all

async function liveView(ctx) {
  document.title = 'Live · Factline';
  const rows = h('tbody', { id: 'live-events' });
  const status = h('span', { class: 'muted', id: 'live-status' });
  const pause = h('button', { type: 'button', id: 'live-pause' }, 'Pause');
  const fromStart = h('button', { type: 'button', id: 'live-from-start', title: 'Reload from the first event' }, 'From the start');
  setView(
    h('div', { class: 'toolbar' }, h('h1', null, 'Live'), pause, fromStart, status),
    h('table', { class: 'table live' },
      h('thead', null, h('tr', null, ...['Position', 'Time', 'Stream', 'Version', 'Type', 'Data'].map((t) => h('th', { class: /Position|Version/.test(t) ? 'num' : null }, t)))),
      rows),
  );

  const info = await getInfo({ fresh: true, signal: ctx.signal });
  let after = info.head ?? '0';
  let paused = false;
  let received = 0;
  let timer = null;
  let generation = 0; // bumps on "from the start" so an answer for the old cursor is dropped

  const showStatus = () => {
    status.textContent = `${paused ? 'Paused' : 'Following $all'} after position ${after} · ${received} new event${received === 1 ? '' : 's'}`;
  };

  let inFlight = false;
  async function poll() {
    timer = null;
    if (paused || inFlight || !ctx.alive) return;
    inFlight = true;
    const mine = generation;
    let delay = 1000;
    try {
      const page = await api('api/events', { query: { after, limit: PAGE.live }, signal: ctx.signal });
      if (mine === generation) {
        addRows(page.events);
        if (page.events.length) after = page.events[page.events.length - 1].position;
        if (page.events.length >= PAGE.live) delay = 50; // catching up
        setHead(page.head);
        showStatus();
      }
    } catch (error) {
      if (!ctx.alive) return;
      showError(error);
      delay = 3000;
    } finally {
      inFlight = false;
    }
    schedule(mine === generation ? delay : 0);
  }

  function schedule(delay) {
    if (timer !== null) clearTimeout(timer);
    timer = paused ? null : ctx.later(poll, delay);
  }

  function addRows(events) {
    if (!events.length) return;
    received += events.length;
    const fragment = document.createDocumentFragment();
    for (const e of [...events].reverse()) fragment.append(liveRow(e));
    rows.prepend(fragment);
    while (rows.children.length > LIVE_MAX_ROWS) rows.lastElementChild.remove();
  }

  pause.addEventListener('click', () => {
    paused = !paused;
    pause.textContent = paused ? 'Resume' : 'Pause';
    pause.classList.toggle('active', paused);
    showStatus();
    schedule(0);
  });
  fromStart.addEventListener('click', () => {
    generation += 1;
    after = '0';
    received = 0;
    rows.replaceChildren();
    showStatus();
    schedule(0);
  });
  showStatus();
  schedule(0);
}

function liveRow(e) {
  return h('tr', { class: 'event-row', 'data-version': e.version, 'data-id': e.id },
    h('td', { class: 'num mono' }, e.position),
    cell(timeEl(e.recordedAt, true)),
    cell(link(href.stream(e.stream, e.version), e.stream, { class: 'stream-ref' })),
    h('td', { class: 'num' }, e.version),
    cell(link(href.event(e.id), e.type, { class: 'event-link event-type' })),
    h('td', { class: 'mono preview', title: compact(e.data, 2000) }, compact(e.data, 140)));
}

// ---------------------------------------------------------------------------------------------
// Projections

async function projectionsView(ctx) {
  document.title = 'Projections · Factline';
  const rows = h('tbody', { id: 'projection-list' });
  const head = h('span', { class: 'muted' });
  setView(
    h('div', { class: 'toolbar' }, h('h1', null, 'Projections'), head),
    h('table', { class: 'table projections' },
      h('thead', null, h('tr', null, ...['Name', 'Generation', 'Version', 'Status', 'Checkpoint', 'Behind', 'Owner', 'Error', 'Rebuild']
        .map((t) => h('th', { class: ['Generation', 'Version', 'Checkpoint', 'Behind'].includes(t) ? 'num' : null }, t)))),
      rows),
  );

  const byName = new Map();
  const requested = new Map(); // name -> refreshes seen since the rebuild was asked for

  async function rebuild(name, button) {
    button.disabled = true;
    try {
      await api(`api/projections/${enc(name)}/rebuild`, { method: 'POST', signal: ctx.signal });
      requested.set(name, 0);
      clearError();
      await refresh();
    } catch (error) {
      showError(error);
    } finally {
      button.disabled = false;
    }
  }

  function rowFor(name) {
    let row = byName.get(name);
    if (row) return row;
    const cells = {};
    for (const key of ['name', 'generation', 'version', 'status', 'checkpoint', 'behind', 'owner', 'error', 'rebuild']) {
      cells[key] = h('td', { class: ['generation', 'version', 'checkpoint', 'behind'].includes(key) ? 'num mono' : key });
    }
    const button = h('button', { type: 'button', 'data-rebuild': name, class: 'small' }, 'Rebuild');
    button.addEventListener('click', () => rebuild(name, button));
    const progress = h('progress', { max: 1, value: 0, hidden: true });
    const note = h('span', { class: 'rebuild-note muted' });
    cells.name.append(h('strong', null, name));
    cells.rebuild.append(button, progress, note);
    row = { tr: h('tr', { 'data-projection': name }, Object.values(cells)), cells, button, progress, note };
    byName.set(name, row);
    return row;
  }

  function update(p) {
    const row = rowFor(p.name);
    const { cells } = row;
    cells.generation.textContent = p.generation ?? '';
    cells.version.textContent = p.version ?? '';
    cells.status.replaceChildren(badge(p.status ?? '?'));
    cells.checkpoint.textContent = p.checkpoint ?? '';
    cells.behind.textContent = p.behind ?? '';
    cells.behind.classList.toggle('lagging', p.behind != null && p.behind !== '0');
    cells.owner.textContent = p.owner || '—';
    cells.error.textContent = p.error ?? '';
    updateRebuild(row, p);
    return row.tr;
  }

  function updateRebuild(row, p) {
    const r = p.rebuild;
    const seen = requested.get(p.name);
    const running = r?.state === 'running';
    if (seen !== undefined) {
      if (running || (r && seen >= 2) || seen >= 10) requested.delete(p.name);
      else requested.set(p.name, seen + 1);
    }
    const waiting = requested.has(p.name) && !running;
    row.progress.hidden = !(running || waiting);
    if (running && r.total > 0) {
      row.progress.max = r.total;
      row.progress.value = Math.min(r.done ?? 0, r.total);
    } else row.progress.removeAttribute('value'); // indeterminate
    row.button.hidden = running || waiting;
    row.note.textContent = running ? `${r.done ?? 0} / ${r.total ?? '?'}`
      : waiting ? 'starting…'
      : r?.state === 'failed' ? `rebuild failed${r.error ? `: ${r.error}` : ''}`
      : r?.state === 'done' ? `rebuilt ${r.done ?? ''}${r.total != null ? ` / ${r.total}` : ''}` : '';
    row.note.classList.toggle('failed', r?.state === 'failed');
  }

  async function refresh() {
    const answer = await api('api/projections', { signal: ctx.signal });
    if (!ctx.alive) return;
    setHead(answer.head);
    head.textContent = `head ${answer.head} · refreshed ${fmtTime(Date.now())}`;
    const trs = answer.projections.map(update);
    const names = new Set(answer.projections.map((p) => p.name));
    for (const name of [...byName.keys()]) if (!names.has(name)) byName.delete(name);
    replace(rows, trs);
    if (!trs.length) rows.append(h('tr', null, h('td', { colSpan: 9, class: 'muted' }, 'No projections.')));
  }

  async function loop() {
    try {
      await refresh();
    } catch (error) {
      if (ctx.alive) showError(error);
    }
    ctx.later(loop, 2000);
  }
  await loop();
}

// ---------------------------------------------------------------------------------------------
// Workflows

const WORKFLOW_STATUSES = ['pending', 'running', 'sleeping', 'waiting', 'completed', 'failed', 'compensated', 'cancelled'];

async function workflowsView(ctx, status) {
  document.title = 'Workflows · Factline';
  const filter = h('select', { id: 'workflow-status', 'aria-label': 'Status' },
    h('option', { value: '' }, 'All statuses'),
    WORKFLOW_STATUSES.map((s) => h('option', { value: s, selected: s === status }, s)));
  const rows = h('tbody', { id: 'workflow-list' });
  const more = h('button', { type: 'button', class: 'more', hidden: true }, 'More');
  const empty = h('p', { class: 'muted' });
  setView(
    h('div', { class: 'toolbar' }, h('h1', null, 'Workflows'), filter),
    h('table', { class: 'table workflows' },
      h('thead', null, h('tr', null, ...['Id', 'Workflow', 'Status', 'Version', 'Created', 'Updated', 'Waiting / error'].map((t) => h('th', { class: t === 'Version' ? 'num' : null }, t)))),
      rows),
    empty, more,
  );

  let seq = 0;
  let next = null;
  async function load(after) {
    const mine = ++seq;
    more.disabled = true;
    try {
      const page = await api('api/workflows', { query: { status: filter.value, after, limit: PAGE.workflows }, signal: ctx.signal });
      if (mine !== seq) return;
      if (!after) rows.replaceChildren();
      append(rows, page.workflows.map(workflowRow));
      next = page.next;
      more.hidden = !next;
      empty.textContent = rows.children.length ? '' : 'No workflows.';
    } finally {
      if (mine === seq) more.disabled = false;
    }
  }
  filter.addEventListener('change', () => {
    replaceHash(href.workflows(filter.value));
    load(null).catch(showError);
  });
  more.addEventListener('click', () => load(next).catch(showError));
  await load(null);
}

function workflowWaiting(w) {
  if (w.error?.message) return h('span', { class: 'error-text-inline' }, w.error.message);
  const parts = [];
  if (w.waitingFor) parts.push(`awaits ${typeof w.waitingFor === 'string' ? w.waitingFor : compact(w.waitingFor, 80)}`);
  if (w.wakeAt) parts.push(`wakes ${fmtTime(w.wakeAt)}`);
  return parts.join(' · ');
}

function workflowRow(w) {
  return h('tr', { 'data-workflow': w.id },
    cell(link(href.workflow(w.id), w.id, { class: 'workflow-link mono' })),
    cell(w.workflow),
    cell(badge(w.status)),
    h('td', { class: 'num' }, w.version),
    cell(timeEl(w.createdAt)),
    cell(timeEl(w.updatedAt)),
    cell(workflowWaiting(w)));
}

async function workflowView(ctx, id) {
  document.title = `Workflow ${id} · Factline`;
  const w = await api(`api/workflows/${enc(id)}`, { signal: ctx.signal });
  const history = w.history ?? [];
  const field = (term, value) => (value == null || value === '' ? [] : [h('dt', null, term), h('dd', null, value)]);
  const historyStream = history[0]?.stream;
  setView(
    h('div', { class: 'crumbs' }, link(href.workflows(), 'Workflows'), ' / '),
    h('h1', null, w.workflow ?? 'Workflow', ' ', h('span', { class: 'mono muted' }, w.id), ' ', badge(w.status ?? '?')),
    h('dl', { class: 'fields card' },
      field('id', h('span', { class: 'mono' }, w.id)),
      field('workflow', w.workflow),
      field('status', badge(w.status ?? '?')),
      field('version', w.version == null ? null : String(w.version)),
      field('created', timeEl(w.createdAt, true)),
      field('updated', timeEl(w.updatedAt, true)),
      field('wakes at', w.wakeAt ? timeEl(w.wakeAt, true) : null),
      field('waiting for', w.waitingFor ? (typeof w.waitingFor === 'string' ? w.waitingFor : compact(w.waitingFor)) : null),
      field('error', w.error?.message ? h('span', { class: 'error-text-inline' }, w.error.message) : null),
      field('history', historyStream ? link(href.stream(historyStream), historyStream, { class: 'stream-ref' }) : null)),
    'result' in w && w.result !== undefined ? [h('h2', null, 'Result'), pre(w.result)] : null,
    h('h2', null, 'Timeline'),
    history.length ? timeline(history) : h('p', { class: 'muted' }, 'No history.'),
  );
}

function timelineKind(type) {
  if (/Compensat/.test(type)) return /Failed/.test(type) ? 'failure' : 'compensation';
  if (/Failed|TimedOut|Cancel/.test(type)) return 'failure';
  if (/Timer/.test(type)) return 'timer';
  if (/Event(Awaited|Received)/.test(type)) return 'wait';
  if (/Step|Started|Completed/.test(type)) return 'step';
  return 'other';
}

/** A one-line summary of a history event's data: step name, due time, awaited type, error message. */
function timelineSummary(e) {
  const d = e.data && typeof e.data === 'object' ? e.data : {};
  const parts = [];
  if (d.step) parts.push(`step ${d.step}`);
  if (d.name && !d.step) parts.push(String(d.name));
  if (d.attempt != null) parts.push(`attempt ${d.attempt}${d.final ? ' (final)' : ''}`);
  if (d.until != null) parts.push(`due ${fmtTime(d.until, true)}`);
  if (e.type === 'WorkflowEventAwaited' && d.type) parts.push(`awaits ${d.type}`);
  if (d.timeoutAt != null) parts.push(`timeout ${fmtTime(d.timeoutAt, true)}`);
  if (d.eventId) parts.push(`event ${d.eventId}`);
  if (d.kind && d.value !== undefined) parts.push(`${d.kind} = ${compact(d.value, 40)}`);
  const error = d.error?.message ?? (typeof d.error === 'string' ? d.error : null);
  if (error) parts.push(`error: ${error}`);
  if (d.compensationError?.message) parts.push(`compensation error: ${d.compensationError.message}`);
  if (e.type === 'WorkflowStarted' && d.input !== undefined) parts.push(`input ${compact(d.input, 80)}`);
  if (e.type === 'WorkflowCompleted' && d.result !== undefined) parts.push(`result ${compact(d.result, 80)}`);
  if (e.type === 'WorkflowStepCompleted' && d.result !== undefined) parts.push(`→ ${compact(d.result, 60)}`);
  return parts.join(' · ');
}

function timeline(history) {
  const start = toDate(history[0].recordedAt)?.getTime();
  return h('ol', { id: 'timeline', class: 'timeline' }, history.map((e) => {
    const at = toDate(e.recordedAt)?.getTime();
    const kind = timelineKind(e.type);
    return h('li', { class: `tl-row tl-${kind}`, 'data-version': e.version },
      h('span', { class: 'tl-time' }, timeEl(e.recordedAt, true)),
      h('span', { class: 'tl-elapsed mono' }, start != null && at != null ? fmtElapsed(at - start) : ''),
      link(href.event(e.id), e.type.replace(/^Workflow/, ''), { class: 'tl-type', title: e.type }),
      h('span', { class: 'tl-summary' }, timelineSummary(e)));
  }));
}

// ---------------------------------------------------------------------------------------------
// Start

function start() {
  takeTokenFromHash();
  const tokenInput = $('token');
  tokenInput.value = getToken();
  tokenInput.addEventListener('input', () => setToken(tokenInput.value.trim()));
  $('token-form').addEventListener('submit', (event) => event.preventDefault());
  window.addEventListener('hashchange', () => {
    takeTokenFromHash();
    route();
  });
  getInfo().catch(showError);
  route();
}

start();
