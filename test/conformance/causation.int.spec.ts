import { expect } from 'vitest';
import {
  ValidationError,
  defineDecider,
  defineReactor,
  handle,
  startProjections,
  uuidv7,
  withContext,
  type EventStore,
  type Metadata,
  type RecordedEvent,
} from '../../src/index.js';
import { internalsOf } from '../../src/projections/internals.js';
import { collect, conformance } from './harness.js';

type Placed = RecordedEvent<'OrderPlaced', { sku: string }>;
const order = defineDecider<boolean, { sku: string }, Placed>({
  initialState: () => false,
  evolve: () => true,
  decide: (c, placed) => (placed ? [] : [{ type: 'OrderPlaced', data: { sku: c.sku } }]),
});

const ids = (events: readonly RecordedEvent[]) => events.map((e) => e.id);

/** Appends one event with this id and metadata to a stream of its own. */
const put = (store: EventStore, id: string, metadata: Metadata) => store.append(`s-${id}`, [{ id, type: 'T', data: null, metadata }]);

conformance('causation queries', ({ open, test }) => {
  test('correlated reads the events of a correlation in position order, a page at a time, after a position and up to a limit', async () => {
    const store = await open({ pageSize: 3 });
    for (let i = 0; i < 20; i++) {
      const correlationId = i % 3 === 0 ? 'other' : 'flow-1';
      await store.append(`s-${i % 4}`, [{ type: 'T', data: i, metadata: { correlationId } }, { type: 'U', data: i }]);
    }
    const flow = await collect(store.correlated('flow-1'));
    expect(flow.map((e) => e.data)).toEqual([1, 2, 4, 5, 7, 8, 10, 11, 13, 14, 16, 17, 19]);
    expect(flow.every((e) => e.metadata.correlationId === 'flow-1')).toBe(true);
    const positions = flow.map((e) => e.position);
    expect([...positions].sort((a, b) => (a < b ? -1 : 1))).toEqual(positions);
    expect((await collect(store.correlated('flow-1', { after: flow[4]!.position, limit: 4 }))).map((e) => e.data)).toEqual([8, 10, 11, 13]);
    expect(await collect(store.correlated('flow-1', { limit: 0 }))).toEqual([]);
    expect(await collect(store.correlated('flow-2'))).toEqual([]);
    // Ids are compared exactly: any character an append takes, case kept.
    const odd = 'Ünïcødé 🚀 '.repeat(23).slice(0, 256);
    await store.append('odd', [{ type: 'T', data: 1, metadata: { correlationId: odd } }]);
    expect(await collect(store.correlated(odd))).toHaveLength(1);
    expect(await collect(store.correlated(odd.toUpperCase()))).toEqual([]);
  });

  test('a chain through handle() and a reactor: the command is the root cause, the reactor\'s events descend from the event', async () => {
    const store = await open();
    const shipping = defineReactor<RecordedEvent>({
      name: 'shipping',
      types: ['OrderPlaced', 'ShipmentRequested'],
      async handle(event) {
        const next = event.type === 'OrderPlaced' ? 'ShipmentRequested' : 'LabelPrinted';
        await store.append(`shipment-${event.stream}`, [{ type: next, data: {} }]);
      },
    });
    const daemon = await startProjections(store, [shipping]);
    try {
      const placed = await withContext({ correlationId: 'checkout-1' }, () => handle(store, 'order-1', order, { sku: 'tea' }));
      await daemon.waitFor(placed.position, { timeout: 10_000 });
      const requested = (await collect(store.correlated('checkout-1'))).find((e) => e.type === 'ShipmentRequested')!;
      await daemon.waitFor(requested.position, { timeout: 10_000 });
      const flow = await collect(store.correlated('checkout-1'));
      expect(flow.map((e) => e.type)).toEqual(['OrderPlaced', 'ShipmentRequested', 'LabelPrinted']);
      const [orderPlaced, , label] = flow;
      const commandId = orderPlaced!.metadata.causationId!;

      const fromLabel = await store.causationChain(label!.id);
      expect(fromLabel).toEqual({ event: label, ancestors: [orderPlaced, requested], rootCauseId: commandId, descendants: [], truncated: false });
      const fromOrder = await store.causationChain(orderPlaced!.id.toUpperCase());
      expect(fromOrder).toEqual({ event: orderPlaced, ancestors: [], rootCauseId: commandId, descendants: [requested, label], truncated: false });
    } finally {
      await daemon.close();
    }
  });

  test('descendants over several levels and branches come in position order; a cause outside the store is the root', async () => {
    const store = await open();
    const [root, c1, c2, g1, g2, g3, h1, other] = Array.from({ length: 8 }, () => uuidv7());
    await put(store, root!, { causationId: 'cmd-7' });
    await put(store, c2!, { causationId: root! });
    await put(store, c1!, { causationId: root! });
    await put(store, g3!, { causationId: c2! });
    await put(store, other!, {});
    await put(store, g1!, { causationId: c1! });
    await put(store, h1!, { causationId: g3! });
    await put(store, g2!, { causationId: c1! });
    const chain = await store.causationChain(root!);
    expect(chain).toMatchObject({ ancestors: [], rootCauseId: 'cmd-7', truncated: false });
    expect(ids(chain!.descendants)).toEqual([c2, c1, g3, g1, h1, g2]);
    const fromH1 = await store.causationChain(h1!);
    expect(ids(fromH1!.ancestors)).toEqual([root, c2, g3]);
    expect(fromH1).toMatchObject({ rootCauseId: 'cmd-7', descendants: [], truncated: false });
    // No cause at all: no root cause id.
    expect(await store.causationChain(other!)).toEqual({ event: (await store.getEvents([other!]))[0], ancestors: [], descendants: [], truncated: false });
  });

  test('cycles made with explicit metadata end the walk', async () => {
    const store = await open();
    const [a, b, self, c] = Array.from({ length: 4 }, () => uuidv7());
    await put(store, a!, { causationId: b! });
    await put(store, b!, { causationId: a!.toUpperCase() });
    await put(store, self!, { causationId: self! });
    await put(store, c!, { causationId: a! });
    const fromA = await store.causationChain(a!);
    // b caused a, and a caused b (named in upper case) and c: a cycle has no root.
    expect(ids(fromA!.ancestors)).toEqual([b]);
    expect(fromA!.rootCauseId).toBeUndefined();
    expect(ids(fromA!.descendants)).toEqual([b, c]);
    expect(fromA!.truncated).toBe(false);
    expect(await store.causationChain(self!)).toMatchObject({ ancestors: [], descendants: [], truncated: false });
    expect((await store.causationChain(self!))!.rootCauseId).toBeUndefined();
    expect(ids((await store.causationChain(c!))!.ancestors)).toEqual([b, a]);
  });

  test('limit bounds causes and effects together, and truncated says when it cut', async () => {
    const store = await open();
    const line = Array.from({ length: 10 }, () => uuidv7());
    for (let i = 0; i < line.length; i++) await put(store, line[i]!, i === 0 ? { causationId: 'cmd-1' } : { causationId: line[i - 1]! });
    const mid = await store.causationChain(line[5]!, { limit: 3 });
    expect(ids(mid!.ancestors)).toEqual(line.slice(2, 5));
    expect(mid).toMatchObject({ descendants: [], truncated: true });
    expect(mid!.rootCauseId).toBeUndefined();
    const some = await store.causationChain(line[5]!, { limit: 7 });
    expect(ids(some!.ancestors)).toEqual(line.slice(0, 5));
    expect(ids(some!.descendants)).toEqual(line.slice(6, 8));
    expect(some).toMatchObject({ rootCauseId: 'cmd-1', truncated: true });
    // Exactly as many as there are: nothing cut.
    expect(await store.causationChain(line[5]!, { limit: 9 })).toMatchObject({ rootCauseId: 'cmd-1', truncated: false });
    expect((await store.causationChain(line[0]!, { limit: 9 }))!.truncated).toBe(false);
    expect((await store.causationChain(line[0]!, { limit: 8 }))!.truncated).toBe(true);
    // A wide level keeps its first effects.
    const fan = uuidv7();
    const children = Array.from({ length: 5 }, () => uuidv7());
    await put(store, fan, {});
    for (const child of children) await put(store, child, { causationId: fan });
    const cut = await store.causationChain(fan, { limit: 3 });
    expect(ids(cut!.descendants)).toEqual(children.slice(0, 3));
    expect(cut!.truncated).toBe(true);
    expect((await store.causationChain(fan, { limit: 5 }))!.truncated).toBe(false);
  });

  test('an id that no event has gives undefined; bad arguments are a ValidationError', async () => {
    const store = await open();
    expect(await store.causationChain(uuidv7())).toBeUndefined();
    expect(await store.causationChain('not-an-id')).toBeUndefined();
    await expect(store.causationChain(7 as never)).rejects.toThrow(ValidationError);
    for (const limit of [0, -1, 1.5, 10_001, '5']) {
      await expect(store.causationChain(uuidv7(), { limit: limit as number })).rejects.toThrow(ValidationError);
    }
    await expect(store.causationChain(uuidv7(), 'x' as never)).rejects.toThrow(ValidationError);
    for (const id of [7, '', 'x'.repeat(257), 'a\nb', 'a\ud800']) expect(() => store.correlated(id as string)).toThrow(ValidationError);
    expect(() => store.correlated('c', { after: 1 as never })).toThrow(ValidationError);
    expect(() => store.correlated('c', { limit: -1 })).toThrow(ValidationError);
  });

  test('a correlation or causation id that is empty, too long, or has control characters or lone surrogates is refused, and nothing is written', async () => {
    const store = await open();
    const bad = ['', 'x'.repeat(257), 'a\u0000b', 'tab\there', 'a\ud800'];
    for (const key of ['correlationId', 'causationId'] as const) {
      for (const value of bad) {
        const error = await store.append('s', [{ type: 'T', data: 1 }, { type: 'T', data: 2, metadata: { [key]: value } }]).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ValidationError);
        expect((error as ValidationError).issues).toEqual([{ path: ['events', 1, 'metadata', key], message: expect.any(String) as string }]);
        let ran = false;
        expect(() => withContext({ [key]: value }, () => (ran = true))).toThrow(ValidationError);
        expect(ran).toBe(false);
      }
    }
    expect(await collect(store.readAll())).toEqual([]);
    // The longest id an append takes is found.
    const longest = 'y'.repeat(256);
    await withContext({ correlationId: longest }, () => store.append('s', [{ type: 'T', data: 1 }]));
    expect(await collect(store.correlated(longest))).toHaveLength(1);
  });

  test('events moved from another store keep metadata whose ids predate the checks; only valid ids are indexed', async () => {
    const store = await open();
    const [a, b] = [uuidv7(), uuidv7()];
    const moved = (id: string, metadata: Metadata) => ({ id, type: 'T', data: null, metadata, schemaVersion: 1, recordedAt: 1 });
    await internalsOf(store).importAppend('legacy', [moved(a, { correlationId: '', causationId: 'z'.repeat(300) }), moved(b, { correlationId: 'flow', causationId: a })], 'no_stream');
    expect((await collect(store.readStream('legacy'))).map((e) => e.metadata)).toEqual([{ correlationId: '', causationId: 'z'.repeat(300) }, { correlationId: 'flow', causationId: a }]);
    expect(ids(await collect(store.correlated('flow')))).toEqual([b]);
    expect(await store.causationChain(a)).toMatchObject({ ancestors: [], descendants: [{ id: b }], truncated: false });
    expect((await store.causationChain(a))!.rootCauseId).toBeUndefined();
  });
});
