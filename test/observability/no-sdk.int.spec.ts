import { metrics, trace } from '@opentelemetry/api';
import { afterEach, expect } from 'vitest';
import { defineDecider, defineReactor, defineWorkflow, handle, startProjections, startWorkflows, withContext, type ProjectionDaemon, type RecordedEvent, type WorkflowEngine } from '../../src/index.js';
import { createHttpApp } from '../../src/http/index.js';
import { internalsOf } from '../../src/projections/internals.js';
import { collect, conformance } from '../conformance/harness.js';

// No OpenTelemetry SDK in this process: every call goes to the API's no-ops, and metadata is
// exactly what it was before tracing existed.

const running: (ProjectionDaemon | WorkflowEngine)[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.close();
});

type Placed = RecordedEvent<'OrderPlaced', { sku: string }>;
const order = defineDecider<boolean, { sku: string }, Placed>({
  initialState: () => false,
  evolve: () => true,
  decide: (c, placed) => (placed ? [] : [{ type: 'OrderPlaced', data: { sku: c.sku } }]),
});

conformance('no OpenTelemetry SDK registered', ({ open, test }) => {
  test('events gain no trace context: handle, a reactor, a workflow and HTTP write the metadata they always did', async () => {
    expect(trace.getActiveSpan()).toBeUndefined();
    const store = await open();
    const shipping = defineReactor<Placed>({
      name: 'shipping',
      types: ['OrderPlaced'],
      async handle(event) {
        await store.append(`shipment-${event.stream}`, [{ type: 'ShipmentRequested', data: {} }]);
      },
    });
    const pack = defineWorkflow({
      name: 'pack',
      async run(ctx) {
        return ctx.step('box', () => 'boxed');
      },
    });
    const daemon = await startProjections(store, [shipping]);
    const engine = await startWorkflows(store, [pack], { pollInterval: 20 });
    running.push(daemon, engine);

    const placed = await withContext({ correlationId: 'checkout-1', userId: 'ada' }, () => handle(store, 'order-1', order, { sku: 'tea' }));
    const commandId = placed.events[0]!.metadata.causationId;
    expect(placed.events[0]!.metadata).toEqual({ correlationId: 'checkout-1', causationId: commandId, userId: 'ada' });
    await daemon.waitFor(placed.position);
    const [shipment] = await collect(store.readStream('shipment-order-1'));
    expect(shipment!.metadata).toEqual({ correlationId: 'checkout-1', causationId: placed.events[0]!.id, userId: 'ada' });

    expect(await (await engine.start(pack, undefined, { id: 'p1' })).result()).toBe('boxed');
    const row = await internalsOf(store).backend.workflows.get('p1');
    expect(Object.keys(JSON.parse(row!.input) as object)).toEqual(['after']);
    const [started] = await collect(store.readStream('workflow-pack-p1'));
    expect(started!.metadata).toEqual({ correlationId: started!.id });

    const app = createHttpApp(store, { token: 'a-token-for-the-no-sdk-test' });
    const { createServer } = await import('node:http');
    const server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as { port: number }).port}/api/streams/from-http`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: 'Bearer a-token-for-the-no-sdk-test',
          'x-correlation-id': 'http-1',
          traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
        },
        body: JSON.stringify([{ type: 'Posted', data: {} }]),
      });
      expect(res.status).toBe(201);
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await app.close();
    }
    const [posted] = await collect(store.readStream('from-http'));
    expect(posted!.metadata).toEqual({ correlationId: 'http-1' });
  });
});

// Nothing here registered a provider: the API answered with its no-ops throughout.
expect(trace.getTracerProvider().getTracer('x').startSpan('x').isRecording()).toBe(false);
expect(metrics.getMeterProvider().getMeter('x').constructor.name).toBe('NoopMeter');
