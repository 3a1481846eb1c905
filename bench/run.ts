// npm run bench: throughput, latency and memory of each store, beside the same work done with the
// raw driver (the physical limit on this machine), as ratios. `--quick` for a short run.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { memoryStore } from 'factline';
import { postgresStore } from 'factline/postgres';
import { sqliteStore } from 'factline/sqlite';
import pg from 'pg';
import { RawPostgres } from './raw-postgres.js';
import { RawSqlite } from './raw-sqlite.js';
import { loadScenarios } from './load.js';
import { inlineScenario, inlineTotals, projectionScenarios, rawPostgresCatchUp, rawSqliteCatchUp } from './projections.js';
import { N, printRow, scenarios } from './scenarios.js';
import { rawPostgresWorkflows, rawSqliteWorkflows, workflowScenarios } from './workflows.js';
import { httpScenarios } from './http.js';
import { telemetryScenarios } from './telemetry.js';
import { natsScenarios } from './nats.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'factline-bench-'));
console.log(`Factline bench on Node ${process.version}; SQLite: WAL, synchronous=FULL, on ${tmpdir()}`);

try {
  const memory = memoryStore();
  await scenarios('memory', memory, undefined, ['memory', String(N.all)], {});
  await memory.close();

  const path = join(dir, 'factline.db');
  const sqlite = sqliteStore({ path });
  const rawSqlite = new RawSqlite(join(dir, 'raw.db'));
  await scenarios('sqlite', sqlite, rawSqlite, ['sqlite', path], {
    a: '≥ 0.8× raw',
    b: '≥ 25,000 ev/s',
    c: '≥ 150,000 ev/s',
    e: '≥ 200,000 ev/s, RSS growth < 50 MB',
  });
  await loadScenarios('sqlite', sqlite);
  await sqlite.close();
  const traced = sqliteStore({ path: join(dir, 'telemetry.db') });
  await telemetryScenarios('sqlite', traced);
  await traced.close();
  const projected = sqliteStore({ path: join(dir, 'projections.db') });
  await projectionScenarios('sqlite', projected, rawSqliteCatchUp(join(dir, 'projections.db')), { catchUp: '≥ 40,000 ev/s', live: 'p99 ≤ 50 ms' });
  await projected.close();
  await rawSqlite.close();
  const inline = sqliteStore({ path: join(dir, 'inline.db'), projections: { inline: [inlineTotals] } });
  await inlineScenario('sqlite', inline);
  await inline.close();
  const workflows = sqliteStore({ path: join(dir, 'workflows.db') });
  await workflowScenarios('sqlite', workflows, rawSqliteWorkflows(join(dir, 'raw-workflows.db')), '≥ 500 wf/s');
  await workflows.close();
  const served = sqliteStore({ path: join(dir, 'http.db') });
  await httpScenarios('sqlite', served);
  await served.close();

  await postgresBench();
  await natsScenarios();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

async function postgresBench(): Promise<void> {
  const base = process.env.FACTLINE_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const admin = new pg.Client({ connectionString: base, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch (error) {
    console.log(`PostgreSQL skipped: not reachable at ${base} (${(error as Error).message}); set FACTLINE_BENCH_PG`);
    return;
  }
  const database = `factline_bench_${process.pid}`;
  await admin.query(`CREATE DATABASE ${database}`);
  const url = new URL(base);
  url.pathname = `/${database}`;
  try {
    const store = await postgresStore({ connectionString: url.toString(), schema: 'bench' });
    const raw = await RawPostgres.open(url.toString());
    await scenarios('postgres', store, raw, ['postgres', `${url.toString()}?schema=bench`], {
      a: '≥ 0.9× raw',
      b: '≥ 10,000 ev/s',
      c: '≥ 60,000 ev/s',
      e: '≥ 80,000 ev/s',
    });
    await loadScenarios('postgres', store);
    await store.close();
    const projected = await postgresStore({ connectionString: url.toString(), schema: 'projections' });
    await projectionScenarios('postgres', projected, rawPostgresCatchUp(url.toString(), 'projections'), { catchUp: '≥ 20,000 ev/s', live: 'p99 ≤ 50 ms' });
    await projected.close();
    const inline = await postgresStore({ connectionString: url.toString(), schema: 'inline', projections: { inline: [inlineTotals] } });
    await inlineScenario('postgres', inline);
    await inline.close();
    const workflows = await postgresStore({ connectionString: url.toString(), schema: 'workflows' });
    await workflowScenarios('postgres', workflows, rawPostgresWorkflows(url.toString()), '≥ 300 wf/s');
    await workflows.close();
    await raw.close();
    await multiProcess(`${url.toString()}?schema=multi`);
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  }
}

/** 4 processes × 16 writers appending to one PostgreSQL schema: the throughput of the whole. */
async function multiProcess(url: string): Promise<void> {
  const store = await postgresStore({ connectionString: url.replace(/\?schema=multi$/, ''), schema: 'multi' }); // migrate once
  await store.close();
  const processes = 4;
  const perWriter = Math.round(N.perWriter / 2);
  const startAt = Date.now() + 2000;
  const results = await Promise.all(
    Array.from({ length: processes }, (_, p) =>
      run(process.execPath, ['--import', 'tsx', 'bench/multi-writer.ts', url, String(N.writers), String(perWriter), String(startAt), `p${p}`]),
    ),
  );
  const parsed = results.map((r) => JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { events: number; end: number });
  const events = parsed.reduce((n, p) => n + p.events, 0);
  const seconds = (Math.max(...parsed.map((p) => p.end)) - startAt) / 1000;
  printRow({ scenario: `(f) ${processes} processes × ${N.writers} writers, 1-event appends`, adapter: 'postgres', result: { events, seconds } });
}
