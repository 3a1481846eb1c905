import { defineDecider, load, type EventStore, type RecordedEvent } from 'factline';
import { percentile, type Measured } from './stats.js';
import { printRow } from './scenarios.js';

type Ticked = RecordedEvent<'Ticked', { n: number; note: string }>;
interface Counter {
  readonly total: number;
  readonly count: number;
}
const counter = (snapshot?: { every: number; version: number }) =>
  defineDecider<Counter, number, Ticked>({
    initialState: () => ({ total: 0, count: 0 }),
    evolve: (s, e) => ({ total: s.total + e.data.n, count: s.count + 1 }),
    decide: (n) => ({ type: 'Ticked', data: { n, note: 'tick' } }),
    ...(snapshot ? { snapshot } : {}),
  });
const plain = counter();
const snapshotted = counter({ every: 1000, version: 1 });

/**
 * A stream of `length` events, appended 1,000 at a time, with the snapshot `handle` would have
 * saved at every 1,000th (written here directly, to build long streams quickly).
 */
async function fill(store: EventStore, stream: string, length: number): Promise<void> {
  let state = plain.initialState();
  for (let done = 0; done < length; done += 1000) {
    const events = Array.from({ length: 1000 }, (_, i) => ({ type: 'Ticked', data: { n: done + i, note: 'tick' } }));
    await store.append(stream, events);
    for (const e of events) state = { total: state.total + e.data.n, count: state.count + 1 };
    const [last] = await collectLast(store, stream);
    await store.writeSnapshot({ stream, name: 'default', version: last!.version, schemaVersion: 1, state: JSON.stringify(state), eventTime: last!.recordedAt });
  }
}

async function collectLast(store: EventStore, stream: string): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for await (const e of store.readStream(stream, { direction: 'backward', limit: 1 })) out.push(e);
  return out;
}

async function timeLoads(store: EventStore, stream: string, decider: typeof plain, times: number, expected: number): Promise<Measured> {
  const latencies: number[] = [];
  for (let i = 0; i < times; i++) {
    const start = performance.now();
    const { state } = await load(store, stream, decider);
    latencies.push(performance.now() - start);
    if (state.count !== expected) throw new Error(`loaded ${state.count} events, expected ${expected}`);
  }
  latencies.sort((a, b) => a - b);
  return { events: expected * times, seconds: latencies.reduce((a, b) => a + b, 0) / 1000, latencies };
}

/** (g) loading long streams with and without snapshots. */
export async function loadScenarios(adapter: string, store: EventStore): Promise<void> {
  await fill(store, 'ten-thousand', 10_000);
  await fill(store, 'hundred-thousand', 100_000);
  const rows = [
    ['(g) load a 10,000-event stream, no snapshots', await timeLoads(store, 'ten-thousand', plain, 5, 10_000), '≤ 40 ms'],
    ['(g) load a 10,000-event stream, snapshots', await timeLoads(store, 'ten-thousand', snapshotted, 50, 10_000), '≤ 2 ms'],
    ['(g) load a 100,000-event stream, snapshots', await timeLoads(store, 'hundred-thousand', snapshotted, 50, 100_000), '≤ 2 ms'],
  ] as const;
  for (const [scenario, result, target] of rows) {
    printRow({ scenario, adapter, result, target: `${target} (p50 ${percentile(result.latencies!, 50).toFixed(2)} ms)` });
  }
}
