import type { StandardSchemaV1 } from '@standard-schema/spec';
import * as v from 'valibot';
import { expect } from 'vitest';
import { z } from 'zod';
import {
  ConfigurationError,
  EventVersionError,
  ValidationError,
  defineDecider,
  defineEvents,
  load,
  type EventOf,
  type EventStore,
  type RecordedEvent,
} from '../../src/index.js';
import { collect, conformance } from './harness.js';

// Version 1 of OrderPlaced had no currency; version 2 has one, EUR for every old order.
const orderPlacedV1 = z.object({ orderId: z.string(), total: z.number() });
const orderPlacedV2 = z.object({ orderId: z.string(), total: z.number().nonnegative(), currency: z.string().length(3) });
type OrderPlacedV1 = z.infer<typeof orderPlacedV1>;

const v1 = defineEvents({
  OrderPlaced: { schema: orderPlacedV1 },
  OrderShipped: { schema: v.object({ orderId: v.string(), carrier: v.optional(v.string(), 'post') }) },
});
const v2 = defineEvents({
  OrderPlaced: {
    schema: orderPlacedV2,
    version: 2,
    upcast: { 1: (old: OrderPlacedV1) => ({ ...old, currency: 'EUR' }) },
  },
  OrderShipped: { schema: v.object({ orderId: v.string(), carrier: v.optional(v.string(), 'post') }) },
});

conformance('event definitions', ({ open, openShared, test }) => {
  test('data is validated on append; every issue is named with its path and nothing is written', async () => {
    const store = await open({ events: v2 });
    const error = await store
      .append('order-1', [
        { type: 'OrderPlaced', data: { orderId: 'o1', total: 10, currency: 'EUR' } },
        { type: 'OrderPlaced', data: { orderId: 'o1', total: -5, currency: 'EURO' } },
      ])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    const paths = (error as ValidationError).issues.map((i) => i.path.join('.'));
    expect(paths.sort()).toEqual(['events.1.data.currency', 'events.1.data.total']);
    expect(await collect(store.readAll())).toEqual([]);
  });

  test("the schema's output is what is stored (defaults applied), at the type's current version", async () => {
    const store = await open({ events: v2 });
    await store.append('order-1', [
      { type: 'OrderPlaced', data: { orderId: 'o1', total: 10, currency: 'EUR' } },
      { type: 'OrderShipped', data: { orderId: 'o1' } },
    ]);
    const [placed, shipped] = await collect(store.readStream('order-1'));
    expect(placed).toMatchObject({ type: 'OrderPlaced', schemaVersion: 2 });
    expect(shipped).toMatchObject({ type: 'OrderShipped', schemaVersion: 1, data: { orderId: 'o1', carrier: 'post' } });
  });

  test('events of types without a definition pass through untouched', async () => {
    const store = await open({ events: v2 });
    await store.append('misc', [{ type: 'Unknown', data: { anything: [1, 'two'] } }] as never);
    // Names that objects have anyway are names like any other.
    await store.append('misc', [{ type: 'constructor', data: 1 }, { type: '__proto__', data: 2 }, { type: 'toString', data: 3 }] as never);
    const [event, ...others] = (await collect(store.readAll())) as RecordedEvent[];
    expect(event).toMatchObject({ type: 'Unknown', schemaVersion: 1, data: { anything: [1, 'two'] } });
    expect(others.map((e) => [e.type, e.data])).toEqual([
      ['constructor', 1],
      ['__proto__', 2],
      ['toString', 3],
    ]);
  });

  test('old events are upcast on readStream, readAll and subscribe; schemaVersion says how they were stored', async () => {
    const [oldCode, newCode] = (await openShared([{ events: v1 }, { events: v2 }])) as [EventStore, EventStore<EventOf<typeof v2>>];
    await oldCode.append('order-1', [{ type: 'OrderPlaced', data: { orderId: 'o1', total: 10 } }]);
    await newCode.append('order-1', [{ type: 'OrderPlaced', data: { orderId: 'o1', total: 20, currency: 'USD' } }]);
    const expected = [
      { schemaVersion: 1, data: { orderId: 'o1', total: 10, currency: 'EUR' } },
      { schemaVersion: 2, data: { orderId: 'o1', total: 20, currency: 'USD' } },
    ];
    expect(await collect(newCode.readStream('order-1'))).toMatchObject(expected);
    expect(await collect(newCode.readAll())).toMatchObject(expected);
    const controller = new AbortController();
    const live: EventOf<typeof v2>[] = [];
    for await (const e of newCode.subscribe({ signal: controller.signal })) {
      live.push(e);
      if (live.length === 2) controller.abort();
    }
    expect(live).toMatchObject(expected);
    // The types follow the definitions: no cast to reach the upcast data.
    const first = live[0]!;
    if (first.type === 'OrderPlaced') expect(first.data.currency).toBe('EUR');
    // Old code still reads what it wrote as it was.
    expect(await collect(oldCode.readStream('order-1', { to: 1 }))).toMatchObject([{ data: { orderId: 'o1', total: 10 } }]);
  });

  test('load and getEvents see upcast events too', async () => {
    const [oldCode, newCode] = await openShared([{ events: v1 }, { events: v2 }]);
    const [placed] = await Promise.all([oldCode!.append('order-1', [{ type: 'OrderPlaced', data: { orderId: 'o1', total: 10 } }])]);
    const totals = defineDecider<{ currency: string | null }, never, EventOf<typeof v2>>({
      initialState: () => ({ currency: null }),
      evolve: (state, event) => (event.type === 'OrderPlaced' ? { currency: event.data.currency } : state),
      decide: () => [],
    });
    expect((await load(newCode!, 'order-1', totals)).state).toEqual({ currency: 'EUR' });
    const [found] = await newCode!.getEvents((await collect(newCode!.readAll())).map((e) => e.id));
    expect(found).toMatchObject({ schemaVersion: 1, data: { currency: 'EUR' }, position: placed.position });
  });

  test('an event stored at a version newer than the code knows is refused on read with EventVersionError', async () => {
    const [oldCode, newCode] = await openShared([{ events: v1 }, { events: v2 }]);
    await newCode!.append('order-1', [{ type: 'OrderPlaced', data: { orderId: 'o1', total: 1, currency: 'EUR' } }]);
    const error = await collect(oldCode!.readStream('order-1')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EventVersionError);
    expect(error).toMatchObject({ code: 'EVENT_VERSION', type: 'OrderPlaced', stored: 2, known: 1 });
  });

  test('a schema that validates asynchronously is awaited', async () => {
    const positive: StandardSchemaV1<number> = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: async (value) => {
          await new Promise((r) => setTimeout(r, 1));
          return typeof value === 'number' && value > 0 ? { value } : { issues: [{ message: 'must be positive' }] };
        },
      },
    };
    const store = await open({ events: defineEvents({ Counted: { schema: positive } }) });
    await store.append('c', [{ type: 'Counted', data: 3 }]);
    await expect(store.append('c', [{ type: 'Counted', data: -1 }])).rejects.toThrow('events[0].data: must be positive');
    expect((await collect(store.readStream('c'))).map((e) => e.data)).toEqual([3]);
  });
});

conformance('defineEvents refuses definitions that cannot work', ({ test }) => {
  test('a version without an upcaster from every older one, or a schema that is not a Standard Schema', () => {
    expect(() => defineEvents({ A: { schema: orderPlacedV2, version: 3, upcast: { 1: (x: OrderPlacedV1) => x } } })).toThrow(
      /no upcaster from version 2/,
    );
    expect(() => defineEvents({ A: { schema: orderPlacedV2, version: 2, upcast: { 2: (x: never) => x } } })).toThrow(ConfigurationError);
    expect(() => defineEvents({ A: { schema: {} as never } })).toThrow(/Standard Schema/);
    expect(() => defineEvents({ A: { schema: orderPlacedV2, version: 0 } })).toThrow(/version/);
    return Promise.resolve();
  });
});
