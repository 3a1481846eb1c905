import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConfigurationError, ValidationError } from '../events/errors.js';
import type { ExpectedVersion, NewEvent, RecordedEvent } from '../events/types.js';
import { load } from '../decider/load.js';
import type { DeciderEntry } from '../config.js';
import { withContext } from '../context/message-context.js';
import { inHeadersTrace } from '../observability/telemetry.js';
import { uuidv7 } from '../events/uuid.js';
import type { Decider } from '../decider/decider.js';
import type { ProjectionDefinition } from '../projections/define.js';
import { internalsOf } from '../projections/internals.js';
import { rebuildProjection } from '../projections/rebuild.js';
import type { EventStore } from '../store/event-store.js';
import { ACTIVE_STATUSES, FINAL_STATUSES, type WorkflowStatus } from '../workflows/backend.js';
import { info as workflowInfo } from '../workflows/engine.js';
import { historyStream } from '../workflows/history.js';
import { chainJson, diff, eventJson, plain, projectionJson, streamJson } from './json.js';
import { Metrics } from './metrics.js';
import { HttpProblem, problemOf } from './problem.js';

export interface HttpAppOptions {
  /**
   * The bearer token that appends and admin calls (rebuilds) need. Without one they are refused:
   * the API is then read-only.
   */
  readonly token?: string;
  /** Reads need the token too. `factline serve` sets this when it binds beyond loopback. */
  readonly protectReads?: boolean;
  /** Deciders for the state of a stream at a version or time (time travel). */
  readonly deciders?: readonly DeciderEntry[];
  /** Projections that `POST /api/projections/:name/rebuild` can rebuild. */
  readonly projections?: readonly ProjectionDefinition[];
  /** Request bodies larger than this are refused before they are parsed. Default 4 MiB. */
  readonly maxBodySize?: number;
  /** Serve the explorer page at `/`. Default true. */
  readonly explorer?: boolean;
  /**
   * Host names (without port) the `Host` header may carry; others are refused with 421. Guards a
   * server on loopback from pages that rebind their own domain to 127.0.0.1 to read it. Default:
   * any (`serveHttp` on loopback allows only loopback names).
   */
  readonly allowedHosts?: readonly string[];
}

/** A Node request listener: give it to `http.createServer`, or mount it in Express or Fastify. */
export type HttpApp = ((req: IncomingMessage, res: ServerResponse) => void) & {
  /** Waits for rebuilds this app started. */
  readonly close: () => Promise<void>;
};

interface Request {
  readonly req: IncomingMessage;
  readonly url: URL;
  readonly params: readonly string[];
}

interface Reply {
  readonly status?: number;
  readonly body: unknown;
  readonly headers?: Record<string, string>;
}

interface Rebuild {
  done: bigint;
  total: bigint;
  state: 'running' | 'done' | 'failed';
  error?: string;
}

type Route = readonly [method: 'GET' | 'POST', pattern: RegExp, name: string, handler: (r: Request) => Promise<Reply>, access: 'read' | 'write'];

const PAGE = { streams: [50, 500], events: [100, 1000], workflows: [50, 500], chain: [1000, 10_000] } as const;
const MiB = 1024 * 1024;
export const DEFAULT_MAX_BODY = 4 * MiB;

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};
const CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const ASSETS: Record<string, readonly [file: string, type: string]> = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/explorer.js': ['explorer.js', 'text/javascript; charset=utf-8'],
  '/explorer.css': ['explorer.css', 'text/css; charset=utf-8'],
};

/**
 * The JSON HTTP API over a store (and the explorer page): streams, events, time travel with the
 * given deciders, appends with `If-Match`, projections and their rebuild, workflows, metrics.
 */
export function createHttpApp(store: EventStore, options: HttpAppOptions = {}): HttpApp {
  const core = internalsOf(store);
  const settings = checkOptions(options);
  const metrics = new Metrics();
  const rebuilds = new Map<string, Rebuild>();
  const runs = new Set<Promise<void>>();
  const tokenHash = settings.token === undefined ? undefined : sha256(settings.token);
  const assets = settings.explorer ? loadAssets() : new Map<string, Buffer>();

  const rebuildJson = (name: string) => {
    const r = rebuilds.get(name);
    return r ? { done: Number(r.done), total: Number(r.total), state: r.state, ...(r.error ? { error: r.error } : {}) } : null;
  };

  const deciderFor = (stream: string) =>
    settings.deciders.filter((d) => stream.startsWith(d.prefix)).sort((a, b) => b.prefix.length - a.prefix.length)[0];

  const routes: Route[] = [
    [
      'GET',
      /^\/api\/info$/,
      'info',
      async () => ({
        body: {
          name: 'factline',
          version: VERSION,
          store: storeKind(store),
          head: String(await core.backend.headPosition()),
          deciders: settings.deciders.map((d) => ({ name: d.name, prefix: d.prefix })),
          projections: settings.projections.map((p) => p.name),
          auth: { writes: true, reads: settings.protectReads, token: tokenHash !== undefined },
        },
      }),
      'read',
    ],
    [
      'GET',
      /^\/api\/streams$/,
      'streams',
      async ({ url }) => {
        const limit = pageSize(url, 'streams');
        const prefix = url.searchParams.get('prefix') ?? '';
        const after = url.searchParams.get('after') ?? '';
        const streams = [];
        for await (const s of store.listStreams({ prefix, after, limit })) {
          streams.push(streamJson(s));
        }
        return { body: { streams, next: streams.length === limit ? streams.at(-1)!.stream : null } };
      },
      'read',
    ],
    [
      'GET',
      /^\/api\/streams\/([^/]+)$/,
      'stream',
      async ({ url, params }) => {
        const stream = params[0]!;
        const limit = pageSize(url, 'events');
        const backward = flag(url, 'backward');
        const info = await store.streamInfo(stream);
        // A deleted stream's events stay in the log, but the stream reads no more.
        if (info.deleted) return { body: { stream, version: info.version, deleted: true, events: [], next: null }, headers: { etag: `"${info.version}"` } };
        const from = int(url, 'from') ?? (backward ? info.version : 1);
        const events = [];
        const read = backward ? { to: from, limit, direction: 'backward' as const } : { from, limit };
        for await (const e of store.readStream(stream, read)) events.push(eventJson(e));
        const last = events.length === limit ? (events.at(-1) as { version: number }).version : undefined;
        const next = last === undefined ? null : backward ? (last > 1 ? last - 1 : null) : last < info.version ? last + 1 : null;
        return { body: { stream, version: info.version, deleted: info.deleted, events, next }, headers: { etag: `"${info.version}"` } };
      },
      'read',
    ],
    [
      'GET',
      /^\/api\/streams\/([^/]+)\/state$/,
      'state',
      async ({ url, params }) => {
        const stream = params[0]!;
        const entry = deciderFor(stream);
        if (!entry) throw new HttpProblem(404, 'NO_DECIDER', `no decider is registered for stream "${stream}": add one to the deciders with a prefix it starts with`);
        const version = int(url, 'version');
        const atText = url.searchParams.get('at');
        if (version !== undefined && atText !== null) throw invalid('at', 'give version or at, not both');
        const at = atText === null ? undefined : new Date(atText);
        if (at !== undefined && Number.isNaN(at.getTime())) throw invalid('at', 'must be an ISO time, such as 2026-01-31T12:00:00Z');
        const decider = entry.decider as Decider<unknown, never, RecordedEvent>;
        const target = await load(store, stream, decider, { ...(version !== undefined ? { version } : {}), ...(at ? { at } : {}) });
        const previous = target.version > 0 ? await load(store, stream, decider, { version: target.version - 1 }) : target;
        const [event] = target.version > 0 ? await collect(store.readStream(stream, { from: target.version, to: target.version })) : [];
        const state = plain(target.state);
        const before = plain(previous.state);
        return {
          body: {
            stream,
            decider: entry.name,
            version: target.version,
            at: at?.toISOString() ?? null,
            state,
            previous: before,
            diff: target.version > 0 ? diff(before, state) : [],
            event: event ? eventJson(event) : null,
          },
        };
      },
      'read',
    ],
    [
      'POST',
      /^\/api\/streams\/([^/]+)$/,
      'append',
      async ({ req, params }) => {
        const stream = params[0]!;
        const body = await readJson(req, settings.maxBodySize);
        if (!Array.isArray(body)) throw invalid('body', 'must be a JSON array of events: [{ "type": "…", "data": … }]');
        const events = body.map((e: unknown, i) => newEvent(e, i));
        const expectedVersion = expectedFrom(req);
        // The request is a message of its own: its events share a correlation, the caller's
        // (X-Correlation-Id) or a new one, answered back in the same header.
        const correlationId = correlationOf(req);
        const result = await withContext({ correlationId }, () => store.append(stream, events, expectedVersion === undefined ? {} : { expectedVersion }));
        metrics.appended(events.length);
        return {
          status: 201,
          body: { stream, version: result.version, position: String(result.position) },
          headers: { etag: `"${result.version}"`, 'x-correlation-id': correlationId },
        };
      },
      'write',
    ],
    [
      'GET',
      /^\/api\/events$/,
      'events',
      async ({ url }) => {
        const limit = pageSize(url, 'events');
        const after = position(url, 'after') ?? 0n;
        const types = url.searchParams.get('types')?.split(',').filter((t) => t !== '');
        const prefix = url.searchParams.get('prefix') ?? undefined;
        const [events, head] = await Promise.all([
          collect(store.readAll({ after, limit, ...(types?.length ? { types } : {}), ...(prefix ? { streamPrefix: prefix } : {}) })),
          core.backend.headPosition(),
        ]);
        return { body: { events: events.map(eventJson), head: String(head) } };
      },
      'read',
    ],
    [
      'GET',
      /^\/api\/events\/([^/]+)$/,
      'event',
      async ({ url, params }) => {
        const chain = await store.causationChain(params[0]!, { limit: pageSize(url, 'chain') });
        if (!chain) throw new HttpProblem(404, 'NOT_FOUND', `no event with id "${params[0]}"`);
        return { body: chainJson(chain) };
      },
      'read',
    ],
    [
      'GET',
      /^\/api\/correlations\/([^/]+)$/,
      'correlation',
      async ({ url, params }) => {
        const correlationId = params[0]!;
        const limit = pageSize(url, 'events');
        const events = await collect(store.correlated(correlationId, { after: position(url, 'after') ?? 0n, limit }));
        return { body: { correlationId, events: events.map(eventJson), next: events.length === limit ? String(events.at(-1)!.position) : null } };
      },
      'read',
    ],
    [
      'GET',
      /^\/api\/projections$/,
      'projections',
      async () => {
        const [rows, head, now] = await Promise.all([core.backend.projections.projections(), core.backend.headPosition(), core.backend.projections.now()]);
        const projections = rows.map((r) => ({ ...projectionJson(r, head, now), rebuild: rebuildJson(r.name) }));
        // A registered projection that has never run still shows, so that it can be built.
        const missing = settings.projections.filter((p) => !rows.some((r) => r.name === p.name));
        for (const p of missing) {
          projections.push({ name: p.name, generation: 0, version: p.version, status: 'not started', checkpoint: '0', behind: String(head), owner: '', error: null, rebuild: rebuildJson(p.name) });
        }
        return { body: { head: String(head), projections } };
      },
      'read',
    ],
    [
      'POST',
      /^\/api\/projections\/([^/]+)\/rebuild$/,
      'rebuild',
      ({ params }) => {
        const name = params[0]!;
        const projection = settings.projections.find((p) => p.name === name);
        if (!projection) throw new HttpProblem(404, 'NOT_FOUND', `no projection "${name}" is registered with this server: add it to the projections it is given`);
        if (rebuilds.get(name)?.state === 'running') throw new HttpProblem(409, 'REBUILD_RUNNING', `a rebuild of "${name}" is already running`);
        // Taken before the first await, so that a second request sees it.
        const progress: Rebuild = { done: 0n, total: 0n, state: 'running' };
        rebuilds.set(name, progress);
        const run = (async () => {
          progress.total = await core.backend.headPosition();
          await rebuildProjection(store, projection, {
            onProgress: (p) => {
              progress.done = p.done;
              progress.total = p.total;
            },
          });
          progress.state = 'done';
          progress.done = progress.total;
        })().catch((error: unknown) => {
          progress.state = 'failed';
          progress.error = error instanceof Error ? error.message : String(error);
          store.logger.error({ err: error, projection: name }, 'projection rebuild failed');
        });
        runs.add(run);
        void run.finally(() => runs.delete(run));
        return Promise.resolve({ status: 202, body: { name, started: true } });
      },
      'write',
    ],
    [
      'GET',
      /^\/api\/workflows$/,
      'workflows',
      async ({ url }) => {
        const limit = pageSize(url, 'workflows');
        const status = url.searchParams.get('status') ?? undefined;
        if (status !== undefined && !STATUSES.includes(status)) throw invalid('status', `must be one of ${STATUSES.join(', ')}`);
        const workflow = url.searchParams.get('workflow') ?? undefined;
        const after = cursor(url.searchParams.get('after'));
        const rows = await core.backend.workflows.list({ limit, ...(status ? { status: status as WorkflowStatus } : {}), ...(workflow ? { name: workflow } : {}), ...(after ? { after } : {}) });
        const last = rows.length === limit ? rows.at(-1) : undefined;
        return { body: { workflows: rows.map(workflowInfo), next: last ? Buffer.from(`${last.createdAt}:${last.id}`).toString('base64url') : null } };
      },
      'read',
    ],
    [
      'GET',
      /^\/api\/workflows\/([^/]+)$/,
      'workflow',
      async ({ params }) => {
        const row = await core.backend.workflows.get(params[0]!);
        if (!row) throw new HttpProblem(404, 'NOT_FOUND', `no workflow instance "${params[0]}"`);
        const history = await collect(store.readStream(historyStream(row.name, row.id)));
        return { body: { ...workflowInfo(row), input: (JSON.parse(row.input) as { value?: unknown }).value, history: history.map(eventJson) } };
      },
      'read',
    ],
    [
      'GET',
      /^\/metrics$/,
      'metrics',
      async () => {
        const [rows, head] = await Promise.all([core.backend.projections.projections(), core.backend.headPosition()]);
        return { body: metrics.render(head, rows), headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' } };
      },
      'read',
    ],
  ];

  async function answer(req: IncomingMessage, path: string, url: URL, matched: (route: string) => void): Promise<Reply> {
    checkHost(req);
    const asset = settings.explorer && (req.method === 'GET' || req.method === 'HEAD') ? assets.get(path) : undefined;
    if (asset) {
      matched('explorer');
      return { body: asset, headers: { 'content-type': ASSETS[path]![1], 'content-security-policy': CSP, 'cache-control': 'no-cache' } };
    }
    const matching = routes.filter(([, pattern]) => pattern.test(path));
    const route = matching.find(([method]) => method === req.method || (method === 'GET' && req.method === 'HEAD'));
    if (!route) {
      if (matching.length > 0) throw new HttpProblem(405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed here`, { allow: [...new Set(matching.map(([m]) => m))].join(', ') });
      throw new HttpProblem(404, 'NOT_FOUND', `nothing at ${path}`);
    }
    const [, pattern, name, handler, access] = route;
    matched(name);
    authorize(req, access);
    const params = pattern.exec(path)!.slice(1).map(decodeSegment);
    return handler({ req, url, params });
  }

  function checkHost(req: IncomingMessage): void {
    if (settings.allowedHosts === undefined) return;
    const header = (req.headers.host ?? '').toLowerCase();
    const host = header.startsWith('[') ? header.slice(0, header.indexOf(']') + 1) : header.split(':')[0]!;
    if (!settings.allowedHosts.has(host)) throw new HttpProblem(421, 'MISDIRECTED', `this server does not answer for host "${host}"`);
  }

  function authorize(req: IncomingMessage, access: 'read' | 'write'): void {
    if (access === 'read' && !settings.protectReads) return;
    if (tokenHash === undefined) {
      throw new HttpProblem(403, 'FORBIDDEN', 'this server has no token, so it takes no writes: start it with a token (factline serve --token, or FACTLINE_TOKEN)');
    }
    const header = req.headers.authorization ?? '';
    const given = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
    if (given === undefined) throw new HttpProblem(401, 'UNAUTHORIZED', 'this call needs the server’s token: send "Authorization: Bearer <token>"', { 'www-authenticate': 'Bearer realm="factline"' });
    if (!timingSafeEqual(sha256(given), tokenHash)) throw new HttpProblem(401, 'UNAUTHORIZED', 'the token is not this server’s', { 'www-authenticate': 'Bearer realm="factline", error="invalid_token"' });
  }

  let closing = false;
  const app = (req: IncomingMessage, res: ServerResponse): void => {
    const started = process.hrtime.bigint();
    let route = 'unknown';
    const finish = (status: number, body: string | Buffer, headers: Record<string, string>) => {
      metrics.request(route, req.method ?? 'GET', status, Number(process.hrtime.bigint() - started) / 1e9);
      if (res.headersSent) return;
      // A body left unread (refused before or while reading it) is not read further, and a server
      // that is closing keeps no connection alive: the connection goes with the answer.
      const close = closing || !req.complete;
      res.writeHead(status, { ...SECURITY_HEADERS, 'cache-control': 'no-store', ...headers, 'content-length': String(Buffer.byteLength(body)), ...(close ? { connection: 'close' } : {}) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    void (async () => {
      try {
        // The path as sent, split before decoding: %2F stays inside a stream name, and no
        // dot-segment or '//' is resolved into another path.
        const raw = req.url ?? '/';
        const cut = raw.indexOf('?');
        const path = cut < 0 ? raw : raw.slice(0, cut);
        const url = new URL(`http://factline.invalid/${cut < 0 ? '' : raw.slice(cut)}`);
        // Mounted under a path (Express strips it into originalUrl): the page's relative links need
        // the slash. The redirect is relative, to the last segment: it cannot lead elsewhere.
        const original = (req as { originalUrl?: string }).originalUrl?.split('?')[0];
        if (path === '/' && original !== undefined && !original.endsWith('/') && /^\/[^/\\]/.test(original)) {
          return finish(308, '', { location: `./${original.slice(original.lastIndexOf('/') + 1)}/` });
        }
        // A caller's `traceparent`: what the request does (its appends) joins the caller's trace.
        const reply = await inHeadersTrace(req.headers, () => answer(req, path, url, (name) => (route = name)));
        const body = Buffer.isBuffer(reply.body) || typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
        finish(reply.status ?? 200, body, { 'content-type': 'application/json; charset=utf-8', ...reply.headers });
      } catch (error) {
        const p = problemOf(error);
        if (p.status >= 500) store.logger.error({ err: error, method: req.method, url: req.url }, 'HTTP request failed');
        const { headers, ...body } = p;
        finish(p.status, JSON.stringify(body), { 'content-type': 'application/problem+json; charset=utf-8', ...headers });
      }
    })();
  };

  return Object.assign(app, {
    close: async () => {
      closing = true;
      await Promise.all([...runs]);
    },
  });
}

// --- input ---------------------------------------------------------------------------------------

const STATUSES: readonly string[] = [...ACTIVE_STATUSES, ...FINAL_STATUSES];

const invalid = (parameter: string, message: string) => new ValidationError([{ path: [parameter], message }]);

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw invalid('path', `"${segment}" is not a well-formed URL segment`);
  }
}

function int(url: URL, name: string): number | undefined {
  const text = url.searchParams.get(name);
  if (text === null) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) throw invalid(name, `must be a whole number, not "${text}"`);
  return n;
}

function position(url: URL, name: string): bigint | undefined {
  const text = url.searchParams.get(name);
  if (text === null) return undefined;
  if (!/^\d{1,19}$/.test(text)) throw invalid(name, `must be a position (a whole number), not "${text}"`);
  return BigInt(text);
}

function flag(url: URL, name: string): boolean {
  const text = url.searchParams.get(name);
  if (text === null || text === 'false' || text === '0') return false;
  if (text === '' || text === 'true' || text === '1') return true;
  throw invalid(name, 'must be true or false');
}

function pageSize(url: URL, kind: keyof typeof PAGE): number {
  const [fallback, max] = PAGE[kind];
  const n = int(url, 'limit') ?? fallback;
  if (n < 1 || n > max) throw invalid('limit', `must be from 1 to ${max}`);
  return n;
}

function cursor(text: string | null): { createdAt: number; id: string } | undefined {
  if (text === null) return undefined;
  const match = /^(\d+):(.+)$/s.exec(Buffer.from(text, 'base64url').toString());
  if (!match || !Number.isSafeInteger(Number(match[1]))) throw invalid('after', 'must be the `next` of a previous page');
  return { createdAt: Number(match[1]), id: match[2]! };
}

/** `If-Match: "7"` = expected version 7 (`"0"`: no stream yet); `If-Match: *` = the stream exists; `If-None-Match: *` = it does not. */
function expectedFrom(req: IncomingMessage): ExpectedVersion | undefined {
  const match = req.headers['if-match'];
  const noneMatch = req.headers['if-none-match'];
  if (match !== undefined && noneMatch !== undefined) throw invalid('If-Match', 'give If-Match or If-None-Match, not both');
  if (noneMatch !== undefined) {
    if (noneMatch.trim() !== '*') throw invalid('If-None-Match', 'only * (the stream must not exist) is understood');
    return 'no_stream';
  }
  if (match === undefined) return undefined;
  const text = match.trim();
  if (text === '*') return 'stream_exists';
  // If-Match compares strongly: a weak tag (W/"7") never matches, so it is refused as a mistake.
  const version = /^"(\d+)"$/.exec(text)?.[1];
  if (version === undefined || !Number.isSafeInteger(Number(version))) throw invalid('If-Match', `must be a stream version in quotes, such as "7" (the ETag of a read), not ${text}`);
  return Number(version);
}

function correlationOf(req: IncomingMessage): string {
  const given = req.headers['x-correlation-id'];
  if (given === undefined) return uuidv7();
  if (typeof given !== 'string' || !/^[\x21-\x7e]{1,200}$/.test(given)) throw invalid('X-Correlation-Id', 'must be 1 to 200 printable characters without spaces');
  return given;
}

function newEvent(value: unknown, i: number): NewEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(`body[${i}]`, 'must be an object: { "type": "…", "data": … }');
  const e = value as Record<string, unknown>;
  const unknownKeys = Object.keys(e).filter((k) => !['type', 'data', 'id', 'metadata'].includes(k));
  if (unknownKeys.length > 0) throw invalid(`body[${i}]`, `unknown field ${unknownKeys.map((k) => `"${k}"`).join(', ')}: an event has type, data, id and metadata`);
  if (!('data' in e)) throw invalid(`body[${i}].data`, 'is missing (use null for no data)');
  return e as unknown as NewEvent;
}

async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type)) {
    throw new HttpProblem(415, 'UNSUPPORTED_MEDIA_TYPE', 'the body must be JSON: send Content-Type: application/json');
  }
  // Mounted behind a body parser (express.json(), say): the body was read, within that parser's limit.
  const parsed = (req as { body?: unknown }).body;
  if (parsed !== undefined && req.readableEnded) return parsed;
  const declared = Number(req.headers['content-length']);
  if (declared > limit) throw new HttpProblem(413, 'CONTENT_TOO_LARGE', `the body is ${declared} bytes; this server takes at most ${limit}`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpProblem(413, 'CONTENT_TOO_LARGE', `the body is over ${limit} bytes, the most this server takes`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch (error) {
    throw invalid('body', `is not JSON: ${(error as Error).message}`);
  }
}

// Not a type guard: Array.isArray would narrow a readonly array to any[].
const isList = (value: unknown): boolean => Array.isArray(value);

function checkOptions(options: HttpAppOptions) {
  if (typeof options !== 'object' || options === null) throw new ConfigurationError('createHttpApp takes (store, options?)');
  const { token, maxBodySize = DEFAULT_MAX_BODY, explorer = true, protectReads = false } = options;
  const deciders: readonly DeciderEntry[] = options.deciders ?? [];
  const projections: readonly ProjectionDefinition[] = options.projections ?? [];
  if (token !== undefined && (typeof token !== 'string' || token.length < 16 || /\s/.test(token))) {
    throw new ConfigurationError('the token must be a string of at least 16 characters without spaces (openssl rand -hex 32 makes one)');
  }
  if (protectReads && token === undefined) throw new ConfigurationError('protectReads needs a token');
  if (!isList(deciders) || !deciders.every((d) => typeof d?.name === 'string' && typeof d.prefix === 'string' && typeof d.decider?.evolve === 'function')) {
    throw new ConfigurationError('deciders must be an array of { name, prefix, decider }');
  }
  if (!isList(projections) || !projections.every((p) => p?.kind === 'projection')) {
    throw new ConfigurationError('projections must be an array of defineProjection(...) results');
  }
  if (!Number.isSafeInteger(maxBodySize) || maxBodySize < 1) throw new ConfigurationError('maxBodySize must be a positive whole number of bytes');
  const { allowedHosts } = options;
  if (allowedHosts !== undefined && (!isList(allowedHosts) || !allowedHosts.every((h) => typeof h === 'string'))) {
    throw new ConfigurationError('allowedHosts must be an array of host names');
  }
  return {
    token, deciders, projections, maxBodySize, explorer: explorer !== false, protectReads: Boolean(protectReads),
    allowedHosts: allowedHosts && new Set(allowedHosts.map((h) => h.toLowerCase())),
  };
}

// --- output --------------------------------------------------------------------------------------

const sha256 = (text: string) => createHash('sha256').update(text).digest();

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

function storeKind(store: EventStore): string {
  const name = internalsOf(store).backend.constructor.name;
  return name.replace(/Backend$/, '').toLowerCase();
}

function loadAssets(): Map<string, Buffer> {
  const folder = new URL('./explorer/', import.meta.url);
  return new Map(Object.entries(ASSETS).map(([path, [file]]) => [path, readFileSync(new URL(file, folder))]));
}

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
