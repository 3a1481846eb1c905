// Child process of bench/run.ts: reads a whole log in a fresh process, so that its peak RSS
// growth is not hidden by memory the earlier scenarios left behind. Prints one JSON line.
// Usage: read-all.ts <memory|sqlite|raw> <path, or event count for memory>
import Database from 'better-sqlite3';
import { memoryStore, type EventStore } from 'factline';
import { sqliteStore } from 'factline/sqlite';
import { withPeakRss } from './stats.js';

const [kind, arg] = process.argv.slice(2) as [string, string];

async function storeUnderTest(): Promise<EventStore> {
  if (kind === 'sqlite') return sqliteStore({ path: arg });
  const store = memoryStore();
  const events = Array.from({ length: 1000 }, (_, i) => ({ type: 'Bench', data: { i, note: 'leave at the door', lines: [1, 2, 3] } }));
  for (let n = 0; n < Number(arg); n += 1000) await store.append(`s-${n % 97}`, events);
  return store;
}

function readRaw(sample: () => void): number {
  const db = new Database(arg, { readonly: true });
  let n = 0;
  for (const row of db.prepare('SELECT * FROM events ORDER BY position').iterate() as Iterable<{ data: string }>) {
    JSON.parse(row.data);
    if (++n % 1000 === 0) sample();
  }
  db.close();
  return n;
}

const store = kind === 'raw' ? undefined : await storeUnderTest();
const result = await withPeakRss(async (sample) => {
  const start = performance.now();
  let events = 0;
  if (store) {
    for await (const _event of store.readAll()) if (++events % 1000 === 0) sample();
  } else {
    events = readRaw(sample);
  }
  return { events, seconds: (performance.now() - start) / 1000 };
});
await store?.close();
console.log(JSON.stringify(result));
