import { expect } from 'vitest';
import { ConcurrencyError, ValidationError, defineProjection, type RecordedEvent } from '../../src/index.js';
import { internalsOf } from '../../src/projections/internals.js';
import { inboxCollection, processOnce, type MessageHandler } from '../../src/nats/inbox.js';
import { collect, conformance } from './harness.js';

/** A message from another service, as a consumer decodes it. */
const received = (n: number, metadata: RecordedEvent['metadata'] = { correlationId: 'order-flow' }): RecordedEvent => ({
  id: `0190f5a2-0000-7000-8000-${String(n).padStart(12, '0')}`,
  stream: 'order-1',
  version: n,
  position: BigInt(n),
  type: 'OrderPlaced',
  data: { n },
  metadata,
  schemaVersion: 1,
  recordedAt: new Date(),
});
const delivery = { consumer: 'shipping', trace: {}, subject: 'orders.events', sequence: 1, deliveries: 1, signal: new AbortController().signal };
const inbox = inboxCollection('shipping');

conformance('consumer inbox', ({ open, test }) => {
  test('a message is handled once: its appends and inbox entry commit together, a second delivery is skipped', async () => {
    const shipments = defineProjection({
      name: 'shipments',
      version: 1,
      types: ['ShipmentRequested'],
      handle: async (e, ctx) => ctx.documents('shipments').upsert(e.stream, { n: (e.data as { n: number }).n }),
    });
    const store = await open({ projections: { inline: [shipments] } });
    const core = internalsOf(store);
    let runs = 0;
    const handler: MessageHandler = (event, ctx) => {
      runs++;
      ctx.append('shipment-1', [{ type: 'ShipmentRequested', data: event.data }]);
      ctx.append('audit', [{ type: 'Seen', data: null }]);
    };
    expect(await processOnce(core, inbox, received(1), handler, delivery)).toBe('processed');
    expect(await processOnce(core, inbox, received(1), handler, delivery)).toBe('duplicate');
    expect(runs).toBe(1);
    const [shipment] = await collect(store.readStream('shipment-1'));
    expect(shipment).toMatchObject({ type: 'ShipmentRequested', data: { n: 1 }, metadata: { correlationId: 'order-flow', causationId: received(1).id } });
    expect(await collect(store.readStream('audit'))).toHaveLength(1);
    // The store's inline projections ran in the same transaction.
    expect(await store.documents('shipments').get('shipment-1')).toEqual({ n: 1 });
  });

  test('a refused append rolls back the inbox entry: the message is handled again, and then once', async () => {
    const store = await open();
    const core = internalsOf(store);
    await store.append('shipment-1', [{ type: 'Existing', data: null }]);
    let expected: 'no_stream' | 1 = 'no_stream';
    const handler: MessageHandler = (_e, ctx) => {
      ctx.append('other', [{ type: 'Side', data: null }]);
      ctx.append('shipment-1', [{ type: 'ShipmentRequested', data: null }], { expectedVersion: expected });
    };
    await expect(processOnce(core, inbox, received(1), handler, delivery)).rejects.toThrow(ConcurrencyError);
    expect(await collect(store.readStream('other'))).toEqual([]);
    expected = 1;
    expect(await processOnce(core, inbox, received(1), handler, delivery)).toBe('processed');
    expect((await collect(store.readStream('shipment-1'))).map((e) => e.type)).toEqual(['Existing', 'ShipmentRequested']);
    expect(await collect(store.readStream('other'))).toHaveLength(1);
  });

  test('a handler that appends nothing still records the message; bad events are refused whole', async () => {
    const store = await open();
    const core = internalsOf(store);
    expect(await processOnce(core, inbox, received(1), () => {}, delivery)).toBe('processed');
    expect(await processOnce(core, inbox, received(1), () => {}, delivery)).toBe('duplicate');
    const bad: MessageHandler = (_e, ctx) => {
      ctx.append('fine', [{ type: 'Fine', data: null }]);
      ctx.append('', [{ type: 'Bad', data: null }]);
    };
    await expect(processOnce(core, inbox, received(2), bad, delivery)).rejects.toThrow(/stream/i);
    const twice: MessageHandler = (_e, ctx) => {
      const id = '0190f5a2-0000-7000-8000-0000000000aa';
      ctx.append('a', [{ id, type: 'T', data: null }]);
      ctx.append('b', [{ id, type: 'T', data: null }]);
    };
    await expect(processOnce(core, inbox, received(2), twice, delivery)).rejects.toThrow(ValidationError);
    expect(await collect(store.readAll())).toEqual([]);
    expect(await store.documents('x').get('y')).toBeUndefined();
  });

  test('two consumers of one inbox given the same message at once: one handles it, the other skips it', async () => {
    const store = await open();
    const core = internalsOf(store);
    const handler: MessageHandler = async (e, ctx) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      ctx.append('shipment-1', [{ type: 'ShipmentRequested', data: e.data }]);
    };
    const outcomes = await Promise.all([processOnce(core, inbox, received(1), handler, delivery), processOnce(core, inbox, received(1), handler, delivery)]);
    expect(outcomes.sort()).toEqual(['duplicate', 'processed']);
    expect(await collect(store.readStream('shipment-1'))).toHaveLength(1);
  });

  test('a message without a correlation starts one from its own id; an append after the handler returned is refused', async () => {
    const store = await open();
    const core = internalsOf(store);
    const message = received(3, {});
    let late: Promise<unknown> | undefined;
    await processOnce(core, inbox, message, (_e, ctx) => {
      ctx.append('s', [{ type: 'T', data: null }]);
      late = new Promise((resolve) => setTimeout(resolve, 5)).then(() => {
        try {
          ctx.append('s', [{ type: 'Late', data: null }]);
        } catch (error) {
          return error;
        }
      });
    }, delivery);
    expect(String(await late)).toMatch(/after the handler returned/);
    const [event] = await collect(store.readStream('s'));
    expect(event!.metadata).toEqual({ correlationId: message.id, causationId: message.id });
  });
});
