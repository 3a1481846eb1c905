import { describe, expect, it } from 'vitest';
import type { AllPage, CorrelationPage, StoreBackend, StreamPage, StreamsPage } from '../../src/store/backend.js';
import { createStore } from '../../src/store/create-store.js';
import { MemoryBackend } from '../../src/store/memory-backend.js';

/** Wraps a backend to record the size of every page asked for and returned. */
function recording(backend: StoreBackend) {
  const pages: number[] = [];
  const wrapped: StoreBackend = {
    shared: backend.shared,
    projections: backend.projections,
    workflows: backend.workflows,
    commit: (r) => backend.commit(r),
    streamHead: (s) => backend.streamHead(s),
    eventsById: (ids) => backend.eventsById(ids),
    byCausation: (ids, limit) => backend.byCausation(ids, limit),
    writeSnapshot: (s) => backend.writeSnapshot(s),
    readSnapshot: (...args) => backend.readSnapshot(...args),
    headPosition: () => backend.headPosition(),
    close: () => backend.close(),
    async readStream(stream: string, page: StreamPage) {
      const rows = await backend.readStream(stream, page);
      pages.push(page.limit, rows.length);
      return rows;
    },
    async readAll(page: AllPage) {
      const rows = await backend.readAll(page);
      pages.push(page.limit, rows.length);
      return rows;
    },
    async byCorrelation(id: string, page: CorrelationPage) {
      const rows = await backend.byCorrelation(id, page);
      pages.push(page.limit, rows.length);
      return rows;
    },
    async listStreams(page: StreamsPage) {
      const rows = await backend.listStreams(page);
      pages.push(page.limit, rows.length);
      return rows;
    },
  };
  return { wrapped, pages };
}

describe('reads hold one bounded page at a time', () => {
  it('readStream, readAll and subscribe never ask for more than pageSize events', async () => {
    const { wrapped, pages } = recording(new MemoryBackend());
    const store = createStore(wrapped, { pageSize: 16 });
    await store.append('s', Array.from({ length: 1000 }, (_, i) => ({ type: 'T', data: i })));
    let count = 0;
    for await (const _event of store.readStream('s')) count++;
    for await (const _event of store.readStream('s', { direction: 'backward' })) count++;
    for await (const _event of store.readAll()) count++;
    const controller = new AbortController();
    for await (const e of store.subscribe({ signal: controller.signal })) if (e.position === 1000n) controller.abort();
    expect(count).toBe(3000);
    expect(Math.max(...pages)).toBe(16);
    await store.close();
  });

  it('listStreams reads stream names a page at a time, each page after the last name of the one before', async () => {
    const { wrapped, pages } = recording(new MemoryBackend());
    const store = createStore(wrapped, { pageSize: 8 });
    for (let i = 0; i < 50; i++) await store.append(`s-${String(i).padStart(2, '0')}`, [{ type: 'T', data: i }]);
    const names: string[] = [];
    for await (const s of store.listStreams()) names.push(s.stream);
    expect(names).toEqual(Array.from({ length: 50 }, (_, i) => `s-${String(i).padStart(2, '0')}`));
    expect(Math.max(...pages)).toBe(8);
    await store.close();
  });

  it('correlated reads a correlation a page at a time, each page after the last position of the one before', async () => {
    const { wrapped, pages } = recording(new MemoryBackend());
    const store = createStore(wrapped, { pageSize: 8 });
    for (let i = 0; i < 60; i++) await store.append(`s-${i % 3}`, [{ type: 'T', data: i, metadata: { correlationId: i % 2 === 0 ? 'even' : 'odd' } }]);
    const seen: number[] = [];
    for await (const e of store.correlated('even', { after: 10n, limit: 20 })) seen.push(e.data as number);
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => 10 + 2 * i));
    expect(Math.max(...pages)).toBe(8);
    await store.close();
  });

  it('a read that stops early fetches no further pages', async () => {
    const { wrapped, pages } = recording(new MemoryBackend());
    const store = createStore(wrapped, { pageSize: 10 });
    await store.append('s', Array.from({ length: 100 }, (_, i) => ({ type: 'T', data: i })));
    for await (const e of store.readAll()) if (e.position === 5n) break;
    expect(pages).toEqual([10, 10]);
    await store.close();
  });
});
