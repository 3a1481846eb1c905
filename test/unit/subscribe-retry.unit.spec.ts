import { expect, it } from 'vitest';
import { StoreUnavailableError, type RecordedEvent } from '../../src/index.js';
import type { StoreBackend } from '../../src/store/backend.js';
import { createStore } from '../../src/store/create-store.js';
import { MemoryBackend } from '../../src/store/memory-backend.js';

it('a subscription waits out an unavailable database and goes on from where it was: nothing lost or repeated', async () => {
  const inner = new MemoryBackend();
  let failuresLeft = 0;
  const flaky = <T>(work: () => Promise<T>) => (failuresLeft-- > 0 ? Promise.reject(new StoreUnavailableError('down', 'not_written')) : work());
  const backend: StoreBackend = {
    shared: false,
    projections: inner.projections,
    workflows: inner.workflows,
    commit: (r) => inner.commit(r),
    streamHead: (s) => inner.streamHead(s),
    listStreams: (p) => inner.listStreams(p),
    eventsById: (ids) => inner.eventsById(ids),
    byCorrelation: (id, p) => inner.byCorrelation(id, p),
    byCausation: (ids, limit) => inner.byCausation(ids, limit),
    writeSnapshot: (s) => inner.writeSnapshot(s),
    readSnapshot: (...args) => inner.readSnapshot(...args),
    readStream: (s, p) => inner.readStream(s, p),
    readAll: (p) => flaky(() => inner.readAll(p)),
    headPosition: () => flaky(() => inner.headPosition()),
    close: () => inner.close(),
  };
  const store = createStore(backend, { pageSize: 3 });
  for (let i = 0; i < 10; i++) await store.append('s', [{ type: 'T', data: i }]);

  const controller = new AbortController();
  const seen: RecordedEvent[] = [];
  const done = (async () => {
    for await (const e of store.subscribe({ signal: controller.signal })) {
      seen.push(e);
      if (seen.length === 4) failuresLeft = 3; // the database goes away mid catch-up
      if (seen.length === 20) controller.abort();
    }
  })();
  await new Promise((r) => setTimeout(r, 50));
  failuresLeft = 2;
  for (let i = 10; i < 20; i++) await store.append('s', [{ type: 'T', data: i }]);
  await done;
  expect(seen.map((e) => e.data)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  expect(failuresLeft).toBeLessThanOrEqual(0); // every planned failure did happen

  // Other errors still end the subscription.
  const broken: StoreBackend = { ...backend, headPosition: () => Promise.reject(new Error('bug')) };
  const other = createStore(broken);
  await expect((async () => {
    for await (const _event of other.subscribe()) break;
  })()).rejects.toThrow('bug');
  await store.close();
});
