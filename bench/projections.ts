// Projections: catch-up of N.all events into documents, live lag append → visible, and a rebuild,
// beside the same work done with the raw driver (read a page of events, upsert one document per
// event, commit with the checkpoint).
import Database from 'better-sqlite3';
import { defineProjection, rebuildProjection, startProjections, type EventStore } from 'factline';
import pg from 'pg';
import { printRow, N } from './scenarios.js';
import { timed, timedOps, type Measured } from './stats.js';

const STREAMS = 1000;
const PAGE = 500;

const totals = defineProjection({
  name: 'bench-totals',
  version: 1,
  types: ['Sold'],
  async handle(event, context) {
    const { documents } = context;
    const d = event.data as { qty: number; sku: string };
    await documents('bench_totals').upsert(event.stream, { sku: d.sku, qty: d.qty, version: event.version });
  },
});

async function fill(store: EventStore, events: number): Promise<bigint> {
  let position = 0n;
  for (let done = 0; done < events; done += 1000) {
    const stream = `sku-${(done / 1000) % STREAMS}`;
    const batch = Array.from({ length: 1000 }, (_, i) => ({ type: 'Sold', data: { sku: stream, qty: (done + i) % 7 } }));
    position = (await store.append(stream, batch)).position;
  }
  return position;
}

export type RawCatchUp = () => Promise<Measured>;

export async function projectionScenarios(adapter: string, store: EventStore, raw: RawCatchUp | undefined, targets: { catchUp: string; live: string }): Promise<void> {
  const head = await fill(store, N.all);
  const catchUp = await timed(N.all, async () => {
    const daemon = await startProjections(store, [totals]);
    await daemon.waitFor(head, { timeout: 600_000 });
    await daemon.close();
  });
  printRow({ scenario: `(h) projection catch-up, ${N.all.toLocaleString('en')} events`, adapter, result: catchUp, ...(raw ? { raw: await raw() } : {}), target: targets.catchUp });

  const daemon = await startProjections(store, [totals]);
  await daemon.waitFor(head);
  const latencies: number[] = [];
  const rounds = N.all >= 100_000 ? 500 : 100;
  const start = performance.now();
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    const { position } = await store.append(`sku-${i % STREAMS}`, [{ type: 'Sold', data: { sku: 'live', qty: 1 } }]);
    await daemon.waitFor(position);
    latencies.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 2));
  }
  await daemon.close();
  latencies.sort((a, b) => a - b);
  printRow({ scenario: '(i) live: append → visible in documents', adapter, result: { events: rounds, seconds: (performance.now() - start) / 1000, latencies }, target: targets.live });

  const rebuild = await timed(N.all, async () => void (await rebuildProjection(store, totals)));
  printRow({ scenario: `(j) rebuild (blue/green), ${N.all.toLocaleString('en')} events`, adapter, result: rebuild });
}

/** Raw SQLite: pages of events, one upsert per event, each page one transaction with a checkpoint. */
export function rawSqliteCatchUp(path: string): RawCatchUp {
  return () =>
    timed(N.all, () => {
      const db = new Database(path);
      db.exec('CREATE TABLE IF NOT EXISTS raw_docs (id TEXT PRIMARY KEY, data TEXT NOT NULL); CREATE TABLE IF NOT EXISTS raw_cp (n INTEGER)');
      const page = db.prepare("SELECT position, stream, version, data FROM factline_events WHERE position > ? AND type = 'Sold' ORDER BY position LIMIT ?");
      const put = db.prepare('INSERT INTO raw_docs (id, data) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data');
      const cp = db.prepare('INSERT INTO raw_cp (n) VALUES (?)');
      let after = 0;
      for (;;) {
        const rows = page.all(after, PAGE) as { position: number; stream: string; version: number; data: string }[];
        if (rows.length === 0) break;
        db.transaction(() => {
          for (const r of rows) {
            const d = JSON.parse(r.data) as { sku: string; qty: number };
            put.run(r.stream, JSON.stringify({ sku: d.sku, qty: d.qty, version: r.version }));
          }
          cp.run(rows.at(-1)!.position);
        }).immediate();
        after = rows.at(-1)!.position;
      }
      db.close();
    });
}

/**
 * Sequential 1-event appends to a store with `totals` inline: the cost of keeping a read model in
 * the append's transaction (compare with scenario (a) on the same adapter).
 */
export async function inlineScenario(adapter: string, store: EventStore): Promise<void> {
  const count = N.singles;
  const result = await timedOps(count, 1, (i) => store.append(`sku-${i % STREAMS}`, [{ type: 'Sold', data: { sku: 'inline', qty: 1 } }]));
  printRow({ scenario: '(k) 1-event appends, one inline projection', adapter, result });
}

export const inlineTotals = totals;

/** Raw PostgreSQL: the same, with each page's documents in one multi-row upsert (as Factline does). */
export function rawPostgresCatchUp(url: string, schema: string): RawCatchUp {
  return () =>
    timed(N.all, async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`CREATE TABLE IF NOT EXISTS ${schema}.raw_docs (id text PRIMARY KEY, data jsonb NOT NULL); CREATE TABLE IF NOT EXISTS ${schema}.raw_cp (n bigint)`);
      let after = '0';
      for (;;) {
        const { rows } = await client.query<{ position: string; stream: string; version: number; data: string }>(
          `SELECT position::text, stream, version, data FROM ${schema}.events WHERE position > $1 AND type = 'Sold' ORDER BY position LIMIT $2`,
          [after, PAGE],
        );
        if (rows.length === 0) break;
        // One row per id in a statement: ON CONFLICT cannot touch a row twice.
        const docs = new Map<string, string>();
        for (const r of rows) {
          const d = JSON.parse(r.data) as { sku: string; qty: number };
          docs.set(r.stream, JSON.stringify({ sku: d.sku, qty: d.qty, version: r.version }));
        }
        await client.query('BEGIN');
        await client.query(
          `INSERT INTO ${schema}.raw_docs (id, data) SELECT * FROM unnest($1::text[], $2::jsonb[]) ON CONFLICT (id) DO UPDATE SET data = excluded.data`,
          [[...docs.keys()], [...docs.values()]],
        );
        await client.query(`INSERT INTO ${schema}.raw_cp (n) VALUES ($1)`, [rows.at(-1)!.position]);
        await client.query('COMMIT');
        after = rows.at(-1)!.position;
      }
      await client.end();
    });
}
