import { SpanKind, SpanStatusCode, propagation, type Span } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, expect } from 'vitest';
import {
  ConcurrencyError,
  defineDecider,
  defineProjection,
  defineReactor,
  defineWorkflow,
  handle,
  startProjections,
  startWorkflows,
  type ProjectionDaemon,
  type RecordedEvent,
  type WorkflowEngine,
} from '../../src/index.js';
import { createHttpApp } from '../../src/http/index.js';
import { collect, conformance } from '../conformance/harness.js';
import { installTracing, parentOf, spanIdOf, traceIdOf, traceparentOf } from '../support/otel.js';

const otel = installTracing();
afterAll(() => otel.uninstall());

const running: (ProjectionDaemon | WorkflowEngine)[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.close();
  otel.exporter.reset();
});

type Placed = RecordedEvent<'OrderPlaced', { sku: string }>;
const order = defineDecider<boolean, { sku: string }, Placed>({
  initialState: () => false,
  evolve: () => true,
  decide: (c, placed) => (placed ? [] : [{ type: 'OrderPlaced', data: { sku: c.sku } }]),
});

type Counted = RecordedEvent<'Counted', { n: number }>;
const counter = defineDecider<number, { by: number }, Counted>({
  initialState: () => 0,
  evolve: (n, e) => n + e.data.n,
  decide: (c) => [{ type: 'Counted', data: { n: c.by } }],
});

/** The finished spans named so, waiting for them: spans end after the work they time. */
async function spansNamed(name: string, count = 1, where: (s: ReadableSpan) => boolean = () => true): Promise<ReadableSpan[]> {
  await expect.poll(() => otel.spans().filter((s) => s.name === name && where(s)).length, { timeout: 5000 }).toBeGreaterThanOrEqual(count);
  return otel.spans().filter((s) => s.name === name && where(s));
}

/** Runs `fn` in a span of the test's own, the "caller" of everything below it. */
function inOuterSpan<T>(fn: (span: Span) => Promise<T>): Promise<T> {
  return otel.tracer.startActiveSpan('checkout', async (span) => {
    try {
      return await fn(span);
    } finally {
      span.end();
    }
  });
}

conformance('tracing', ({ open, test }) => {
  test('one trace end to end: caller → handle → append → event metadata → reactor (child) → its append; the projection batch links to it; a workflow step continues it', async () => {
    const store = await open();
    const shipping = defineReactor<Placed>({
      name: 'shipping',
      types: ['OrderPlaced'],
      async handle(event) {
        await store.append(`shipment-${event.stream}`, [{ type: 'ShipmentRequested', data: { sku: event.data.sku } }]);
      },
    });
    const orders = defineProjection<Placed>({
      name: 'orders',
      version: 1,
      types: ['OrderPlaced'],
      async handle(event, { documents }) {
        await documents('orders').upsert(event.stream, { sku: event.data.sku });
      },
    });
    const fulfil = defineWorkflow({
      name: 'fulfil',
      async run(ctx, input: { order: string }) {
        return ctx.step('pack', () => `packed ${input.order}`);
      },
    });
    const daemon = await startProjections(store, [shipping, orders]);
    const engine = await startWorkflows(store, [fulfil], { pollInterval: 20 });
    running.push(daemon, engine);

    const { placed, outer } = await inOuterSpan(async (span) => {
      const placed = await handle(store, 'order-1', order, { sku: 'tea' });
      expect(await (await engine.start(fulfil, { order: 'order-1' }, { id: 'w1' })).result()).toBe('packed order-1');
      return { placed, outer: span.spanContext() };
    });
    await daemon.waitFor(placed.position);

    // The command's span is a child of the caller's, its append a child of the command's.
    const [handled] = await spansNamed('factline.handle', 1, (s) => s.attributes['factline.stream.name'] === 'order-1');
    expect(traceIdOf(handled!)).toBe(outer.traceId);
    expect(parentOf(handled!)).toBe(outer.spanId);
    expect(handled!.attributes).toMatchObject({ 'factline.handle.attempts': 1, 'factline.event.count': 1, 'factline.stream.version': 1 });
    expect(handled!.attributes['factline.command.id']).toBe(placed.events[0]!.metadata.causationId);
    const [append] = await spansNamed('factline.append', 1, (s) => s.attributes['factline.stream.name'] === 'order-1');
    expect(parentOf(append!)).toBe(spanIdOf(handled!));
    expect(append!.kind).toBe(SpanKind.PRODUCER);
    expect(append!.attributes).toMatchObject({ 'factline.event.count': 1, 'factline.stream.version': 1, 'factline.position': Number(placed.position) });
    // Loading the state read the stream: a page span under the command.
    const reads = await spansNamed('factline.read_stream', 1, (s) => parentOf(s) === spanIdOf(handled!));
    expect(reads[0]!.attributes['factline.stream.name']).toBe('order-1');

    // The event carries the append span's context: whoever handles it continues this trace.
    const [event] = await collect(store.readStream('order-1'));
    expect(event!.metadata.traceparent).toBe(traceparentOf(append!.spanContext()));
    expect(typeof event!.metadata.correlationId === 'string' && typeof event!.metadata.causationId === 'string').toBe(true);

    // The reactor's span is a child of that append, in the caller's trace, linked to its batch.
    const [reaction] = await spansNamed('factline.reactor');
    expect(traceIdOf(reaction!)).toBe(outer.traceId);
    expect(parentOf(reaction!)).toBe(spanIdOf(append!));
    expect(reaction!.kind).toBe(SpanKind.CONSUMER);
    expect(reaction!.attributes).toMatchObject({ 'factline.reactor.name': 'shipping', 'factline.event.id': event!.id, 'factline.event.type': 'OrderPlaced', 'factline.stream.name': 'order-1' });
    const batches = await spansNamed('factline.projection.batch', 2);
    const reactorBatch = batches.find((b) => b.attributes['factline.projection.name'] === 'shipping')!;
    expect(reaction!.links.map((l) => l.context.spanId)).toEqual([spanIdOf(reactorBatch)]);
    // …and what it appended is a step further down the same trace.
    const [shipment] = await collect(store.readStream('shipment-order-1'));
    const [shipmentAppend] = await spansNamed('factline.append', 1, (s) => s.attributes['factline.stream.name'] === 'shipment-order-1');
    expect(parentOf(shipmentAppend!)).toBe(spanIdOf(reaction!));
    expect(shipment!.metadata.traceparent).toBe(traceparentOf(shipmentAppend!.spanContext()));
    expect(shipment!.metadata.causationId).toBe(event!.id);

    // The projection's batch starts a trace of its own, linked to the append of each event in it.
    const projected = batches.find((b) => b.attributes['factline.projection.name'] === 'orders')!;
    expect(projected.kind).toBe(SpanKind.CONSUMER);
    expect(projected.parentSpanContext).toBeUndefined();
    expect(projected.attributes).toMatchObject({ 'factline.projection.kind': 'projection', 'factline.event.count': 1 });
    expect(projected.attributes['factline.projection.checkpoint']).toBeGreaterThanOrEqual(Number(placed.position));
    expect(projected.links.map((l) => [l.context.traceId, l.context.spanId])).toEqual([[outer.traceId, spanIdOf(append!)]]);

    // The workflow's step continues the trace it was started in.
    const [step] = await spansNamed('factline.workflow.step');
    expect(traceIdOf(step!)).toBe(outer.traceId);
    expect(parentOf(step!)).toBe(outer.spanId);
    expect(step!.attributes).toEqual({
      'factline.workflow.name': 'fulfil',
      'factline.workflow.instance.id': 'w1',
      'factline.workflow.step.name': 'pack',
      'factline.workflow.step.attempt': 1,
    });
    const [started] = await collect(store.readStream('workflow-fulfil-w1'));
    expect(started!.metadata.traceparent).toMatch(new RegExp(`^00-${outer.traceId}-`));
  });

  test('a workflow step run by another engine, after a restart, still continues the trace of the start', async () => {
    const store = await open();
    const napping = defineWorkflow({
      name: 'napping',
      async run(ctx) {
        await ctx.step('before', () => 1);
        await ctx.sleep(200);
        return ctx.step('after', () => 2);
      },
    });
    const first = await startWorkflows(store, [napping], { pollInterval: 20 });
    const outer = await inOuterSpan(async (span) => {
      await first.start(napping, undefined, { id: 's1' });
      return span.spanContext();
    });
    await spansNamed('factline.workflow.step', 1, (s) => s.attributes['factline.workflow.step.name'] === 'before');
    await first.close(); // hands the instance back, asleep
    // Resumed by an engine started outside any span: the trace comes from what the start recorded.
    const second = await startWorkflows(store, [napping], { pollInterval: 20 });
    running.push(second);
    expect(await (await second.get('s1'))!.result({ timeout: 10_000 })).toBe(2);
    const [after] = await spansNamed('factline.workflow.step', 1, (s) => s.attributes['factline.workflow.step.name'] === 'after');
    expect(traceIdOf(after!)).toBe(outer.traceId);
    expect(parentOf(after!)).toBe(outer.spanId);
  });

  test('a process manager started by an event runs its steps in the trace that appended the event', async () => {
    const store = await open();
    const onboarding = defineWorkflow({
      name: 'onboarding',
      startOn: { type: 'UserRegistered', id: (e: RecordedEvent) => e.stream },
      async run(ctx) {
        return ctx.step('welcome', () => 'sent');
      },
    });
    const engine = await startWorkflows(store, [onboarding], { pollInterval: 20 });
    running.push(engine);
    const outer = await inOuterSpan(async (span) => {
      await store.append('user-1', [{ type: 'UserRegistered', data: {} }]);
      return span.spanContext();
    });
    const [step] = await spansNamed('factline.workflow.step');
    expect(traceIdOf(step!)).toBe(outer.traceId);
    const [reaction] = await spansNamed('factline.reactor', 1, (s) => s.attributes['factline.reactor.name'] === 'workflow:onboarding');
    expect(parentOf(step!)).toBe(spanIdOf(reaction!));
  });

  test('an append refused (ConcurrencyError) ends its span with status ERROR and the exception; handle retries show as attempts', async () => {
    const store = await open();
    await store.append('c-1', [{ type: 'Counted', data: { n: 1 } }]);
    const refused = await inOuterSpan(() => store.append('c-1', [{ type: 'Counted', data: { n: 1 } }], { expectedVersion: 0 }).catch((e: unknown) => e));
    expect(refused).toBeInstanceOf(ConcurrencyError);
    const [failed] = await spansNamed('factline.append', 1, (s) => s.status.code === SpanStatusCode.ERROR);
    expect(failed!.status.message).toContain('expected 0');
    expect(failed!.attributes['error.type']).toBe('CONCURRENCY');
    expect(failed!.events.map((e) => [e.name, e.attributes?.['exception.type']])).toEqual([['exception', 'CONCURRENCY']]);
    expect(failed!.attributes['factline.stream.version']).toBeUndefined();

    // A command whose first append meets another append to its stream: it loads, decides again and lands on its second attempt.
    otel.exporter.reset();
    let interloper: Promise<unknown> | undefined;
    const racing = defineDecider<number, { by: number }, Counted>({
      ...counter,
      decide: (c) => {
        interloper ??= store.append('c-2', [{ type: 'Counted', data: { n: 10 } }]); // committed first, in the same batch
        return [{ type: 'Counted', data: { n: c.by } }];
      },
    });
    await handle(store, 'c-2', racing, { by: 1 });
    await interloper;
    const [retried] = await spansNamed('factline.handle');
    expect(retried!.attributes).toMatchObject({ 'factline.handle.attempts': 2, 'factline.stream.version': 2 });
    expect(retried!.status.code).toBe(SpanStatusCode.UNSET);
    const appends = otel.spans().filter((s) => s.name === 'factline.append' && parentOf(s) === spanIdOf(retried!));
    expect(appends.map((a) => a.status.code).sort()).toEqual([SpanStatusCode.UNSET, SpanStatusCode.UNSET, SpanStatusCode.ERROR]);

    // A domain refusal fails the command's span, with nothing appended.
    otel.exporter.reset();
    const strict = defineDecider<number, { by: number }, Counted>({ ...counter, decide: () => { throw new Error('refused by the domain'); } });
    await expect(handle(store, 'c-3', strict, { by: 1 })).rejects.toThrow('refused by the domain');
    const [refusedHandle] = await spansNamed('factline.handle');
    expect(refusedHandle!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'refused by the domain' });
  });

  test('an event’s own traceparent wins over the active span’s; an append outside any span starts a trace of its own', async () => {
    const store = await open();
    const given = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await inOuterSpan(() => store.append('own', [{ type: 'A', data: {}, metadata: { traceparent: given } }, { type: 'B', data: {} }]));
    const [own, inherited] = await collect(store.readStream('own'));
    expect(own!.metadata.traceparent).toBe(given);
    expect(inherited!.metadata.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(inherited!.metadata.traceparent).not.toBe(given);

    await store.append('outside', [{ type: 'C', data: {} }]);
    const [outside] = await collect(store.readStream('outside'));
    // Outside a span the append starts a trace of its own (its span is a root): the event carries that.
    const [root] = await spansNamed('factline.append', 1, (s) => s.attributes['factline.stream.name'] === 'outside');
    expect(root!.parentSpanContext).toBeUndefined();
    expect(outside!.metadata).toEqual({ traceparent: traceparentOf(root!.spanContext()) });
  });

  test('reads make a span per page fetched', async () => {
    const store = await open({ pageSize: 2 });
    await store.append('paged', [1, 2, 3, 4, 5].map((n) => ({ type: 'N', data: { n } })));
    otel.exporter.reset();
    await inOuterSpan(async () => {
      expect(await collect(store.readStream('paged'))).toHaveLength(5);
      expect(await collect(store.readAll())).toHaveLength(5);
    });
    const streamPages = await spansNamed('factline.read_stream', 3);
    expect(streamPages.map((s) => [s.attributes['factline.read.from'], s.attributes['factline.read.to'], s.attributes['factline.event.count']])).toEqual([
      [1, 2, 2],
      [3, 4, 2],
      [5, 5, 1],
    ]);
    const allPages = await spansNamed('factline.read_all', 3);
    expect(allPages.map((s) => s.attributes['factline.event.count'])).toEqual([2, 2, 1]);
  });

  test('HTTP: an append joins the trace of the request’s traceparent header', async () => {
    const store = await open();
    const app = createHttpApp(store, { token: 'a-token-for-the-tracing-test' });
    const { createServer } = await import('node:http');
    const server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as { port: number }).port;
      const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      const res = await fetch(`http://127.0.0.1:${port}/api/streams/from-http`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer a-token-for-the-tracing-test', traceparent },
        body: JSON.stringify([{ type: 'Posted', data: {} }]),
      });
      expect(res.status).toBe(201);
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await app.close();
    }
    const [append] = await spansNamed('factline.append', 1, (s) => s.attributes['factline.stream.name'] === 'from-http');
    expect(traceIdOf(append!)).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(parentOf(append!)).toBe('00f067aa0ba902b7');
    const [posted] = await collect(store.readStream('from-http'));
    expect(posted!.metadata.traceparent).toBe(traceparentOf(append!.spanContext()));
  });
});

// The propagator is the application's: what it injects is what the events carry (W3C here).
expect(propagation.fields()).toEqual(['traceparent', 'tracestate']);
