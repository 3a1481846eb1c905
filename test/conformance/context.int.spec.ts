import { describe, expect, it } from 'vitest';
import { ValidationError, defineDecider, defineReactor, handle, startProjections, withContext, type RecordedEvent } from '../../src/index.js';
import { collect, conformance } from './harness.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const counter = defineDecider<number, { by: number }, RecordedEvent<'Counted', { by: number }>>({
  initialState: () => 0,
  evolve: (n, e) => n + e.data.by,
  decide: (c) => [{ type: 'Counted', data: { by: c.by } }, { type: 'Counted', data: { by: 0 } }],
});

conformance('message context', ({ open, test }) => {
  test('events appended in a context carry its fields; their own metadata wins; outside it nothing is added', async () => {
    const store = await open();
    await withContext({ correlationId: 'corr-1', causationId: 'cmd-1', userId: 'ada', tenant: 'acme' }, async () => {
      await store.append('a', [{ type: 'T', data: 1 }, { type: 'T', data: 2, metadata: { causationId: 'own', note: 'x' } }]);
      // Nested: the inner context adds to the outer one.
      await withContext({ userId: 'grace' }, () => store.append('a', [{ type: 'T', data: 3 }]));
    });
    await store.append('a', [{ type: 'T', data: 4 }]);
    expect((await collect(store.readStream('a'))).map((e) => e.metadata)).toEqual([
      { correlationId: 'corr-1', causationId: 'cmd-1', userId: 'ada', tenant: 'acme' },
      { correlationId: 'corr-1', causationId: 'own', userId: 'ada', tenant: 'acme', note: 'x' },
      { correlationId: 'corr-1', causationId: 'cmd-1', userId: 'grace', tenant: 'acme' },
      {},
    ]);
  });

  test('the context follows awaits and timers, and each of many appends committed together keeps its own', async () => {
    const store = await open();
    await withContext({ correlationId: 'later' }, async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      await new Promise<void>((resolve, reject) => setImmediate(() => void store.append('t', [{ type: 'T', data: 0 }]).then(() => resolve(), reject)));
    });
    // Started in the same turn: they share group commits, each with its own context.
    await Promise.all(Array.from({ length: 30 }, (_, i) => withContext({ correlationId: `c-${i}` }, () => store.append(`s-${i}`, [{ type: 'T', data: i }]))));
    expect((await collect(store.readStream('t')))[0]!.metadata).toEqual({ correlationId: 'later' });
    for (let i = 0; i < 30; i++) expect((await collect(store.readStream(`s-${i}`)))[0]!.metadata).toEqual({ correlationId: `c-${i}` });
  });

  test('a command handled outside any message starts a correlation and causes its events; inside one it inherits', async () => {
    const store = await open();
    const fresh = await handle(store, 'counter-1', counter, { by: 2 });
    const [a, b] = fresh.events.map((e) => e.metadata);
    expect(a!.correlationId).toMatch(UUID);
    expect(a).toEqual({ correlationId: a!.correlationId, causationId: a!.correlationId });
    expect(b).toEqual(a);
    const other = await handle(store, 'counter-1', counter, { by: 1 });
    expect(other.events[0]!.metadata.correlationId).not.toBe(a!.correlationId);
    // In a correlation but not handling a message (a request, say): the correlation is kept, the command is the cause.
    const inRequest = await withContext({ correlationId: 'req-7', userId: 'ada' }, () => handle(store, 'counter-2', counter, { by: 1 }));
    expect(inRequest.events[0]!.metadata).toMatchObject({ correlationId: 'req-7', userId: 'ada' });
    expect(inRequest.events[0]!.metadata.causationId).toMatch(UUID);
    // Handling a message: it is the cause.
    const inHandler = await withContext({ correlationId: 'corr', causationId: 'event-9' }, () => handle(store, 'counter-3', counter, { by: 1 }));
    expect(inHandler.events[0]!.metadata).toEqual({ correlationId: 'corr', causationId: 'event-9' });
    // With an idempotency key, the command's id comes from the key: the same on a run again.
    const keyed = await handle(store, 'counter-4', counter, { by: 1 }, { idempotencyKey: 'k-1' });
    const again = await handle(store, 'counter-4', counter, { by: 1 }, { idempotencyKey: 'k-1' });
    expect(again.events.map((e) => e.metadata)).toEqual(keyed.events.map((e) => e.metadata));
  });

  test('a reactor acting on an event appends in the event\'s correlation, caused by it, not in the context it was started in', async () => {
    const store = await open();
    const shipper = defineReactor({
      name: 'shipper',
      types: ['OrderPlaced'],
      async handle(event) {
        await store.append(`shipment-${event.stream}`, [{ type: 'ShipmentRequested', data: {} }]);
      },
    });
    const daemon = await withContext({ userId: 'operator', correlationId: 'startup' }, () => startProjections(store, [shipper]));
    try {
      const placed = await withContext({ correlationId: 'order-flow', userId: 'ada' }, () => store.append('o-1', [{ type: 'OrderPlaced', data: {} }]));
      const uncorrelated = await store.append('o-2', [{ type: 'OrderPlaced', data: {} }]);
      await daemon.waitFor(uncorrelated.position, { timeout: 10_000 });
      for (let i = 0; i < 200 && (await store.streamInfo('shipment-o-2')).version === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      const [order1] = await collect(store.readStream('o-1'));
      const [order2] = await collect(store.readStream('o-2'));
      expect(placed.version).toBe(1);
      expect((await collect(store.readStream('shipment-o-1')))[0]!.metadata).toEqual({ correlationId: 'order-flow', causationId: order1!.id, userId: 'ada' });
      // An event with no correlation starts one: its own id.
      expect((await collect(store.readStream('shipment-o-2')))[0]!.metadata).toEqual({ correlationId: order2!.id, causationId: order2!.id });
    } finally {
      await daemon.close();
    }
  });
});

describe('message context', () => {
  it('withContext refuses what is not a context', () => {
    expect(() => withContext(null as never, () => 1)).toThrow(ValidationError);
    expect(() => withContext({ correlationId: 7 } as never, () => 1)).toThrow(ValidationError);
    expect(() => withContext({}, 'no' as never)).toThrow(ValidationError);
  });
});
