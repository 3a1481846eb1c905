import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigurationError, StoreUnavailableError, openStore, uuidv7 } from '../../src/index.js';
import { SCHEMA_VERSION } from '../../src/postgres/migrations.js';
import { internalsOf } from '../../src/projections/internals.js';
import { migrate, postgresStore } from '../../src/postgres/index.js';
import { closeAdmin, dropSchema, freshSchema, postgres, sql } from '../support/postgres.js';

const schemas: string[] = [];
const schema = () => {
  const s = freshSchema();
  schemas.push(s);
  return s;
};
afterAll(async () => {
  for (const s of schemas) await dropSchema(s);
  await closeAdmin();
});

describe.skipIf(postgres.reason !== undefined)(`postgresStore${postgres.reason ? ` (skipped: ${postgres.reason})` : ''}`, () => {
  it('opens from a URL with ?schema=, in that schema', async () => {
    const s = schema();
    const store = await openStore(`${postgres.url}?schema=${s}`);
    await store.append('a', [{ type: 'T', data: 1 }]);
    await store.close();
    expect(await sql(`SELECT count(*)::int AS n FROM "${s}".events`)).toEqual([{ n: 1 }]);
  });

  it('migrate() creates the schema once; migrate: false then opens without migrating', async () => {
    const s = schema();
    await expect(postgresStore({ connectionString: postgres.url!, schema: s, migrate: false })).rejects.toThrow(/run migrate\(\)/);
    expect(await migrate({ connectionString: postgres.url!, schema: s })).toEqual({ from: 0, to: SCHEMA_VERSION });
    expect(await migrate({ connectionString: postgres.url!, schema: s })).toEqual({ from: SCHEMA_VERSION, to: SCHEMA_VERSION });
    const store = await postgresStore({ connectionString: postgres.url!, schema: s, migrate: false });
    await store.append('a', [{ type: 'T', data: 1 }]);
    await store.close();
  });

  it('schema version 5 builds the "C" stream index, unless one was built beforehand (CONCURRENTLY)', async () => {
    const cIndexes = async (s: string) =>
      (await sql(`SELECT count(*)::int AS n FROM pg_indexes WHERE schemaname = '${s}' AND tablename = 'events' AND indexdef LIKE '%(stream COLLATE "C")%'`))[0];
    const fresh = schema();
    await migrate({ connectionString: postgres.url!, schema: fresh });
    expect(await cIndexes(fresh)).toEqual({ n: 1 });
    // A store at version 4 whose operator built the index ahead of the upgrade.
    const early = schema();
    await migrate({ connectionString: postgres.url!, schema: early });
    await sql(`DROP INDEX "${early}".events_stream_idx`);
    await sql(`ALTER TABLE "${early}".events DROP COLUMN correlation_id, DROP COLUMN causation_id`);
    await sql(`DELETE FROM "${early}".schema_versions WHERE version >= 5`);
    await sql(`CREATE INDEX CONCURRENTLY ahead ON "${early}".events (stream COLLATE "C")`);
    expect(await migrate({ connectionString: postgres.url!, schema: early })).toEqual({ from: 4, to: SCHEMA_VERSION });
    expect(await cIndexes(early)).toEqual({ n: 1 });
  });

  it('schema version 6 gives the events stored before it their correlation and causation ids, parsing metadata that ::json cannot', async () => {
    const s = schema();
    await migrate({ connectionString: postgres.url!, schema: s });
    // Back to version 5, with events written as version 5 wrote them.
    await sql(`ALTER TABLE "${s}".events DROP COLUMN correlation_id, DROP COLUMN causation_id`);
    await sql(`DELETE FROM "${s}".schema_versions WHERE version = 6`);
    const [a, b, c, d] = Array.from({ length: 4 }, () => uuidv7());
    const rows: [string, object | null][] = [
      [a!, { correlationId: 'flow-1', causationId: 'cmd-1', note: 'a lone \ud800 surrogate and a \u0000' }],
      [b!, { correlationId: 'flow-1', causationId: a!.toUpperCase() }],
      [c!, { correlationId: 'x'.repeat(300), causationId: 7 }], // not ids by today's rules
      [d!, null],
    ];
    const insert = `INSERT INTO "${s}".events (position, id, stream, version, type, data, metadata, schema_version, recorded_at)`;
    for (const [i, [id, metadata]] of rows.entries()) await sql(`${insert} VALUES ($1, $2, $3, 1, 'T', '{}', $4, 1, now())`, [i + 1, id, `s-${i}`, metadata && JSON.stringify(metadata)]);
    // More than a batch of the backfill, whose positions sort otherwise as text.
    await sql(`${insert} SELECT g, gen_random_uuid(), 'bulk-' || g, 1, 'T', '{}', '{"correlationId":"bulk","x":"\\ud800"}', 1, now() FROM generate_series(5, 12004) AS g`);
    await expect(sql(`SELECT metadata::json ->> 'correlationId' FROM "${s}".events WHERE position = 1`)).rejects.toThrow();

    expect(await migrate({ connectionString: postgres.url!, schema: s })).toEqual({ from: 5, to: SCHEMA_VERSION });
    const store = await postgresStore({ connectionString: postgres.url!, schema: s });
    try {
      const flow: string[] = [];
      for await (const e of store.correlated('flow-1')) flow.push(e.id);
      expect(flow).toEqual([a, b]);
      expect(await store.causationChain(a!)).toMatchObject({ ancestors: [], rootCauseId: 'cmd-1', descendants: [{ id: b }], truncated: false });
      let bulk = 0;
      for await (const e of store.correlated('bulk')) if (e.position === BigInt(bulk + 5)) bulk++;
      expect(bulk).toBe(12_000);
      expect(await sql(`SELECT correlation_id AS co, causation_id AS ca FROM "${s}".events WHERE position <= 4 ORDER BY position`)).toEqual([
        { co: 'flow-1', ca: 'cmd-1' },
        { co: 'flow-1', ca: a },
        { co: null, ca: null },
        { co: null, ca: null },
      ]);
      expect((await store.getEvents([a!]))[0]!.metadata).toEqual(rows[0]![1]);
    } finally {
      await store.close();
    }
  });

  it('stores that start together create a projection\'s document indexes once, without tripping on each other', async () => {
    const s = schema();
    await migrate({ connectionString: postgres.url!, schema: s });
    const stores = await Promise.all(Array.from({ length: 6 }, () => postgresStore({ connectionString: postgres.url!, schema: s })));
    try {
      // CREATE INDEX IF NOT EXISTS alone: one of several at once fails on the catalog's unique key.
      await Promise.all(stores.map((store) => internalsOf(store).backend.projections.ensureIndexes(['status', 'total', 'placedAt'])));
      expect(await sql(`SELECT count(*)::int AS n FROM pg_indexes WHERE schemaname = '${s}' AND (indexname LIKE 'documents_num_%' OR indexname LIKE 'documents_text_%')`)).toEqual([{ n: 6 }]);
    } finally {
      for (const store of stores) await store.close();
    }
  });

  it('processes that start together migrate once', async () => {
    const s = schema();
    const stores = await Promise.all(Array.from({ length: 6 }, () => postgresStore({ connectionString: postgres.url!, schema: s, poolSize: 2 })));
    await Promise.all(stores.map((st, i) => st.append(`s-${i}`, [{ type: 'T', data: i }])));
    await Promise.all(stores.map((st) => st.close()));
    expect(await sql(`SELECT version FROM "${s}".schema_versions ORDER BY version`)).toEqual(
      Array.from({ length: SCHEMA_VERSION }, (_, i) => ({ version: i + 1 })),
    );
  });

  it('refuses a schema newer than it knows', async () => {
    const s = schema();
    await migrate({ connectionString: postgres.url!, schema: s });
    await sql(`INSERT INTO "${s}".schema_versions (version) VALUES (99)`);
    await expect(postgresStore({ connectionString: postgres.url!, schema: s })).rejects.toThrow(ConfigurationError);
  });

  it("uses the application's pool and leaves it open", async () => {
    const pool = new pg.Pool({ connectionString: postgres.url, max: 3 });
    const store = await postgresStore({ pool, schema: schema() });
    await store.append('a', [{ type: 'T', data: 1 }]);
    await store.close();
    expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await pool.end();
  });

  it('bad options are a ConfigurationError', async () => {
    const url = postgres.url!;
    await expect(postgresStore({})).rejects.toThrow(ConfigurationError);
    await expect(postgresStore(null as never)).rejects.toThrow(ConfigurationError);
    await expect(postgresStore({ connectionString: url, pool: new pg.Pool() })).rejects.toThrow(/exactly one/);
    await expect(postgresStore({ pool: {} as never })).rejects.toThrow(/pg Pool/);
    await expect(postgresStore({ connectionString: 'mysql://x' })).rejects.toThrow(ConfigurationError);
    await expect(postgresStore({ connectionString: url, schema: 'Bad-Name' })).rejects.toThrow(/schema/);
    await expect(postgresStore({ connectionString: url, schema: 'x; DROP TABLE y' })).rejects.toThrow(/schema/);
    await expect(postgresStore({ connectionString: url, poolSize: 1 })).rejects.toThrow(/poolSize/);
    await expect(postgresStore({ pool: new pg.Pool({ connectionString: url, max: 1 }) })).rejects.toThrow(/at least 2/);
    await expect(openStore('postgres://[bad')).rejects.toThrow(ConfigurationError);
  });

  it('a database that does not exist is a ConfigurationError; a server that does not answer, StoreUnavailableError', async () => {
    const missing = new URL(postgres.url!);
    missing.pathname = '/factline_no_such_database';
    await expect(postgresStore({ connectionString: missing.toString() })).rejects.toThrow(ConfigurationError);
    const closed = new URL(postgres.url!);
    closed.port = '1';
    const error = await postgresStore({ connectionString: closed.toString() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect(error).toMatchObject({ retryable: true, outcome: 'not_written' });
  });
});
