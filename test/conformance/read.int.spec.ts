import { expect } from 'vitest';
import { ValidationError, type EventStore, type ListStreamsOptions, type ReadStreamOptions } from '../../src/index.js';
import { collect, conformance, positions, versions } from './harness.js';

async function tenEvents(store: EventStore): Promise<void> {
  // Interleave two streams so that stream versions and global positions differ.
  for (let i = 1; i <= 10; i++) {
    await store.append('s', [{ type: i % 2 ? 'Odd' : 'Even', data: { i } }]);
    await store.append(i % 2 ? 'other-a' : 'other-b', [{ type: 'Other', data: { i } }]);
  }
}

conformance('readStream', ({ open, test }) => {
  test('a stream that never existed reads as empty', async () => {
    const store = await open();
    expect(await collect(store.readStream('nothing'))).toEqual([]);
  });

  const cases: [string, ReadStreamOptions, number[]][] = [
    ['everything', {}, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]],
    ['from', { from: 4 }, [4, 5, 6, 7, 8, 9, 10]],
    ['to', { to: 3 }, [1, 2, 3]],
    ['from and to', { from: 3, to: 5 }, [3, 4, 5]],
    ['limit', { limit: 4 }, [1, 2, 3, 4]],
    ['from and limit', { from: 9, limit: 5 }, [9, 10]],
    ['backward', { direction: 'backward' }, [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]],
    ['backward, the last 3', { direction: 'backward', limit: 3 }, [10, 9, 8]],
    ['backward within a range', { direction: 'backward', from: 2, to: 5 }, [5, 4, 3, 2]],
    ['from past the end', { from: 11 }, []],
    ['to below from', { from: 5, to: 4 }, []],
    ['limit 0', { limit: 0 }, []],
    ['from 0 reads from the start', { from: 0, to: 2 }, [1, 2]],
    ['to past the end', { from: 9, to: 1000 }, [9, 10]],
  ];
  for (const pageSize of [500, 3]) {
    for (const [name, options, expected] of cases) {
      test(`${name} (page size ${pageSize})`, async () => {
        const store = await open({ pageSize });
        await tenEvents(store);
        const events = await collect(store.readStream('s', options));
        expect(versions(events)).toEqual(expected);
        expect(events.every((e) => e.stream === 's' && (e.data as { i: number }).i === e.version)).toBe(true);
      });
    }
  }

  test('until: only events recorded at or before the instant', async () => {
    const store = await open();
    await store.append('s', [{ type: 'T', data: 1 }]);
    await new Promise((r) => setTimeout(r, 15));
    const cut = new Date();
    await new Promise((r) => setTimeout(r, 15));
    await store.append('s', [{ type: 'T', data: 2 }]);
    expect(versions(await collect(store.readStream('s', { until: cut })))).toEqual([1]);
    expect(versions(await collect(store.readStream('s', { until: new Date(0) })))).toEqual([]);
    expect(versions(await collect(store.readStream('s', { until: new Date() })))).toEqual([1, 2]);
    expect(versions(await collect(store.readStream('s', { until: cut, direction: 'backward' })))).toEqual([1]);
  });

  test('recordedAt never goes backwards within a stream', async () => {
    const store = await open();
    for (let i = 0; i < 20; i++) await store.append('s', [{ type: 'T', data: i }]);
    const times = (await collect(store.readStream('s'))).map((e) => e.recordedAt.getTime());
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  const badOptions: [string, unknown][] = [
    ['from -1', { from: -1 }],
    ['to 1.5', { to: 1.5 }],
    ['limit "10"', { limit: '10' }],
    ['direction sideways', { direction: 'sideways' }],
    ['until a string', { until: '2026-01-01' }],
    ['until an invalid Date', { until: new Date('nope') }],
    ['options not an object', 5],
  ];
  for (const [name, options] of badOptions) {
    test(`bad option: ${name}`, async () => {
      const store = await open();
      expect(() => store.readStream('s', options as ReadStreamOptions)).toThrow(ValidationError);
    });
  }

  test('breaking out of a read part-way leaves the store usable', async () => {
    const store = await open({ pageSize: 2 });
    await tenEvents(store);
    for await (const e of store.readStream('s')) if (e.version === 3) break;
    expect(await collect(store.readStream('s'))).toHaveLength(10);
  });
});

conformance('readAll', ({ open, test }) => {
  for (const pageSize of [500, 4]) {
    test(`every event in position order (page size ${pageSize})`, async () => {
      const store = await open({ pageSize });
      await tenEvents(store);
      const all = await collect(store.readAll());
      expect(positions(all)).toEqual(Array.from({ length: 20 }, (_, i) => BigInt(i + 1)));
    });

    test(`after, limit, types and streamPrefix (page size ${pageSize})`, async () => {
      const store = await open({ pageSize });
      await tenEvents(store);
      expect(positions(await collect(store.readAll({ after: 15n })))).toEqual([16n, 17n, 18n, 19n, 20n]);
      expect(positions(await collect(store.readAll({ after: 3n, limit: 5 })))).toEqual([4n, 5n, 6n, 7n, 8n]);
      const odd = await collect(store.readAll({ types: ['Odd'] }));
      expect(odd.map((e) => (e.data as { i: number }).i)).toEqual([1, 3, 5, 7, 9]);
      const either = await collect(store.readAll({ types: ['Odd', 'Even'], after: 10n, limit: 2 }));
      expect(either.map((e) => e.version)).toEqual([6, 7]);
      const prefixed = await collect(store.readAll({ streamPrefix: 'other-' }));
      expect(prefixed).toHaveLength(10);
      expect(new Set(prefixed.map((e) => e.stream))).toEqual(new Set(['other-a', 'other-b']));
      expect(await collect(store.readAll({ streamPrefix: 'other-a', types: ['Odd'] }))).toEqual([]);
      expect(await collect(store.readAll({ types: [] }))).toEqual([]);
      expect(await collect(store.readAll({ after: 20n }))).toEqual([]);
    });
  }

  test('streamPrefix matches characters literally, whatever the script', async () => {
    const store = await open();
    for (const s of ['😀-1', '😀x', 'a%b', 'a_b', 'aXb', 'A%b']) await store.append(s, [{ type: 'T', data: s }]);
    expect((await collect(store.readAll({ streamPrefix: '😀' }))).map((e) => e.stream)).toEqual(['😀-1', '😀x']);
    expect((await collect(store.readAll({ streamPrefix: 'a%' }))).map((e) => e.stream)).toEqual(['a%b']);
    expect((await collect(store.readAll({ streamPrefix: 'a_' }))).map((e) => e.stream)).toEqual(['a_b']);
  });

  test('after may be as high as a 64-bit position', async () => {
    const store = await open();
    await tenEvents(store);
    expect(await collect(store.readAll({ after: 2n ** 63n - 1n }))).toEqual([]);
  });

  for (const [name, options] of [
    ['after a number', { after: 5 }],
    ['after negative', { after: -1n }],
    ['after beyond 64 bits', { after: 2n ** 63n }],
    ['streamPrefix with a lone surrogate', { streamPrefix: 'b\ud83d' }],
    ['types with a lone surrogate', { types: ['T\udc00'] }],
    ['types not an array', { types: 'Odd' }],
    ['types with a number', { types: ['Odd', 1] }],
    ['streamPrefix a number', { streamPrefix: 3 }],
    ['streamPrefix with a NUL', { streamPrefix: 'a\u0000' }],
    ['limit -1', { limit: -1 }],
  ] as const) {
    test(`bad option: ${name}`, async () => {
      const store = await open();
      expect(() => store.readAll(options as never)).toThrow(ValidationError);
      expect(() => store.subscribe(options as never)).toThrow(ValidationError);
    });
  }
});

conformance('deleteStream', ({ open, test }) => {
  test('leaves a tombstone: readStream and append refuse, readAll keeps the events', async () => {
    const store = await open();
    await store.append('s', [{ type: 'T', data: 1 }, { type: 'T', data: 2 }]);
    await store.append('t', [{ type: 'T', data: 3 }]);
    await store.deleteStream('s');
    const info = await store.streamInfo('s');
    expect(info).toMatchObject({ version: 2, deleted: true });
    await expect(collect(store.readStream('s'))).rejects.toMatchObject({ code: 'STREAM_DELETED', stream: 's' });
    await expect(store.append('s', [{ type: 'T', data: 4 }])).rejects.toMatchObject({ code: 'STREAM_DELETED' });
    await expect(store.append('s', [])).rejects.toMatchObject({ code: 'STREAM_DELETED' });
    expect(await collect(store.readAll())).toHaveLength(3);
    expect(versions(await collect(store.readStream('t')))).toEqual([1]);
  });

  test('checks expectedVersion', async () => {
    const store = await open();
    await store.append('s', [{ type: 'T', data: 1 }]);
    await expect(store.deleteStream('s', { expectedVersion: 2 })).rejects.toMatchObject({ code: 'CONCURRENCY', actual: 1 });
    expect((await store.streamInfo('s')).deleted).toBe(false);
    await store.deleteStream('s', { expectedVersion: 1 });
    expect((await store.streamInfo('s')).deleted).toBe(true);
  });

  test('deleting again succeeds and changes nothing', async () => {
    const store = await open();
    await store.append('s', [{ type: 'T', data: 1 }]);
    await store.deleteStream('s');
    await store.deleteStream('s', { expectedVersion: 1 });
    expect(await store.streamInfo('s')).toMatchObject({ version: 1, deleted: true });
  });

  test('deleting a stream that never existed reserves its name', async () => {
    const store = await open();
    await store.deleteStream('never', { expectedVersion: 'no_stream' });
    expect(await store.streamInfo('never')).toMatchObject({ version: 0, deleted: true });
    await expect(store.append('never', [{ type: 'T', data: 1 }])).rejects.toMatchObject({ code: 'STREAM_DELETED' });
    await expect(store.deleteStream('exists', { expectedVersion: 'stream_exists' })).rejects.toMatchObject({ code: 'CONCURRENCY' });
  });

  test('a re-append of events that were stored before the delete still answers with the original result', async () => {
    const store = await open();
    const event = { id: '01900000-0000-7000-8000-000000000001', type: 'T', data: 1 };
    const first = await store.append('s', [event]);
    await store.deleteStream('s');
    expect(await store.append('s', [event])).toEqual(first);
  });
});

conformance('getEvents', ({ open, test }) => {
  test('finds events by id, in position order, whatever the case; unknown ids and non-UUIDs are left out', async () => {
    const store = await open();
    const a = '01900000-0000-7000-8000-00000000000a';
    const b = '01900000-0000-7000-8000-00000000000b';
    await store.append('s', [{ id: a, type: 'A', data: 1 }]);
    await store.append('t', [{ id: b, type: 'B', data: 2 }]);
    await store.deleteStream('t');
    const found = await store.getEvents([b.toUpperCase(), a, '01900000-0000-7000-8000-0000000000ff', 'not-a-uuid', a]);
    expect(found.map((e) => [e.id, e.stream, e.version, e.position, e.data])).toEqual([
      [a, 's', 1, 1n, 1],
      [b, 't', 1, 2n, 2], // events of deleted streams stay findable, as in readAll
    ]);
    expect(await store.getEvents([])).toEqual([]);
    await expect(store.getEvents('x' as never)).rejects.toBeInstanceOf(ValidationError);
  });
});

conformance('listStreams', ({ open, test }) => {
  const names = ['b', 'a-10', 'a-2', 'Z', 'a😀', 'a\ue000', 'aé', 'order-1', 'order1', 'order-2', 'orderA', 'a%b', 'a_b', 'aXb'];
  // Code point order: what SQLite's BINARY and PostgreSQL's "C" collations give, not the
  // database's language rules (under which 'order1' may fall between 'order-1' and 'order-2').
  const sorted = ['Z', 'a%b', 'a-10', 'a-2', 'aXb', 'a_b', 'aé', 'a\ue000', 'a😀', 'b', 'order-1', 'order-2', 'order1', 'orderA'];
  const list = async (store: EventStore, options?: ListStreamsOptions) => (await collect(store.listStreams(options))).map((s) => s.stream);

  test('an empty store has no streams', async () => {
    const store = await open();
    expect(await list(store)).toEqual([]);
  });

  for (const pageSize of [500, 2]) {
    test(`every stream with events, by code point, filtered by prefix and paged by name (page size ${pageSize})`, async () => {
      const store = await open({ pageSize });
      for (const name of names) await store.append(name, [{ type: 'T', data: name }, { type: 'T', data: 2 }]);
      expect(await list(store)).toEqual(sorted);
      expect(await list(store, { prefix: 'order-' })).toEqual(['order-1', 'order-2']);
      expect(await list(store, { prefix: 'a%' })).toEqual(['a%b']);
      expect(await list(store, { prefix: 'a_' })).toEqual(['a_b']);
      expect(await list(store, { prefix: 'a😀' })).toEqual(['a😀']);
      expect(await list(store, { prefix: 'nothing' })).toEqual([]);
      expect(await list(store, { limit: 3 })).toEqual(sorted.slice(0, 3));
      expect(await list(store, { after: 'a-2', limit: 3 })).toEqual(sorted.slice(4, 7));
      expect(await list(store, { after: 'a-', prefix: 'a-' })).toEqual(['a-10', 'a-2']);
      expect(await list(store, { after: 'a-10', prefix: 'a-' })).toEqual(['a-2']);
      expect(await list(store, { after: 'orderA' })).toEqual([]);
      expect(await list(store, { limit: 0 })).toEqual([]);
    });
  }

  test('each stream with its version, last position, times and whether it is deleted', async () => {
    const store = await open();
    await store.append('cart-1', [{ type: 'T', data: 1 }]);
    await store.append('cart-2', [{ type: 'T', data: 1 }]);
    await store.append('cart-1', [{ type: 'T', data: 2 }]);
    await store.deleteStream('cart-2');
    const [one, two] = await collect(store.listStreams({ prefix: 'cart-' }));
    const info = await store.streamInfo('cart-1');
    expect(one).toEqual({ stream: 'cart-1', version: 2, position: 3n, deleted: false, createdAt: info.createdAt, updatedAt: info.updatedAt });
    expect(two).toMatchObject({ stream: 'cart-2', version: 1, deleted: true });
  });

  for (const [name, options] of [
    ['prefix a number', { prefix: 3 }],
    ['after with a lone surrogate', { after: 'a\ud83d' }],
    ['after with a NUL', { after: 'a\u0000' }],
    ['prefix with a control character', { prefix: 'a\u0007' }],
    ['limit -1', { limit: -1 }],
    ['limit 1.5', { limit: 1.5 }],
    ['options not an object', 'a-'],
  ] as const) {
    test(`bad option: ${name}`, async () => {
      const store = await open();
      expect(() => store.listStreams(options as never)).toThrow(ValidationError);
    });
  }
});
