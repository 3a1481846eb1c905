import fc from 'fast-check';
import { expect } from 'vitest';
import { defineDecider, load as loadFull, handle as handleAny, type DeciderStore, type EventStore, type Logger, type RecordedEvent } from '../../src/index.js';
import { collect, conformance } from './harness.js';

type Counted = RecordedEvent<'Counted', { n: number }>;
// The state keeps every event's data, so that any difference between two folds shows.
const fold = (snapshot?: { every: number; version: number }) =>
  defineDecider<{ seen: number[] }, number, Counted>({
    initialState: () => ({ seen: [] }),
    evolve: (state, event) => ({ seen: [...state.seen, event.data.n] }),
    decide: (n) => Array.from({ length: n }, (_, i) => ({ type: 'Counted', data: { n: i } })),
    ...(snapshot ? { snapshot } : {}),
  });
const plain = fold();
type Fold = ReturnType<typeof fold>;
// The stores here are untyped; these take them as stores of Counted events.
const handle = (store: EventStore | DeciderStore<Counted>, stream: string, decider: Fold, n: number) =>
  handleAny(store as DeciderStore<Counted>, stream, decider, n);
/** State and version: what a load means; `last` is only what the fold read last. */
const load = async (store: EventStore | DeciderStore<Counted>, stream: string, decider: Fold, options?: Parameters<typeof loadFull>[3]) => {
  const { state, version } = await loadFull(store as DeciderStore<Counted>, stream, decider, options);
  return { state, version };
};
const snapshotted = fold({ every: 3, version: 1 });

/** Counts the events each load reads, and records warnings. */
function watched(store: EventStore) {
  const warnings: string[] = [];
  let read = 0;
  const logger: Logger = { debug: () => {}, info: () => {}, error: () => {}, warn: (_fields, message) => warnings.push(message ?? '') };
  const view = {
    readStream: (stream: string, options?: Parameters<EventStore['readStream']>[1]) => {
      const inner = store.readStream(stream, options);
      return {
        async *[Symbol.asyncIterator]() {
          for await (const e of inner) {
            read++;
            yield e as Counted;
          }
        },
      };
    },
    append: store.append.bind(store),
    getEvents: async (ids: readonly string[]) => (await store.getEvents(ids)) as Counted[],
    readSnapshot: store.readSnapshot.bind(store),
    writeSnapshot: store.writeSnapshot.bind(store),
    logger,
  };
  return { view, warnings, reads: () => read, reset: () => (read = 0) };
}

conformance('snapshots', ({ open, test }) => {
  test('handle saves the state when it crosses every n events; load starts from the newest snapshot', async () => {
    const store = await open();
    const w = watched(store);
    for (const n of [2, 2, 1, 4]) await handle(w.view, 's', snapshotted, n); // versions 2, 4, 5, 9
    const newest = await store.readSnapshot('s', 'default');
    expect(newest).toMatchObject({ version: 9, schemaVersion: 1 }); // crossed 6 (and 9) with the last command
    expect(await store.readSnapshot('s', 'default', { version: 8 })).toMatchObject({ version: 4 });
    w.reset();
    const loaded = await load(w.view, 's', snapshotted);
    expect(w.reads()).toBe(0); // everything came from the snapshot
    expect(loaded).toEqual({ state: (await load(store, 's', plain)).state, version: 9 });
    await handle(w.view, 's', snapshotted, 1);
    w.reset();
    expect((await load(w.view, 's', snapshotted)).version).toBe(10);
    expect(w.reads()).toBe(1);
  });

  test('a snapshot of another version, or one that does not parse, is ignored with a warning', async () => {
    const store = await open();
    await handle(store, 's', plain, 4);
    const eventTime = new Date();
    await store.writeSnapshot({ stream: 's', name: 'default', version: 2, schemaVersion: 7, state: '{"seen":[99]}', eventTime: new Date(0) });
    const w = watched(store);
    expect((await load(w.view, 's', snapshotted)).state).toEqual({ seen: [0, 1, 2, 3] });
    expect(w.warnings).toEqual(['snapshot of another version ignored']);
    await store.writeSnapshot({ stream: 's', name: 'default', version: 3, schemaVersion: 1, state: '{not json', eventTime });
    expect((await load(w.view, 's', snapshotted)).state).toEqual({ seen: [0, 1, 2, 3] });
    expect(w.warnings.at(-1)).toBe('snapshot that does not parse ignored');
  });

  test('a snapshot never hides a deleted stream, nor a target beyond any version', async () => {
    const store = await open();
    for (const n of [2, 2]) await handle(store, 's', snapshotted, n); // a snapshot at 4
    expect(await load(store, 's', snapshotted, { version: 2 ** 31 })).toEqual(await load(store, 's', plain, { version: 2 ** 31 }));
    await store.deleteStream('s');
    await expect(load(store, 's', snapshotted, { version: 4 })).rejects.toMatchObject({ code: 'STREAM_DELETED' });
    await expect(load(store, 's', snapshotted)).rejects.toMatchObject({ code: 'STREAM_DELETED' });
  });

  test('deciders with other snapshot names keep apart', async () => {
    const store = await open();
    const other = fold({ every: 1, version: 1 });
    await store.writeSnapshot({ stream: 's', name: 'other', version: 1, schemaVersion: 1, state: '{"seen":[42]}', eventTime: new Date(0) });
    await handle(store, 's', plain, 1);
    expect((await load(store, 's', snapshotted)).state).toEqual({ seen: [0] });
    expect((await load(store, 's', { ...other, snapshot: { every: 1, version: 1, name: 'other' } })).state).toEqual({ seen: [42] });
  });

  test('load with snapshots returns exactly what a full replay returns, for any events and snapshot points (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 4 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 5 }),
        async (commands, snapshotPicks, targetPicks) => {
          const store = await open();
          const times: Date[] = [];
          for (const n of commands) {
            await handle(store, 's', plain, n);
            await new Promise((r) => setTimeout(r, 2));
          }
          const events = await collect(store.readStream('s'));
          for (const e of events) times.push(e.recordedAt);
          // Snapshots at random versions, with the state a full replay gives there.
          for (const pick of snapshotPicks) {
            const version = 1 + (pick % events.length);
            const { state } = await load(store, 's', plain, { version });
            await store.writeSnapshot({ stream: 's', name: 'default', version, schemaVersion: 1, state: JSON.stringify(state), eventTime: times[version - 1]! });
          }
          expect(await load(store, 's', snapshotted)).toEqual(await load(store, 's', plain));
          for (const pick of targetPicks) {
            const version = pick % (events.length + 1);
            expect(await load(store, 's', snapshotted, { version })).toEqual(await load(store, 's', plain, { version }));
            const at = version === 0 ? new Date(times[0]!.getTime() - 1) : times[version - 1]!;
            expect(await load(store, 's', snapshotted, { at })).toEqual(await load(store, 's', plain, { at }));
          }
          await store.close();
        },
      ),
      { numRuns: 25 },
    );
  });
});
