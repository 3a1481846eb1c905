import { expect } from 'vitest';
import {
  deadLetters,
  defineEvents,
  defineProjection,
  defineReactor,
  isProjectionFailedError,
  isStoreClosedError,
  isTimeoutError,
  isValidationError,
  rebuildProjection,
  startProjections,
  type EventStore,
  type ProjectionContext,
  type RecordedEvent,
} from '../../src/index.js';
import { internalsOf } from '../../src/projections/internals.js';
import { conformance } from './harness.js';

interface Order {
  status: string;
  total: number;
  applied: number;
}

/** Counts every application per document: an event applied twice shows as applied > events. */
async function applyOrder(event: RecordedEvent, { documents }: ProjectionContext): Promise<void> {
  const d = event.data as { id: string; total?: number };
  const orders = documents<Order>('orders');
  const current = await orders.get(d.id);
  if (event.type === 'OrderPlaced') await orders.upsert(d.id, { status: 'placed', total: d.total ?? 0, applied: (current?.applied ?? 0) + 1 });
  else if (current) await orders.upsert(d.id, { ...current, status: 'shipped', applied: current.applied + 1 });
}

const orders = (version = 1, extra: Partial<Parameters<typeof defineProjection>[0]> = {}) =>
  defineProjection({ name: 'orders', version, types: ['OrderPlaced', 'OrderShipped'], indexes: { orders: ['status', 'total'] }, handle: applyOrder, ...extra });

async function place(store: EventStore, n: number, from = 0): Promise<bigint> {
  let position = 0n;
  for (let i = from; i < from + n; i++) position = (await store.append(`order-${i}`, [{ type: 'OrderPlaced', data: { id: `o${i}`, total: i } }])).position;
  return position;
}

conformance('documents', ({ open, test }) => {
  test('upsert, get, patch and delete', async () => {
    const store = await open();
    const docs = store.documents<{ a: number; b?: string }>('things');
    expect(await docs.get('x')).toBeUndefined();
    await docs.upsert('x', { a: 1 });
    expect(await docs.get('x')).toEqual({ a: 1 });
    expect(await docs.patch('x', { b: 'two' })).toEqual({ a: 1, b: 'two' });
    expect(await docs.get('x')).toEqual({ a: 1, b: 'two' });
    expect(await docs.patch('missing', { a: 2 })).toBeUndefined();
    expect(await docs.get('missing')).toBeUndefined();
    expect(await docs.delete('x')).toBe(true);
    expect(await docs.delete('x')).toBe(false);
    expect(await store.documents('other').get('x')).toBeUndefined();
  });

  test('find compares by kind, then by value; equality and ranges only match their own kind', async () => {
    const store = await open();
    const docs = store.documents('mixed');
    const values: [string, unknown][] = [
      ['n1', 1], ['n2', 2], ['n10', 10], ['nf', 2.5], ['neg', -3], ['s1', '1'], ['s10', '10'], ['sa', 'a'], ['sB', 'B'], ['se', 'é'],
      ['t', true], ['f', false], ['nul', null], ['arr', [1]], ['obj', { a: 1 }],
    ];
    for (const [id, v] of values) await docs.upsert(id, { v });
    await docs.upsert('missing', {});
    const ids = async (options: Parameters<typeof docs.find>[0]) => (await docs.find(options)).items.map((i) => i.id);
    expect(await ids({ orderBy: { v: 'asc' }, limit: 100 })).toEqual(['missing', 'nul', 'f', 't', 'neg', 'n1', 'n2', 'nf', 'n10', 's1', 's10', 'sB', 'sa', 'se', 'arr', 'obj']);
    expect(await ids({ where: { v: 1 } })).toEqual(['n1']);
    expect(await ids({ where: { v: '1' } })).toEqual(['s1']);
    expect(await ids({ where: { v: true } })).toEqual(['t']);
    expect(await ids({ where: { v: null }, orderBy: { v: 'asc' } })).toEqual(['missing', 'nul']);
    expect(await ids({ where: { v: { gt: 1, lte: 10 } }, orderBy: { v: 'desc' } })).toEqual(['n10', 'nf', 'n2']);
    expect(await ids({ where: { v: { gte: 'B' } }, orderBy: { v: 'asc' } })).toEqual(['sB', 'sa', 'se']);
    expect(await ids({ where: { v: { in: [2, 'a', false] } }, orderBy: { v: 'asc' } })).toEqual(['f', 'n2', 'sa']);
  });

  test('pages with a cursor cover every document once, in order, for any sort', async () => {
    const store = await open();
    const docs = store.documents<{ g: number; s: string }>('paged');
    for (let i = 0; i < 37; i++) await docs.upsert(`d${String(i).padStart(2, '0')}`, { g: i % 4, s: `x${i % 3}` });
    for (const orderBy of [{ g: 'asc' }, { g: 'desc', s: 'asc' }, {}] as const) {
      const seen: string[] = [];
      let after: string | undefined;
      do {
        const page = await docs.find({ orderBy, limit: 5, ...(after ? { after } : {}) });
        seen.push(...page.items.map((i) => i.id));
        after = page.next;
      } while (after);
      const all = (await docs.find({ orderBy, limit: 100 })).items.map((i) => i.id);
      expect(seen).toEqual(all);
      expect(new Set(seen).size).toBe(37);
    }
  });

  test('bad input is refused with a ValidationError and nothing is written', async () => {
    const store = await open();
    const docs = store.documents('bad');
    const bad: (() => Promise<unknown>)[] = [
      () => docs.upsert('', { a: 1 }),
      () => docs.upsert('x', [] as never),
      () => docs.upsert('x', { a: new Date() }),
      () => docs.upsert('x', { a: NaN }),
      () => docs.upsert('x', { a: 'nul \u0000 inside' }),
      () => docs.upsert('x', { 'key\u0000': 1 }),
      () => docs.upsert('x', { a: ['lone \ud800 surrogate'] }),
      () => docs.patch('keep', { b: '\udc00' }),
      () => docs.find({ where: { 'a.b': 1 } }),
      () => docs.find({ where: { a: { gt: true } } as never }),
      () => docs.find({ where: { a: { like: 'x' } } as never }),
      () => docs.find({ orderBy: { a: 'up' } as never }),
      () => docs.find({ limit: 0 }),
      () => docs.find({ after: 'not-a-cursor' }),
      // a cursor from a query with another number of sort keys
      () => docs.find({ orderBy: { a: 'asc' }, after: 'WyJbXSIsIngiXQ' }),
    ];
    await docs.upsert('keep', { a: 1 });
    for (const call of bad) await expect(call()).rejects.toSatisfy(isValidationError);
    expect((await docs.find()).items.map((i) => i.id)).toEqual(['keep']);
    expect(() => store.documents('bad name!')).toThrow(/collection names/);
    // Paired surrogates (an emoji) are fine.
    await docs.upsert('emoji', { a: '😀' });
    expect(await docs.get('emoji')).toEqual({ a: '😀' });
  });

  test('a closed store refuses document calls with StoreClosedError', async () => {
    const store = await open();
    const docs = store.documents('c');
    await store.close();
    await expect(docs.get('x')).rejects.toSatisfy(isStoreClosedError);
    await expect(docs.find()).rejects.toSatisfy(isStoreClosedError);
    await expect(docs.upsert('x', { a: 1 })).rejects.toSatisfy(isStoreClosedError);
    expect(() => store.documents('c')).toThrow(/closed/);
  });
});

conformance('async projections', ({ open, openShared, test }) => {
  test('a rebuild and a subscription catching up let the process breathe: timers run between batches', async () => {
    const store = await open({ pageSize: 20 });
    await store.append('many', Array.from({ length: 400 }, (_, i) => ({ type: 'OrderPlaced', data: { id: `o${i}`, total: 1 } })));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    try {
      // On SQLite and memory every call answers at once: without a turn between batches, no timer
      // would run until the whole log is done.
      await rebuildProjection(store, orders(), { batchSize: 20 });
      expect(ticks).toBeGreaterThan(0);
      ticks = 0;
      const controller = new AbortController();
      for await (const e of store.subscribe({ signal: controller.signal })) if (e.position === 400n) controller.abort();
      expect(ticks).toBeGreaterThan(0);
    } finally {
      clearInterval(timer);
    }
  });

  test('catch up, follow live, waitFor gives read-your-writes, status reports the checkpoint', async () => {
    const store = await open();
    await place(store, 30);
    const daemon = await startProjections(store, [orders()], { batchSize: 7 });
    try {
      let position = await place(store, 10, 30);
      position = (await store.append('order-3', [{ type: 'OrderShipped', data: { id: 'o3' } }])).position;
      await store.append('noise', [{ type: 'Other', data: {} }]);
      await daemon.waitFor(position, { timeout: 10_000 });
      expect(await store.documents<Order>('orders').get('o3')).toEqual({ status: 'shipped', total: 3, applied: 2 });
      const placed = await store.documents<Order>('orders').find({ where: { status: 'placed' }, limit: 1000 });
      expect(placed.items).toHaveLength(39);
      expect(placed.items.every((i) => i.data.applied === 1)).toBe(true);
      const [status] = daemon.status();
      expect(status).toMatchObject({ name: 'orders', state: 'live', owner: true, generation: 1 });
      expect(status!.checkpoint! >= position).toBe(true);
    } finally {
      await daemon.close();
    }
    expect(daemon.status()[0]!.state).toBe('stopped');
  });

  test('a restarted daemon resumes from its checkpoint: nothing applied twice', async () => {
    const store = await open();
    const first = await startProjections(store, [orders()]);
    await first.waitFor(await place(store, 20));
    await first.close();
    const position = await place(store, 5, 20);
    const second = await startProjections(store, [orders()]);
    await second.waitFor(position);
    await second.close();
    const all = await store.documents<Order>('orders').find({ limit: 1000 });
    expect(all.items).toHaveLength(25);
    expect(all.items.every((i) => i.data.applied === 1)).toBe(true);
  });

  test('waitFor times out with a TimeoutError when no one runs the projection', async () => {
    const store = await open();
    const daemon = await startProjections(store, [orders()]);
    await daemon.close();
    const position = await place(store, 1);
    await expect(daemon.waitFor(position, { timeout: 100 })).rejects.toSatisfy(isTimeoutError);
  });

  test('a handler that keeps failing stops its projection in state failed, naming the event; the others go on', async () => {
    const store = await open();
    let tries = 0;
    const broken = defineProjection({
      name: 'broken',
      version: 1,
      retries: 3,
      handle(event) {
        if (event.type === 'Poison') {
          tries++;
          throw new Error('cannot handle poison');
        }
      },
    });
    const daemon = await startProjections(store, [broken, orders()], { backoff: { initial: 1, max: 5 } });
    try {
      await place(store, 3);
      const poison = await store.append('p', [{ type: 'Poison', data: {} }]);
      const after = await place(store, 3, 3);
      await daemon.waitFor(after, { projections: ['orders'] });
      await expect(daemon.waitFor(after, { projections: ['broken'], timeout: 5000 })).rejects.toSatisfy(
        (e) => isProjectionFailedError(e) && e.message.includes('cannot handle poison'),
      );
      const status = daemon.status().find((s) => s.name === 'broken')!;
      expect(status.state).toBe('failed');
      expect(status.lastError).toMatchObject({ message: 'cannot handle poison', position: poison.position, attempts: 3 });
      expect(status.checkpoint).toBe(poison.position - 1n);
      // Three tries on its own, after (perhaps) one in a batch with the events before it.
      expect([3, 4]).toContain(tries);
    } finally {
      await daemon.close();
    }
    // Restarting tries the event again from the checkpoint: it is never skipped.
    const before = tries;
    const again = await startProjections(store, [broken], { backoff: { initial: 1, max: 5 } });
    await expect(again.waitFor(await store.append('q', [{ type: 'X', data: {} }]).then((r) => r.position), { timeout: 5000 })).rejects.toSatisfy(isProjectionFailedError);
    expect(tries).toBe(before + 3);
    await again.close();
  });

  test('with onFailure dead-letter the event is recorded and the projection goes on', async () => {
    const store = await open();
    // Documents, not a variable: a batch cut at a failure runs the events before it again, and
    // only the transaction's writes are exactly once.
    const lenient = defineProjection({
      name: 'lenient',
      version: 1,
      retries: 2,
      onFailure: 'dead-letter',
      async handle(event, { documents }) {
        if (event.type === 'Poison') throw new Error('bad event');
        await documents('lenient').upsert(String(event.position).padStart(4, '0'), { type: event.type });
      },
    });
    const daemon = await startProjections(store, [lenient], { backoff: { initial: 1, max: 2 } });
    await store.append('a', [{ type: 'A', data: {} }]);
    const poison = await store.append('p', [{ type: 'Poison', data: {} }]);
    const last = await store.append('b', [{ type: 'B', data: {} }]);
    await daemon.waitFor(last.position);
    await daemon.close();
    expect((await store.documents<{ type: string }>('lenient').find()).items.map((i) => i.data.type)).toEqual(['A', 'B']);
    const letters = await deadLetters(store, 'lenient');
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ projection: 'lenient', position: poison.position, error: 'bad event' });
  });

  test('events before a failing one in the same batch are applied once', async () => {
    const store = await open();
    let failures = 0;
    const flaky = defineProjection({
      name: 'orders',
      version: 1,
      types: ['OrderPlaced'],
      async handle(event, ctx) {
        if ((event.data as { id: string }).id === 'o5' && failures++ < 2) throw new Error('transient');
        await applyOrder(event, ctx);
      },
    });
    const last = await place(store, 10);
    const daemon = await startProjections(store, [flaky], { batchSize: 100, backoff: { initial: 1, max: 2 } });
    await daemon.waitFor(last);
    await daemon.close();
    const all = await store.documents<Order>('orders').find({ limit: 100 });
    expect(all.items.map((i) => i.data.applied)).toEqual(Array(10).fill(1));
  });

  test('a new version rebuilds blue/green: the old documents serve until the new generation swaps in', async () => {
    const store = await open();
    const v1 = await startProjections(store, [orders(1)]);
    await v1.waitFor(await place(store, 10));
    await v1.close();
    const gate = { open: false, reached: false };
    const v2def = orders(2, {
      async handle(event, ctx) {
        gate.reached = true;
        while (!gate.open) await new Promise((r) => setTimeout(r, 5));
        const d = event.data as { id: string; total: number };
        await ctx.documents('orders').upsert(d.id, { status: 'v2', total: d.total, applied: 1 });
      },
    });
    const v2 = await startProjections(store, [v2def], { batchSize: 3 });
    while (!gate.reached) await new Promise((r) => setTimeout(r, 5));
    expect(v2.status()[0]).toMatchObject({ state: 'rebuilding', generation: 2 });
    expect((await store.documents<Order>('orders').get('o1'))?.status).toBe('placed');
    gate.open = true;
    await v2.waitFor(await place(store, 1, 10));
    expect(v2.status()[0]).toMatchObject({ state: 'live', generation: 2 });
    expect((await store.documents<Order>('orders').get('o1'))?.status).toBe('v2');
    expect((await store.documents<Order>('orders').get('o10'))?.status).toBe('v2');
    expect((await store.documents('orders').find({ limit: 100 })).items).toHaveLength(11);
    await v2.close();
    // Old code started again finds a newer version live and stands aside.
    const old = await startProjections(store, [orders(1)]);
    for (let i = 0; i < 100 && old.status()[0]!.state !== 'superseded'; i++) await new Promise((r) => setTimeout(r, 10));
    expect(old.status()[0]!.state).toBe('superseded');
    await old.close();
  });

  test('rebuildProjection builds a new generation, reports progress and swaps in', async () => {
    const store = await open();
    const daemon = await startProjections(store, [orders()]);
    await daemon.waitFor(await place(store, 25));
    const progress: bigint[] = [];
    const result = await rebuildProjection(store, orders(), { batchSize: 10, onProgress: (p) => progress.push(p.done) });
    expect(result.generation).toBe(2);
    expect(progress.length).toBeGreaterThanOrEqual(3);
    expect(progress.at(-1)).toBe(25n);
    // The daemon follows the new generation.
    const position = await place(store, 1, 25);
    await daemon.waitFor(position);
    const all = await store.documents<Order>('orders').find({ limit: 100 });
    expect(all.items).toHaveLength(26);
    expect(all.items.every((i) => i.data.applied === 1)).toBe(true);
    await daemon.close();
  });

  test('a daemon whose store closes stops', async () => {
    const store = await open();
    const daemon = await startProjections(store, [orders()]);
    await daemon.waitFor(await place(store, 3));
    await store.close();
    await daemon.close();
    expect(daemon.status()[0]!.state).toBe('stopped');
  });

  test('a rebuild whose last page is full still swaps in', async () => {
    const store = await open();
    await place(store, 10);
    const rebuilt = await Promise.race([
      rebuildProjection(store, orders(), { batchSize: 5 }),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the rebuild did not finish')), 5000)),
    ]);
    expect(rebuilt).toEqual({ generation: 1, checkpoint: 10n });
    expect((await store.documents('orders').find({ limit: 100 })).items).toHaveLength(10);
  });

  test('a rebuild that died leaves nothing behind once another swaps in', async () => {
    const store = await open();
    await place(store, 6);
    // A rebuild that stops for good half way: its handler always fails on the fourth event.
    const dying = orders(1, {
      retries: 1,
      async handle(event, ctx) {
        if ((event.data as { id: string }).id === 'o3') throw new Error('cannot go on');
        await applyOrder(event, ctx);
      },
    });
    await expect(rebuildProjection(store, dying, { batchSize: 2 })).rejects.toSatisfy(isProjectionFailedError);
    const { generation } = await rebuildProjection(store, orders());
    expect(generation).toBe(2);
    expect((await store.documents<Order>('orders').find({ limit: 100 })).items.map((i) => i.data.applied)).toEqual(Array(6).fill(1));
    const rows = await internalsOf(store).backend.projections.projections();
    expect(rows.map((r) => [r.generation, r.status])).toEqual([[2, 'live']]);
    // Only the live generation is left: a daemon of this version joins it.
    const daemon = await startProjections(store, [orders()]);
    await daemon.waitFor(await place(store, 1, 6));
    expect(daemon.status()[0]!.generation).toBe(2);
    await daemon.close();
  });

  test('a reactor gets the events before one it cannot decode, and dead-letters only that one', async () => {
    const schema = { '~standard': { version: 1 as const, vendor: 'test', validate: (value: unknown) => ({ value }) } };
    const events = defineEvents({
      A: { schema },
      X: { schema, version: 2, upcast: { 1: (): never => { throw new Error('cannot upcast'); } } },
    });
    const [plain, typed] = await openShared([{}, { events }]);
    await plain!.append('a', [{ type: 'A', data: { n: 0 } }, { type: 'A', data: { n: 1 } }, { type: 'X', data: { n: 2 } }, { type: 'A', data: { n: 3 } }]);
    const seen: number[] = [];
    const reactor = defineReactor({ name: 'mailer', retries: 2, onFailure: 'dead-letter', handle: (e) => void seen.push((e.data as { n: number }).n) });
    const daemon = await startProjections(typed!, [reactor], { backoff: { initial: 1, max: 2 } });
    await daemon.waitFor(4n, { timeout: 5000 });
    await daemon.close();
    expect(seen).toEqual([0, 1, 3]);
    expect((await deadLetters(typed!, 'mailer')).map((d) => d.position)).toEqual([3n]);
  });

  test('an event that fails while a rebuild swaps in goes through the failure policy; the batch before it is kept', async () => {
    const store = await open();
    await place(store, 3);
    // The failing event is appended between the rebuild's last read and its swap.
    const backend = internalsOf(store).backend;
    const readAll = backend.readAll.bind(backend);
    let fired = false;
    backend.readAll = async (page) => {
      const rows = await readAll(page);
      if (!fired && rows.length > 0) {
        fired = true;
        await store.append('bad', [{ type: 'OrderPlaced', data: { id: 'poison' } }]);
      }
      return rows;
    };
    const strict = orders(1, {
      retries: 1,
      onFailure: 'dead-letter',
      async handle(event, ctx) {
        if ((event.data as { id: string }).id === 'poison') throw new Error('bad event');
        await applyOrder(event, ctx);
      },
    });
    const result = await rebuildProjection(store, strict, { batchSize: 10 });
    expect(result.checkpoint).toBe(4n);
    expect((await store.documents('orders').find()).items.map((i) => i.id)).toEqual(['o0', 'o1', 'o2']);
    expect((await deadLetters(store, 'orders')).map((d) => d.position)).toEqual([4n]);
  });

  test('an older version finishing its build does not replace a newer live one', async () => {
    const store = await open();
    await place(store, 5);
    const slow = (version: number, delay: number) =>
      orders(version, {
        async handle(event, ctx) {
          await new Promise((r) => setTimeout(r, delay));
          const d = event.data as { id: string };
          await ctx.documents('orders').upsert(d.id, { status: `v${version}`, total: 0, applied: 1 });
        },
      });
    const rebuilding = rebuildProjection(store, slow(1, 20), { batchSize: 1 });
    await new Promise((r) => setTimeout(r, 30));
    const daemon = await startProjections(store, [slow(2, 0)], { leaseTtl: 300 });
    await daemon.waitFor(5n);
    await expect(rebuilding).rejects.toThrow(/superseded/);
    expect((await store.documents<Order>('orders').get('o0'))?.status).toBe('v2');
    await daemon.close();
  });

  test('reactors get every event at least once, and retry a failing one', async () => {
    const store = await open();
    const got: string[] = [];
    let failOnce = true;
    const mailer = defineReactor({
      name: 'mailer',
      types: ['OrderPlaced'],
      handle(event) {
        if ((event.data as { id: string }).id === 'o2' && failOnce) {
          failOnce = false;
          throw new Error('smtp down');
        }
        got.push((event.data as { id: string }).id);
      },
    });
    const daemon = await startProjections(store, [mailer], { backoff: { initial: 1, max: 2 } });
    await daemon.waitFor(await place(store, 5));
    await daemon.close();
    expect(got).toEqual(['o0', 'o1', 'o2', 'o3', 'o4']);
  });

  test('a stale owner is fenced: once its lease is taken over, its commit is refused', async () => {
    const [a, b] = await openShared([{}, {}]);
    let release!: () => void;
    const stalled = new Promise<void>((resolve) => (release = resolve));
    const handled: string[] = [];
    // A reactor acts outside any transaction: a stall there outlives the lease without holding a lock.
    const reactor = (who: string, stall: boolean) =>
      defineReactor({
        name: 'fenced',
        async handle(event) {
          if (stall) await stalled;
          handled.push(`${who}:${event.stream}`);
        },
      });
    const position = (await a!.append('s1', [{ type: 'E', data: {} }])).position;
    const first = await startProjections(a!, [reactor('a', true)], { leaseTtl: 150 });
    while (first.status()[0]!.state === 'starting') await new Promise((r) => setTimeout(r, 5));
    const second = await startProjections(b!, [reactor('b', false)], { leaseTtl: 150 });
    await second.waitFor(position, { timeout: 5000 }); // b took the lapsed lease and handled the event
    release();
    for (let i = 0; i < 200 && !handled.includes('a:s1'); i++) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 50));
    // a finished its handler late (at least once: the event was handled twice), but its checkpoint
    // commit was refused: it is not the owner, b is.
    expect(handled.sort()).toEqual(['a:s1', 'b:s1']);
    expect(first.status()[0]!.owner).toBe(false);
    expect(second.status()[0]).toMatchObject({ owner: true, checkpoint: position });
    const next = (await a!.append('s2', [{ type: 'E', data: {} }])).position;
    await second.waitFor(next);
    expect(handled.filter((h) => h.endsWith('s2'))).toEqual(['b:s2']);
    await first.close();
    await second.close();
  });

  test('a collection belongs to one projection: another that writes it fails, naming it', async () => {
    const store = await open();
    const writer = (name: string) =>
      defineProjection({ name, version: 1, retries: 1, handle: async (event, { documents }) => documents('shared').upsert(event.id, { by: name }) });
    const daemon = await startProjections(store, [writer('first')]);
    const position = (await store.append('s', [{ type: 'E', data: {} }])).position;
    await daemon.waitFor(position);
    const second = await startProjections(store, [writer('second')]);
    await expect(second.waitFor(position, { timeout: 5000 })).rejects.toThrow(/collection "shared" belongs to projection "first"/);
    await second.close();
    await daemon.close();
  });

  test('two daemons on one storage: one owner per projection, and the other takes over on close', async () => {
    const [a, b] = await openShared([{}, {}]);
    const d1 = await startProjections(a!, [orders()], { leaseTtl: 500 });
    await d1.waitFor(await place(a!, 5));
    const d2 = await startProjections(b!, [orders()], { leaseTtl: 500 });
    await new Promise((r) => setTimeout(r, 100));
    expect(d2.status()[0]!.state).toBe('standby');
    await d1.close();
    const position = await place(a!, 5, 5);
    await d2.waitFor(position, { timeout: 10_000 });
    expect(d2.status()[0]!.owner).toBe(true);
    await d2.close();
    const all = await b!.documents<Order>('orders').find({ limit: 100 });
    expect(all.items).toHaveLength(10);
    expect(all.items.every((i) => i.data.applied === 1)).toBe(true);
  });
});

conformance('inline projections', ({ open, openShared, test, adapter }) => {
  test('an inline append during a rebuild of a new version does not deadlock with its swap; the rebuild applies it', async () => {
    let slowed!: () => void;
    const reached = new Promise<void>((resolve) => (slowed = resolve));
    const v2 = (slow: boolean) =>
      orders(2, {
        async handle(event, ctx) {
          const d = event.data as { id: string };
          if (slow && d.id === 'o2') {
            slowed();
            await new Promise((r) => setTimeout(r, 300));
          }
          await ctx.documents('orders').upsert(d.id, { status: 'v2', total: 0, applied: 1 });
        },
      });
    const [writer, inline] = await openShared([{}, { projections: { inline: [v2(false)] } }]);
    await place(writer!, 3);
    const v1 = await startProjections(writer!, [orders(1)]);
    await v1.waitFor(3n);
    await v1.close();
    const rebuilding = rebuildProjection(writer!, v2(true), { batchSize: 10 });
    await reached;
    // The rebuild's last batch is running: an append with v2 inline comes now.
    const appended = await inline!.append('order-9', [{ type: 'OrderPlaced', data: { id: 'o9' } }]);
    const result = await rebuilding;
    expect(result.checkpoint >= appended.position).toBe(true);
    expect((await inline!.documents<Order>('orders').get('o9'))?.status).toBe('v2');
    expect((await inline!.documents<Order>('orders').get('o2'))?.status).toBe('v2');
    // Inline from here on.
    await place(inline!, 1, 10);
    expect((await inline!.documents<Order>('orders').get('o10'))?.status).toBe('v2');
  });

  test('a handler that writes through the store instead of its context is refused, not deadlocked', async () => {
    let store!: EventStore;
    const careless = defineProjection({
      name: 'careless',
      version: 1,
      types: ['Trigger'],
      async handle() {
        await store.append('other', [{ type: 'Echo', data: {} }]);
      },
    });
    store = await open({ projections: { inline: [careless] } });
    await expect(store.append('s', [{ type: 'Trigger', data: {} }])).rejects.toThrow(/append from inside a projection handler: write with ctx.documents/);
    expect((await store.streamInfo('s')).version).toBe(0);
    // In the daemon too, for a write through store.documents.
    const viaDocuments = defineProjection({
      name: 'via-documents',
      version: 1,
      retries: 1,
      handle: async (event) => store.documents('d').upsert(event.id, { a: 1 }),
    });
    const plain = await open();
    store = plain;
    const daemon = await startProjections(plain, [viaDocuments]);
    const { position } = await plain.append('t', [{ type: 'Other', data: {} }]);
    await expect(daemon.waitFor(position, { timeout: 5000 })).rejects.toThrow(/a write through store.documents from inside a projection handler/);
    await daemon.close();
    // Reactors run outside any transaction: they may append.
    const echo = defineReactor({ name: 'echo', types: ['Ping'], handle: async () => void (await plain.append('pong', [{ type: 'Pong', data: {} }])) });
    const reactors = await startProjections(plain, [echo]);
    await reactors.waitFor((await plain.append('p', [{ type: 'Ping', data: {} }])).position);
    await reactors.close();
    expect((await plain.streamInfo('pong')).version).toBe(1);
  });

  test('documents change in the append’s own transaction', async () => {
    const store = await open({ projections: { inline: [orders()] } });
    await place(store, 3);
    expect(await store.documents<Order>('orders').get('o2')).toEqual({ status: 'placed', total: 2, applied: 1 });
    await store.append('order-2', [{ type: 'OrderShipped', data: { id: 'o2' } }]);
    expect((await store.documents<Order>('orders').get('o2'))?.status).toBe('shipped');
  });

  test('a failing inline handler fails its append and writes nothing; other appends of the batch commit', async () => {
    const failing = defineProjection({
      name: 'strict',
      version: 1,
      async handle(event, { documents }) {
        if (event.type === 'Bad') throw new Error('refused');
        await documents('seen').upsert(event.id, { type: event.type });
      },
    });
    const store = await open({ projections: { inline: [failing] } });
    const results = await Promise.allSettled([
      store.append('a', [{ type: 'Good', data: {} }]),
      store.append('b', [{ type: 'Good', data: {} }, { type: 'Bad', data: {} }]),
      store.append('c', [{ type: 'Good', data: {} }]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toSatisfy(isProjectionFailedError);
    expect((await store.streamInfo('b')).version).toBe(0);
    expect((await store.documents('seen').find()).items).toHaveLength(2);
  });

  test('after a rebuild of an inline projection, appends write to the new generation', async () => {
    const store = await open({ projections: { inline: [orders()] } });
    await place(store, 3);
    const { generation } = await rebuildProjection(store, orders());
    expect(generation).toBe(2);
    await place(store, 2, 3);
    await store.append('order-4', [{ type: 'OrderShipped', data: { id: 'o4' } }]);
    const all = await store.documents<Order>('orders').find({ limit: 100 });
    expect(all.items).toHaveLength(5);
    expect(all.items.every((i) => i.data.applied === (i.id === 'o4' ? 2 : 1))).toBe(true);
  });

  test('an inline projection added to a store with history catches up in the first append', async () => {
    const [plain, withInline] = await openShared([{}, { projections: { inline: [orders()] } }]);
    await place(plain!, 5);
    await place(withInline!, 1, 5);
    const all = await withInline!.documents<Order>('orders').find({ limit: 100 });
    expect(all.items.map((i) => i.id).sort()).toEqual(['o0', 'o1', 'o2', 'o3', 'o4', 'o5']);
    // Appends by a process without the projection are caught up on the next append that has it.
    await place(plain!, 2, 6);
    await withInline!.append('x', [{ type: 'Other', data: {} }]);
    expect((await withInline!.documents<Order>('orders').find({ limit: 100 })).items.every((i) => i.data.applied === 1)).toBe(true);
    expect((await withInline!.documents('orders').find({ limit: 100 })).items).toHaveLength(8);
  });

  test('ctx.sql runs in the same transaction (the memory store has none)', async () => {
    if (adapter.name === 'memory') {
      const wantsSql = defineProjection({ name: 'sql', version: 1, handle: async (_e, { sql }) => void (await sql('SELECT 1')) });
      const store = await open({ projections: { inline: [wantsSql] } });
      await expect(store.append('s', [{ type: 'A', data: {} }])).rejects.toThrow(/memory store has no SQL/);
      expect((await store.streamInfo('s')).version).toBe(0);
      return;
    }
    const counter = defineProjection({
      name: 'counter',
      version: 1,
      async handle(event, { sql }) {
        const pg = adapter.name === 'postgres';
        await sql(pg ? 'CREATE TABLE IF NOT EXISTS counts (type text PRIMARY KEY, n int NOT NULL)' : 'CREATE TABLE IF NOT EXISTS counts (type TEXT PRIMARY KEY, n INTEGER NOT NULL)');
        await sql(pg ? 'INSERT INTO counts VALUES ($1, 1) ON CONFLICT (type) DO UPDATE SET n = counts.n + 1' : 'INSERT INTO counts VALUES (?, 1) ON CONFLICT (type) DO UPDATE SET n = n + 1', [event.type]);
        if (event.type === 'Bad') throw new Error('no');
      },
    });
    const store = await open({ projections: { inline: [counter] } });
    await store.append('s', [{ type: 'A', data: {} }, { type: 'A', data: {} }]);
    await expect(store.append('s', [{ type: 'Bad', data: {} }])).rejects.toSatisfy(isProjectionFailedError);
    const daemonless = defineProjection({
      name: 'reader',
      version: 1,
      async handle(_e, { sql, documents }) {
        const rows = await sql(adapter.name === 'postgres' ? 'SELECT type, n FROM counts ORDER BY type' : 'SELECT type, n FROM counts ORDER BY type');
        await documents('counts').upsert('all', { rows: rows });
      },
    });
    const d = await startProjections(store, [daemonless]);
    await d.waitFor(1n);
    await d.close();
    expect((await store.documents('counts').get('all'))?.rows).toEqual([{ type: 'A', n: 2 }]);
  });
});
