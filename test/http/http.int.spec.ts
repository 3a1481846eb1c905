import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigurationError, StoreUnavailableError, defineDecider, defineProjection, defineWorkflow, memoryStore, startProjections, startWorkflows, type EventStore, type RecordedEvent } from '../../src/index.js';
import { createHttpApp, serveHttp, type HttpAppOptions, type Serving } from '../../src/http/index.js';
import { problemOf } from '../../src/http/problem.js';
import { collect, conformance } from '../conformance/harness.js';
import { totals } from '../fixtures/factline.config.js';

/** A request as sent, path untouched (fetch would resolve %2E%2E and '//'), with any headers. */
function raw(url: string, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const target = new URL(url);
    const req = request({ host: target.hostname, port: target.port, path, method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const TOKEN = 'the-token-of-these-tests-0123';
const auth = { authorization: `Bearer ${TOKEN}` };
const json = { 'content-type': 'application/json' };

type Counted = RecordedEvent<'Counted', { by: number }> | RecordedEvent<'Named', { name: string }>;
const counter = defineDecider<{ total: number; names: string[] }, never, Counted>({
  initialState: () => ({ total: 0, names: [] }),
  evolve: (s, e) => (e.type === 'Counted' ? { ...s, total: s.total + e.data.by } : { ...s, names: [...s.names, e.data.name] }),
  decide: () => [],
});

const servers: Serving[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function serve(store: EventStore, options: HttpAppOptions & { host?: string } = {}) {
  const serving = await serveHttp(store, { port: 0, token: TOKEN, deciders: [{ name: 'counter', prefix: 'counter-', decider: counter }], projections: [totals], ...options });
  servers.push(serving);
  const call = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(new URL(path, serving.url), init);
    const text = await res.text();
    const type = res.headers.get('content-type') ?? '';
    return { status: res.status, headers: res.headers, body: (type.includes('json') ? JSON.parse(text) : text) as Record<string, unknown> & unknown[] };
  };
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    call(path, { method: 'POST', headers: { ...json, ...auth, ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { url: serving.url, call, post };
}

const versionOf = async (store: EventStore, stream: string) => (await store.streamInfo(stream)).version;

conformance('HTTP API', ({ open, test }) => {
  test('appends with If-Match as the expected version and reads back with the version as ETag', async () => {
    const store = await open();
    const { call, post } = await serve(store);
    const created = await post('api/streams/counter-1', [{ type: 'Counted', data: { by: 2 } }], { 'if-match': '"0"' });
    expect([created.status, created.headers.get('etag'), created.body]).toEqual([201, '"1"', { stream: 'counter-1', version: 1, position: '1' }]);
    const stale = await post('api/streams/counter-1', [{ type: 'Counted', data: { by: 9 } }], { 'if-match': '"0"' });
    expect(stale.status).toBe(412);
    expect(stale.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(stale.body).toMatchObject({ status: 412, code: 'CONCURRENCY', title: 'Precondition Failed', type: 'urn:factline:problem:concurrency' });
    // If-Match compares strongly: a weak tag is a mistake, refused.
    expect((await post('api/streams/counter-1', [{ type: 'Counted', data: { by: 3 } }], { 'if-match': 'W/"1"' })).body).toMatchObject({ status: 400, code: 'VALIDATION' });
    expect((await post('api/streams/counter-1', [{ type: 'Counted', data: { by: 3 } }], { 'if-match': '"1"' })).status).toBe(201);
    expect((await post('api/streams/counter-1', [{ type: 'Named', data: { name: 'x' } }], { 'if-none-match': '*' })).body).toMatchObject({ code: 'CONCURRENCY' });
    expect((await post('api/streams/counter-2', [{ type: 'Named', data: { name: 'y' } }], { 'if-match': '*' })).body).toMatchObject({ code: 'CONCURRENCY' });
    // The same event ids again: written once, answered with the first result.
    const id = '01890000-0000-7000-8000-000000000001';
    const first = await post('api/streams/counter-3', [{ id, type: 'Named', data: { name: 'z' } }], { 'x-correlation-id': 'checkout-77' });
    expect(first.headers.get('x-correlation-id')).toBe('checkout-77');
    expect((await store.getEvents([id]))[0]!.metadata).toEqual({ correlationId: 'checkout-77' });
    // Without the header, a request's events share a new correlation, answered back.
    expect(created.headers.get('x-correlation-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect((await collect(store.readStream('counter-1')))[0]!.metadata).toEqual({ correlationId: created.headers.get('x-correlation-id') });
    expect((await post('api/streams/counter-5', [{ type: 'Named', data: { name: 'q' } }], { 'x-correlation-id': 'has space' })).body).toMatchObject({ status: 400 });
    const again = await post('api/streams/counter-3', [{ id, type: 'Named', data: { name: 'z' } }]);
    expect(again.body).toEqual(first.body);

    const read = await call('api/streams/counter-1');
    expect([read.status, read.headers.get('etag')]).toEqual([200, '"2"']);
    expect(read.body).toMatchObject({ stream: 'counter-1', version: 2, deleted: false, next: null });
    expect((read.body.events as { version: number; position: string; data: unknown }[]).map((e) => [e.version, e.position, e.data])).toEqual([
      [1, '1', { by: 2 }],
      [2, '2', { by: 3 }],
    ]);
    const paged = await call('api/streams/counter-1?limit=1');
    expect(paged.body).toMatchObject({ next: 2 });
    const backward = await call('api/streams/counter-1?backward=true&limit=1');
    expect(backward.body).toMatchObject({ next: 1, events: [{ version: 2 }] });
    expect((await call('api/streams/never')).body).toMatchObject({ version: 0, events: [] });
    await store.deleteStream('counter-3');
    // A deleted stream still lists (its events stay in the log) and opens, as deleted with no events.
    const deleted = await call('api/streams/counter-3');
    expect([deleted.status, deleted.body]).toEqual([200, { stream: 'counter-3', version: 1, deleted: true, events: [], next: null }]);
    expect((await post('api/streams/counter-3', [{ type: 'Named', data: { name: 'w' } }])).body).toMatchObject({ status: 410, code: 'STREAM_DELETED' });
  });

  test('lists streams by prefix in pages, and reads $all after a position with filters', async () => {
    const store = await open();
    const { call } = await serve(store);
    for (const name of ['counter-b', 'counter-a', 'other-1', 'counter-c']) await store.append(name, [{ type: name.startsWith('other') ? 'Other' : 'Counted', data: { by: 1 } }]);
    const page = await call('api/streams?prefix=counter-&limit=2');
    expect((page.body.streams as { stream: string }[]).map((s) => s.stream)).toEqual(['counter-a', 'counter-b']);
    expect(page.body.next).toBe('counter-b');
    const rest = await call(`api/streams?prefix=counter-&limit=2&after=${String(page.body.next)}`);
    expect(rest.body).toMatchObject({ streams: [{ stream: 'counter-c', version: 1, deleted: false }], next: null });
    const events = await call('api/events?after=1&types=Counted');
    expect((events.body.events as { stream: string }[]).map((e) => e.stream)).toEqual(['counter-a', 'counter-c']);
    expect(events.body.head).toBe('4');
    expect(((await call('api/events?prefix=other-')).body.events as unknown[]).length).toBe(1);
  });

  test('the state of a stream at a version or a time, with the change from the version before', async () => {
    const store = await open();
    const { call } = await serve(store);
    await store.append('counter-1', [{ type: 'Counted', data: { by: 2 } }, { type: 'Named', data: { name: 'ada' } }]);
    await new Promise((resolve) => setTimeout(resolve, 10));
    const between = new Date();
    await new Promise((resolve) => setTimeout(resolve, 10));
    await store.append('counter-1', [{ type: 'Counted', data: { by: 5 } }]);
    const v2 = await call('api/streams/counter-1/state?version=2');
    expect(v2.body).toMatchObject({
      decider: 'counter',
      version: 2,
      state: { total: 2, names: ['ada'] },
      previous: { total: 2, names: [] },
      diff: [{ path: 'names[0]', kind: 'added', after: 'ada' }],
      event: { type: 'Named', version: 2 },
    });
    expect((await call('api/streams/counter-1/state')).body).toMatchObject({ version: 3, state: { total: 7 }, diff: [{ path: 'total', kind: 'changed', before: 2, after: 7 }] });
    expect((await call(`api/streams/counter-1/state?at=${between.toISOString()}`)).body).toMatchObject({ version: 2, state: { total: 2 } });
    expect((await call('api/streams/other-1/state')).body).toMatchObject({ status: 404, code: 'NO_DECIDER' });
    expect((await call('api/streams/counter-1/state?at=yesterday')).body).toMatchObject({ status: 400, code: 'VALIDATION' });
    expect((await call(`api/streams/counter-1/state?version=1&at=${between.toISOString()}`)).body).toMatchObject({ status: 400, detail: 'at: give version or at, not both' });
  });

  test('projections: status, lag and a rebuild with its progress', async () => {
    const store = await open();
    const { call, post } = await serve(store);
    for (let i = 1; i <= 30; i++) await store.append(`counter-${i % 3}`, [{ type: 'Counted', data: { by: i } }]);
    const before = await call('api/projections');
    expect(before.body).toMatchObject({ head: '30', projections: [{ name: 'totals', status: 'not started', behind: '30', rebuild: null }] });
    expect((await post('api/projections/totals/rebuild', '')).status).toBe(202);
    let status: { rebuild: { state: string; done: number; total: number } | null; generation: number } | undefined;
    for (let tries = 0; tries < 200 && status?.rebuild?.state !== 'done'; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      status = ((await call('api/projections')).body.projections as (typeof status)[])[0];
    }
    expect(status).toMatchObject({ generation: 1, rebuild: { state: 'done', done: 30, total: 30 } });
    expect(await store.documents('totals').get('counter-0')).toEqual({ total: 165 });
    expect((await post('api/projections/nope/rebuild', '')).body).toMatchObject({ status: 404, code: 'NOT_FOUND' });
  });
});

describe('HTTP API', () => {
  it('appends and admin calls need the bearer token; without a token the server takes no writes', async () => {
    const store = memoryStore();
    const { call, post } = await serve(store);
    const noToken = await call('api/streams/s', { method: 'POST', headers: json, body: '[]' });
    expect([noToken.status, noToken.headers.get('www-authenticate'), noToken.body.code]).toEqual([401, 'Bearer realm="factline"', 'UNAUTHORIZED']);
    expect((await post('api/streams/s', [{ type: 'T', data: 1 }], { authorization: 'Bearer wrong-token-wrong-token' })).status).toBe(401);
    expect((await post('api/streams/s', [{ type: 'T', data: 1 }], { authorization: 'Basic abc' })).status).toBe(401);
    expect((await post('api/projections/totals/rebuild', '', { authorization: '' })).status).toBe(401);
    expect(await versionOf(store, 's')).toBe(0);
    expect((await call('api/streams/s')).status).toBe(200); // reads are open on loopback

    const readOnly = await serve(store, { token: undefined });
    const refused = await readOnly.post('api/streams/s', [{ type: 'T', data: 1 }]);

    expect([refused.status, refused.body.code]).toEqual([403, 'FORBIDDEN']);
    expect(refused.body.detail).toContain('--token');
    await store.close();
  });

  it('beyond loopback every call needs the token, and serving there without one is refused', async () => {
    const store = memoryStore();
    await expect(serveHttp(store, { host: '0.0.0.0', port: 0 })).rejects.toThrow(ConfigurationError);
    const { call } = await serve(store, { host: '0.0.0.0' });
    expect((await call('api/streams')).status).toBe(401);
    expect((await call('metrics')).status).toBe(401);
    expect((await call('api/streams', { headers: auth })).status).toBe(200);
    expect(() => createHttpApp(store, { protectReads: true })).toThrow('protectReads needs a token');
    expect(() => createHttpApp(store, { token: 'short' })).toThrow(ConfigurationError);
    await store.close();
  });

  it('refuses bad bodies with a problem, writing nothing: oversized (declared or streamed), not JSON, not events, not JSON content', async () => {
    const store = memoryStore();
    const { url, post } = await serve(store, { maxBodySize: 1024 });
    const declared = await post('api/streams/s', JSON.stringify([{ type: 'T', data: 'x'.repeat(2000) }]));
    expect([declared.status, declared.body.code]).toEqual([413, 'CONTENT_TOO_LARGE']);
    // Chunked, with no length declared: cut off once it passes the limit.
    const streamed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(new URL('api/streams/s', url), { method: 'POST', headers: { ...json, ...auth, 'transfer-encoding': 'chunked' } }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      req.write('[{"type":"T","data":"');
      const chunk = 'y'.repeat(512);
      let sent = 0;
      const more = () => {
        if (sent++ > 20 || req.destroyed) return req.end();
        req.write(chunk, () => setTimeout(more, 2));
      };
      more();
    }).catch((error: Error) => ({ status: 0, body: error.message }));
    // Either the 413 arrives, or the server cut the connection after sending it; never a 201.
    expect([413, 0]).toContain(streamed.status);
    for (const [body, status, detail] of [
      ['{not json', 400, /body: is not JSON/],
      ['{"type":"T","data":1}', 400, /must be a JSON array of events/],
      ['[{"type":"T"}]', 400, /body\[0\]\.data: is missing/],
      ['[{"type":"T","data":1,"extra":true}]', 400, /unknown field "extra"/],
      ['[{"type":"","data":1}]', 400, /type/],
    ] as const) {
      const answer = await post('api/streams/s', body);
      expect([answer.status, answer.body.code]).toEqual([status, 'VALIDATION']);
      expect(answer.body.detail).toMatch(detail);
    }
    // Asked first (Expect: 100-continue): refused without being told to send the body.
    const asked = await new Promise<{ status: number; continued: boolean }>((resolve, reject) => {
      let continued = false;
      const req = request(new URL('api/streams/s', url), { method: 'POST', headers: { ...json, ...auth, 'content-length': '5000', expect: '100-continue' } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, continued }));
      });
      req.on('continue', () => (continued = true));
      req.on('error', reject);
      req.flushHeaders();
    });
    expect(asked).toEqual({ status: 413, continued: false });
    const plain = await post('api/streams/s', '[]', { 'content-type': 'text/plain' });
    expect([plain.status, plain.body.code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
    expect((await post('api/streams/s', '[]', { 'if-match': 'seven' })).body).toMatchObject({ status: 400, code: 'VALIDATION' });
    expect(await versionOf(store, 's')).toBe(0);
    await store.close();
  });

  it('caps page sizes, checks parameters, and answers unknown routes and methods with problems', async () => {
    const store = memoryStore();
    const { call } = await serve(store);
    expect((await call('api/streams?limit=501')).body).toMatchObject({ status: 400, code: 'VALIDATION', detail: 'limit: must be from 1 to 500' });
    expect((await call('api/events?limit=1001')).body).toMatchObject({ status: 400, detail: 'limit: must be from 1 to 1000' });
    expect((await call('api/events?after=-1')).status).toBe(400);
    expect((await call('api/streams/s?from=x')).status).toBe(400);
    expect((await call('api/workflows?status=lost')).status).toBe(400);
    expect((await call('api/streams/%E0%A4%A')).body).toMatchObject({ status: 400, code: 'VALIDATION' });
    expect((await call('api/streams?prefix=%00')).body).toMatchObject({ status: 400, code: 'VALIDATION' });
    expect((await call(`api/workflows?after=${Buffer.from('99999999999999999999:x').toString('base64url')}`)).status).toBe(400);
    expect((await call('', { method: 'HEAD' })).status).toBe(200);
    expect((await call('nothing/here')).body).toMatchObject({ status: 404, code: 'NOT_FOUND' });
    const method = await call('api/streams', { method: 'DELETE' });
    expect([method.status, method.headers.get('allow'), method.body.code]).toEqual([405, 'GET', 'METHOD_NOT_ALLOWED']);
    await store.close();
  });

  it('event data is user content: JSON answers are never sniffed as HTML, and the page is held by a strict policy', async () => {
    const store = memoryStore();
    const { call, post } = await serve(store);
    const xss = '<img src=x onerror="alert(1)"><script>alert(2)</script>';
    await post(`api/streams/${encodeURIComponent(xss)}`, [{ type: xss, data: { html: xss }, metadata: { note: xss } }]);
    const read = await call(`api/streams/${encodeURIComponent(xss)}`);
    expect(read.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(read.headers.get('x-content-type-options')).toBe('nosniff');
    expect(read.body).toMatchObject({ stream: xss, events: [{ type: xss, data: { html: xss } }] });
    const page = await call('');
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(String(page.body)).toContain('<script type="module" src="./explorer.js"');
    expect((await call('explorer.js')).headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    await store.close();
  });

  it('an event with the chain of its causes and the events it caused', async () => {
    const store = memoryStore();
    const { call } = await serve(store);
    const [a, b, c] = ['01890000-0000-7000-8000-00000000000a', '01890000-0000-7000-8000-00000000000b', '01890000-0000-7000-8000-00000000000c'];
    await store.append('cmd-1', [{ id: a, type: 'Requested', data: {}, metadata: { correlationId: a } }]);
    await store.append('x-1', [{ id: b, type: 'Done', data: {}, metadata: { correlationId: a, causationId: a } }]);
    await store.append('y-1', [{ id: c, type: 'Noted', data: {}, metadata: { correlationId: a, causationId: b } }]);
    const event = await call(`api/events/${b}`);
    expect(event.body).toMatchObject({ event: { id: b }, causes: [{ id: a }], rootCauseId: null, effects: [{ id: c, depth: 1 }], truncated: false });
    expect(((await call(`api/events/${c}`)).body.causes as { id: string }[]).map((e) => e.id)).toEqual([b, a]);
    // Every effect, at any depth, in position order; the limit cuts and says so.
    const fromA = await call(`api/events/${a.toUpperCase()}`);
    expect((fromA.body.effects as { id: string; depth: number }[]).map((e) => [e.id, e.depth])).toEqual([[b, 1], [c, 2]]);
    expect((await call(`api/events/${a}?limit=1`)).body).toMatchObject({ effects: [{ id: b }], truncated: true });
    expect((await call(`api/events/${a}?limit=0`)).body).toMatchObject({ status: 400 });
    expect((await call('api/events/01890000-0000-7000-8000-0000000000ff')).body).toMatchObject({ status: 404 });
    await store.append('z-1', [{ type: 'Later', data: {}, metadata: { causationId: 'cmd-9' } }]);
    const [later] = await collect(store.readStream('z-1'));
    expect((await call(`api/events/${later!.id}`)).body).toMatchObject({ causes: [], rootCauseId: 'cmd-9' });
    await store.close();
  });

  it('a correlation\'s events, a page at a time', async () => {
    const store = memoryStore();
    const { call } = await serve(store);
    for (let i = 0; i < 5; i++) await store.append(`s-${i}`, [{ type: 'T', data: i, metadata: { correlationId: i % 2 ? 'odd/one' : 'even' } }, { type: 'U', data: i }]);
    const first = await call(`api/correlations/${encodeURIComponent('odd/one')}?limit=1`);
    expect(first.body).toMatchObject({ correlationId: 'odd/one', events: [{ data: 1, position: '3' }], next: '3' });
    const rest = await call(`api/correlations/${encodeURIComponent('odd/one')}?after=3`);
    expect(rest.body).toMatchObject({ events: [{ data: 3 }], next: null });
    expect((await call('api/correlations/none')).body).toEqual({ correlationId: 'none', events: [], next: null });
    expect((await call(`api/correlations/${'x'.repeat(257)}`)).body).toMatchObject({ status: 400, code: 'VALIDATION' });
    expect((await call('api/correlations/even?after=-1')).body).toMatchObject({ status: 400 });
    await store.close();
  });

  it('workflows: a page of instances and one with its history', async () => {
    const store = memoryStore();
    const { call } = await serve(store);
    const greet = defineWorkflow({ name: 'greet', async run(ctx, input: { name: string }) {
      return ctx.step('hello', () => Promise.resolve(`hello ${input.name}`));
    } });
    const engine = await startWorkflows(store, [greet]);
    for (const name of ['ada', 'alan', 'grace']) await (await engine.start(greet, { name }, { id: `g-${name}` })).result();
    const page = await call('api/workflows?limit=2');
    expect((page.body.workflows as { id: string; status: string }[]).map((w) => [w.id, w.status])).toEqual([['g-ada', 'completed'], ['g-alan', 'completed']]);
    const rest = await call(`api/workflows?limit=2&after=${String(page.body.next)}`);
    expect(rest.body).toMatchObject({ workflows: [{ id: 'g-grace' }], next: null });
    const one = await call('api/workflows/g-ada');
    expect(one.body).toMatchObject({ id: 'g-ada', workflow: 'greet', result: 'hello ada', input: { name: 'ada' } });
    expect((one.body.history as { type: string }[]).map((e) => e.type)).toEqual(['WorkflowStarted', 'WorkflowStepCompleted', 'WorkflowCompleted']);
    expect((await call('api/workflows/none')).status).toBe(404);
    await engine.close();
    await store.close();
  });

  it('/metrics in Prometheus text: head, projection lag, requests', async () => {
    const store = memoryStore();
    const { call, post } = await serve(store);
    await post('api/streams/counter-1', [{ type: 'Counted', data: { by: 1 } }, { type: 'Counted', data: { by: 1 } }]);
    const daemon = await startProjections(store, [totals]);
    await daemon.waitFor(2n);
    await daemon.close();
    await store.append('counter-1', [{ type: 'Counted', data: { by: 1 } }]);
    const metrics = await call('metrics');
    expect(metrics.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = String(metrics.body);
    expect(text).toContain('factline_head_position 3\n');
    expect(text).toContain('factline_projection_lag_events{projection="totals",generation="1"} 1\n');
    expect(text).toContain('factline_http_appended_events_total 2\n');
    expect(text).toMatch(/factline_http_requests_total\{route="append",method="POST",status="201"\} 1\n/);
    expect(text).toMatch(/factline_http_request_duration_seconds_count\{route="append"\} 1\n/);
    await store.close();
  });

  it('a failure of the server is a 500 that says nothing of its insides, and is logged', async () => {
    const logged: object[] = [];
    const logger = { debug() {}, info() {}, warn() {}, error: (fields: object) => void logged.push(fields) };
    const store = memoryStore({ logger });
    const broken = defineDecider<number, never, RecordedEvent>({ initialState: () => 0, evolve: () => { throw new Error('secret: the evolve broke'); }, decide: () => [] });
    const { call } = await serve(store, { deciders: [{ name: 'broken', prefix: 'b-', decider: broken }] });
    await store.append('b-1', [{ type: 'T', data: 1 }]);
    const answer = await call('api/streams/b-1/state');
    expect(answer.body).toMatchObject({ status: 500, code: 'INTERNAL' });
    expect(JSON.stringify(answer.body)).not.toContain('secret');
    expect(logged).toHaveLength(1);
    await store.close();
  });

  it('mounts in another server: a host that parsed the body already, and a mount path the page needs a slash after', async () => {
    const store = memoryStore();
    const app = createHttpApp(store, { token: TOKEN });
    const { createServer } = await import('node:http');
    const host = createServer((req, res) => {
      // Express at a mount path: the rest of the path in url, the whole in originalUrl.
    if (!req.url!.startsWith('/factline')) {
      Object.assign(req, { originalUrl: req.url });
      return app(req, res);
    }
      const original = req.url!;
      let text = '';
      req.on('data', (chunk: Buffer) => (text += chunk.toString()));
      req.on('end', () => {
        // What Express does: the mount path moves to originalUrl, a body parser leaves req.body.
        Object.assign(req, { originalUrl: original, url: original.slice('/factline'.length) || '/', ...(text ? { body: JSON.parse(text) as unknown } : {}) });
        app(req, res);
      });
    });
    await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(host.address() as { port: number }).port}`;
    const redirect = await fetch(`${base}/factline`, { redirect: 'manual' });
    expect([redirect.status, redirect.headers.get('location')]).toEqual([308, './factline/']);
    // A path that a URL parser would read as another host is never redirected to.
    for (const path of ['//evil.example', '/\\evil.example']) {
      const answer = await raw(base, path);
      expect(answer.headers.location).toBeUndefined();
      expect(answer.status).toBe(404);
    }
    expect((await fetch(`${base}/factline/`)).headers.get('content-type')).toContain('text/html');
    const appended = await fetch(`${base}/factline/api/streams/s`, { method: 'POST', headers: { ...json, ...auth }, body: '[{"type":"T","data":1}]' });
    expect(appended.status).toBe(201);
    expect(await versionOf(store, 's')).toBe(1);
    await new Promise((resolve) => host.close(resolve));
    await store.close();
  });
});

describe('HTTP API, continued', () => {
  it('one rebuild of a projection at a time; close waits for the rebuild it started', async () => {
    const store = memoryStore();
    await store.append('s', [{ type: 'T', data: 1 }]);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let handled = 0;
    const slow = defineProjection({ name: 'slow', version: 1, async handle() {
      await gate;
      handled++;
    } });
    const serving = await serveHttp(store, { port: 0, token: TOKEN, projections: [slow] });
    servers.push(serving);
    const rebuild = () => fetch(new URL('api/projections/slow/rebuild', serving.url), { method: 'POST', headers: auth });
    // Asked for twice at once: one starts, the other is told it runs.
    expect((await Promise.all([rebuild(), rebuild()])).map((r) => r.status).sort()).toEqual([202, 409]);
    let closed = false;
    const closing = serving.close().then(() => (closed = true));
    servers.splice(servers.indexOf(serving), 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(closed).toBe(false);
    open();
    await closing;
    expect(handled).toBe(1);
    await store.close();
  });

  it('on loopback answers only for loopback host names, so a page that rebinds its domain cannot read the store', async () => {
    const store = memoryStore();
    const { url } = await serve(store);
    const port = new URL(url).port;
    expect((await raw(url, '/api/info', { headers: { host: `127.0.0.1:${port}` } })).status).toBe(200);
    expect((await raw(url, '/api/info', { headers: { host: `localhost:${port}` } })).status).toBe(200);
    const rebound = await raw(url, '/api/events', { headers: { host: `attacker.example:${port}` } });
    expect([rebound.status, (JSON.parse(rebound.body) as { code: string }).code]).toEqual([421, 'MISDIRECTED']);
    await store.close();
  });

  it('stream names are path segments as sent: %2F inside a name, and . or .. as names', async () => {
    const store = memoryStore();
    const { url } = await serve(store);
    await store.append('..', [{ type: 'T', data: 'dots' }]);
    await store.append('a/b', [{ type: 'T', data: 'slash' }]);
    expect(JSON.parse((await raw(url, '/api/streams/%2E%2E')).body)).toMatchObject({ stream: '..', events: [{ data: 'dots' }] });
    expect(JSON.parse((await raw(url, '/api/streams/a%2Fb')).body)).toMatchObject({ stream: 'a/b', events: [{ data: 'slash' }] });
    await store.close();
  });

  it('close answers the request in flight with its connection closed, and ends', async () => {
    const store = memoryStore();
    const serving = await serveHttp(store, { port: 0, token: TOKEN });
    const target = new URL(serving.url);
    const arrived = new Promise((resolve) => serving.server.once('request', resolve));
    const answered = new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
      const req = request({ host: target.hostname, port: target.port, path: '/api/streams/s', method: 'POST', headers: { ...json, ...auth, 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection }));
      });
      req.on('error', reject);
      req.write('[{"type":"T",');
      // The body finishes only once the server is closing.
      setTimeout(() => req.end('"data":1}]'), 100);
    });
    await arrived;
    const closed = serving.close();
    expect(await answered).toEqual({ status: 201, connection: 'close' });
    await closed;
    expect(await versionOf(store, 's')).toBe(1);
    await store.close();
  });

  it('failed requests are counted under their route', async () => {
    const store = memoryStore();
    const { call, post } = await serve(store);
    await post('api/streams/s', [{ type: 'T', data: 1 }], { 'if-match': '"5"' });
    expect(String((await call('metrics')).body)).toContain('factline_http_requests_total{route="append",method="POST",status="412"} 1\n');
    await store.close();
  });

  it('a server-side failure says what kind it is, never its cause', () => {
    const p = problemOf(new StoreUnavailableError('connect ECONNREFUSED 10.1.2.3:5432 (db-primary.internal)', 'not_written'));
    expect(p).toMatchObject({ status: 503, code: 'STORE_UNAVAILABLE', detail: 'the store is unavailable for now: try again shortly', headers: { 'retry-after': '1' } });
    expect(problemOf(new Error('secret'))).toMatchObject({ status: 500, code: 'INTERNAL' });
  });
});
