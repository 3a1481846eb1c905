// Child process of bench/run.ts: reads a whole log in a fresh process, so that its peak RSS
// growth is not hidden by memory the earlier scenarios left behind. Prints one JSON line.
// Usage: read-all.ts <memory|sqlite|postgres|raw-sqlite|raw-postgres> <path or URL> <events>
import Database from 'better-sqlite3';
import { memoryStore, openStore, type EventStore } from 'factline';
import pg from 'pg';
import { withPeakRss } from './stats.js';

const [kind, arg, count] = process.argv.slice(2) as [string, string, string];

async function storeUnderTest(): Promise<EventStore> {
  if (kind === 'sqlite') return openStore(`sqlite:${arg}`);
  if (kind === 'postgres') return openStore(arg);
  const store = memoryStore();
  const events = Array.from({ length: 1000 }, (_, i) => ({ type: 'Bench', data: { i, note: 'leave at the door', lines: [1, 2, 3] } }));
  for (let n = 0; n < Number(count); n += 1000) await store.append(`s-${n % 97}`, events);
  return store;
}

function readRawSqlite(sample: () => void): number {
  const db = new Database(arg, { readonly: true });
  let n = 0;
  for (const row of db.prepare('SELECT * FROM events ORDER BY position').iterate() as Iterable<{ data: string }>) {
    JSON.parse(row.data);
    if (++n % 1000 === 0) sample();
  }
  db.close();
  return n;
}

/** Pages of 500 by position, as a careful hand-written reader would. */
async function readRawPostgres(sample: () => void): Promise<number> {
  const client = new pg.Client(arg);
  await client.connect();
  let n = 0;
  let after = '0';
  for (;;) {
    const { rows } = await client.query<{ position: string; data: string }>({
      name: 'page',
      text: 'SELECT * FROM raw.events WHERE position > $1 ORDER BY position LIMIT 500',
      values: [after],
    });
    if (rows.length === 0) break;
    for (const row of rows) JSON.parse(row.data);
    n += rows.length;
    after = rows.at(-1)!.position;
    sample();
  }
  await client.end();
  return n;
}

const store = kind.startsWith('raw-') ? undefined : await storeUnderTest();
const result = await withPeakRss(async (sample) => {
  const start = performance.now();
  let events = 0;
  if (store) {
    for await (const _event of store.readAll()) if (++events % 1000 === 0) sample();
  } else {
    events = kind === 'raw-sqlite' ? readRawSqlite(sample) : await readRawPostgres(sample);
  }
  return { events, seconds: (performance.now() - start) / 1000 };
});
await store?.close();
console.log(JSON.stringify(result));
