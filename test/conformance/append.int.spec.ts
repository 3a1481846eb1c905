import { expect } from 'vitest';
import {
  ConcurrencyError,
  DuplicateEventIdError,
  isConcurrencyError,
  type EventStore,
  type ExpectedVersion,
} from '../../src/index.js';
import { collect, conformance, positions, versions } from './harness.js';

const ev = (n: number, type = 'Counted') => ({ type, data: { n } });
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

conformance('append', ({ open, test }) => {
  test('numbers versions from 1 and positions from 1, all events of a call together', async () => {
    const store = await open();
    expect(await store.append('s-1', [ev(1), ev(2), ev(3)])).toEqual({ version: 3, position: 3n });
    expect(await store.append('s-2', [ev(4)])).toEqual({ version: 1, position: 4n });
    expect(await store.append('s-1', [ev(5)])).toEqual({ version: 4, position: 5n });
    const s1 = await collect(store.readStream('s-1'));
    expect(versions(s1)).toEqual([1, 2, 3, 4]);
    expect(positions(s1)).toEqual([1n, 2n, 3n, 5n]);
    expect(s1.map((e) => e.data)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 5 }]);
  });

  test('records id (UUIDv7), stream, type, metadata, schema version and time', async () => {
    const store = await open();
    const before = Date.now();
    await store.append('s', [{ type: 'T', data: { a: 1 }, metadata: { correlationId: 'c-1', tenant: 'x' } }]);
    const [e] = await collect(store.readStream('s'));
    expect(e!.id).toMatch(UUID_V7);
    expect(e).toMatchObject({ stream: 's', type: 'T', version: 1, position: 1n, schemaVersion: 1 });
    expect(e!.metadata).toEqual({ correlationId: 'c-1', tenant: 'x' });
    expect(e!.recordedAt).toBeInstanceOf(Date);
    expect(e!.recordedAt.getTime()).toBeGreaterThanOrEqual(before);
    expect(e!.recordedAt.getTime()).toBeLessThanOrEqual(Date.now());
  });

  test('keeps a given id, lower-cased', async () => {
    const store = await open();
    await store.append('s', [{ id: '0190F0E0-AAAA-7BBB-8CCC-DDDDDDDDDDDD', type: 'T', data: 1 }]);
    const [e] = await collect(store.readStream('s'));
    expect(e!.id).toBe('0190f0e0-aaaa-7bbb-8ccc-dddddddddddd');
  });

  const cases: [string, ExpectedVersion, number, boolean][] = [
    ['any on a new stream', 'any', 0, true],
    ['any on an existing stream', 'any', 2, true],
    ['no_stream on a new stream', 'no_stream', 0, true],
    ['no_stream on an existing stream', 'no_stream', 2, false],
    ['stream_exists on a new stream', 'stream_exists', 0, false],
    ['stream_exists on an existing stream', 'stream_exists', 2, true],
    ['0 on a new stream', 0, 0, true],
    ['0 on an existing stream', 0, 2, false],
    ['the exact version', 2, 2, true],
    ['a lower version', 1, 2, false],
    ['a higher version', 3, 2, false],
  ];
  for (const [name, expected, existing, ok] of cases) {
    test(`expectedVersion: ${name} ${ok ? 'appends' : 'throws ConcurrencyError'}`, async () => {
      const store = await open();
      if (existing > 0) await store.append('s', Array.from({ length: existing }, (_, i) => ev(i)));
      const attempt = store.append('s', [ev(99)], { expectedVersion: expected });
      if (ok) {
        expect((await attempt).version).toBe(existing + 1);
      } else {
        const error = await rejection(attempt);
        expect(error).toBeInstanceOf(ConcurrencyError);
        expect(error).toMatchObject({ code: 'CONCURRENCY', stream: 's', expected, actual: existing });
        expect((await store.streamInfo('s')).version).toBe(existing);
      }
    });
  }

  test('an empty append checks expectedVersion and returns the current version', async () => {
    const store = await open();
    expect(await store.append('s', [])).toEqual({ version: 0, position: 0n });
    await store.append('other', [ev(1)]);
    await store.append('s', [ev(1), ev(2)]);
    expect(await store.append('s', [], { expectedVersion: 2 })).toEqual({ version: 2, position: 3n });
    await expect(store.append('s', [], { expectedVersion: 5 })).rejects.toBeInstanceOf(ConcurrencyError);
    await expect(store.append('new', [], { expectedVersion: 'stream_exists' })).rejects.toBeInstanceOf(ConcurrencyError);
    expect(await collect(store.readAll())).toHaveLength(3);
  });

  test('re-appending the same events by id succeeds without writing and returns the original result', async () => {
    const store = await open();
    const events = [
      { id: '01900000-0000-7000-8000-000000000001', type: 'A', data: { x: 1 } },
      { id: '01900000-0000-7000-8000-000000000002', type: 'B', data: { y: [1, 2] } },
    ];
    const first = await store.append('s', events, { expectedVersion: 'no_stream' });
    await store.append('s', [ev(3)]);
    // A retry after a lost reply still carries the old expected version: it must not conflict.
    expect(await store.append('s', events, { expectedVersion: 'no_stream' })).toEqual(first);
    expect(await store.append('s', [events[0]!])).toEqual({ version: 1, position: 1n });
    expect(await collect(store.readAll())).toHaveLength(3);
  });

  test('an id already used with other content throws DuplicateEventIdError and writes nothing', async () => {
    const store = await open();
    const id = '01900000-0000-7000-8000-000000000001';
    await store.append('s', [{ id, type: 'A', data: { x: 1 } }]);
    const variants = [
      ['other data', 's', { id, type: 'A', data: { x: 2 } }],
      ['other type', 's', { id, type: 'B', data: { x: 1 } }],
      ['other stream', 't', { id, type: 'A', data: { x: 1 } }],
    ] as const;
    for (const [, stream, event] of variants) {
      const error = await rejection(store.append(stream, [event]));
      expect(error).toBeInstanceOf(DuplicateEventIdError);
      expect(error).toMatchObject({ code: 'DUPLICATE_EVENT_ID', eventId: id, stream, existingStream: 's' });
    }
    // A known id beside new ones is not a replay either.
    await expect(store.append('s', [{ id, type: 'A', data: { x: 1 } }, ev(2)])).rejects.toBeInstanceOf(DuplicateEventIdError);
    expect(await collect(store.readAll())).toHaveLength(1);
  });

  test('20 concurrent appends with the same expected version: exactly one wins', async () => {
    const store = await open();
    await store.append('race', [ev(0)]);
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => store.append('race', [ev(i + 1)], { expectedVersion: 1 })),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(19);
    for (const r of lost) expect(isConcurrencyError(r.reason)).toBe(true);
    expect(versions(await collect(store.readStream('race')))).toEqual([1, 2]);
  });

  test("concurrent appends each keep their own outcome: one's conflict never fails another", async () => {
    const store = await open();
    const calls = Array.from({ length: 30 }, (_, i) =>
      i % 3 === 0
        ? store.append(`s-${i}`, [ev(i)], { expectedVersion: 7 }) // conflicts: the stream is new
        : store.append(`s-${i}`, [ev(i), ev(i)], { expectedVersion: 'no_stream' }),
    );
    const results = await Promise.allSettled(calls);
    results.forEach((r, i) => {
      if (i % 3 === 0) expect(r.status === 'rejected' && isConcurrencyError(r.reason)).toBe(true);
      else expect(r).toMatchObject({ status: 'fulfilled', value: { version: 2 } });
    });
    const all = await collect(store.readAll());
    expect(all).toHaveLength(40);
    expect(positions(all)).toEqual(all.map((_, i) => BigInt(i + 1)));
  });

  test('concurrent appends to one stream number it without gaps', async () => {
    const store = await open();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.append('s', [ev(i), ev(i)])));
    expect(results.map((r) => r.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => 2 * i + 2));
    expect(versions(await collect(store.readStream('s')))).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  });

  test('the same id in two concurrent appends is written once', async () => {
    const store = await open();
    const event = { id: '01900000-0000-7000-8000-0000000000aa', type: 'A', data: 1 };
    const [a, b, c] = await Promise.allSettled([
      store.append('s', [event]),
      store.append('s', [event]),
      store.append('s', [{ ...event, data: 2 }]),
    ]);
    expect(a).toEqual({ status: 'fulfilled', value: { version: 1, position: 1n } });
    expect(b).toEqual(a);
    expect(c.status === 'rejected' && c.reason instanceof DuplicateEventIdError).toBe(true);
    expect(await collect(store.readAll())).toHaveLength(1);
  });

  test('streamInfo reports version and times', async () => {
    const store = await open();
    expect(await store.streamInfo('none')).toEqual({ version: 0, deleted: false });
    await store.append('s', [ev(1)]);
    const first = await store.streamInfo('s');
    await new Promise((r) => setTimeout(r, 5));
    await store.append('s', [ev(2)]);
    const second = await store.streamInfo('s');
    expect(second.version).toBe(2);
    expect(second.deleted).toBe(false);
    expect(second.createdAt).toEqual(first.createdAt);
    expect(second.updatedAt!.getTime()).toBeGreaterThan(first.updatedAt!.getTime());
    await store.deleteStream('s');
    const deleted = await store.streamInfo('s');
    expect(deleted.createdAt).toEqual(first.createdAt);
    expect(deleted.updatedAt!.getTime()).toBeGreaterThanOrEqual(second.updatedAt!.getTime());
  });

  test('a read made before close and iterated after it throws StoreClosedError', async () => {
    const store = await open({ pageSize: 2 });
    await store.append('s', [ev(1), ev(2), ev(3), ev(4), ev(5)]);
    const early = store.readStream('s');
    const all = store.readAll();
    const paused = store.readStream('s')[Symbol.asyncIterator]();
    expect((await paused.next()).value).toMatchObject({ version: 1 });
    expect((await paused.next()).value).toMatchObject({ version: 2 }); // at a page boundary
    await store.close();
    await expect(collect(early)).rejects.toMatchObject({ code: 'STORE_CLOSED' });
    await expect(collect(all)).rejects.toMatchObject({ code: 'STORE_CLOSED' });
    await expect(paused.next()).rejects.toMatchObject({ code: 'STORE_CLOSED' });
  });

  test('a closed store refuses calls with StoreClosedError, after finishing what was pending', async () => {
    const store: EventStore = await open();
    const pending = store.append('s', [ev(1)]);
    await store.close();
    expect((await pending).version).toBe(1);
    await expect(store.append('s', [ev(2)])).rejects.toMatchObject({ code: 'STORE_CLOSED' });
    expect(() => store.readAll()).toThrow(expect.objectContaining({ code: 'STORE_CLOSED' }));
  });
});
