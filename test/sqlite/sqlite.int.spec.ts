import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigurationError, StoreUnavailableError, memoryStore, openStore, uuidv7 } from '../../src/index.js';
import { sqliteStore } from '../../src/sqlite/index.js';
import { SCHEMA_VERSION } from '../../src/sqlite/migrations.js';

const dir = mkdtempSync(join(tmpdir(), 'factline-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `db-${++n}`, 'events.db');

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

describe('sqliteStore', () => {
  it('creates the folder, uses WAL and synchronous=FULL by default', async () => {
    const path = fresh();
    const store = sqliteStore({ path });
    await store.append('s', [{ type: 'T', data: 1 }]);
    expect(existsSync(path)).toBe(true);
    const raw = new Database(path, { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
    await store.close();
  });

  it('synchronous can be NORMAL', async () => {
    const path = fresh();
    const store = sqliteStore({ path, synchronous: 'normal' });
    await store.append('s', [{ type: 'T', data: 1 }]);
    await store.close();
    expect(() => sqliteStore({ path, synchronous: 'off' as 'full' })).toThrow(ConfigurationError);
  });

  it('records the schema version once, and several opens do not migrate again', async () => {
    const path = fresh();
    const stores = [sqliteStore({ path }), sqliteStore({ path }), sqliteStore({ path })];
    await Promise.all(stores.map((s, i) => s.append(`s-${i}`, [{ type: 'T', data: i }])));
    await Promise.all(stores.map((s) => s.close()));
    const raw = new Database(path);
    expect(raw.prepare('SELECT version FROM factline_schema').pluck().all()).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
    raw.close();
  });

  it('refuses a file whose schema is newer than this version knows', () => {
    const path = fresh();
    sqliteStore({ path }).close().catch(() => {});
    const raw = new Database(path);
    raw.prepare('INSERT INTO factline_schema (version, applied_at) VALUES (?, ?)').run(SCHEMA_VERSION + 1, Date.now());
    raw.close();
    expect(() => sqliteStore({ path })).toThrow(/newer than this Factline/);
  });

  it('schema version 5 gives the events stored before it their correlation and causation ids, from metadata as the core reads it', async () => {
    const path = fresh();
    await sqliteStore({ path }).close();
    // Back to version 4, with events written as version 4 wrote them.
    const raw = new Database(path);
    raw.exec(`DROP INDEX factline_events_correlation; DROP INDEX factline_events_causation;
      ALTER TABLE factline_events DROP COLUMN correlation_id; ALTER TABLE factline_events DROP COLUMN causation_id;
      DELETE FROM factline_schema WHERE version = 5`);
    const insert = raw.prepare('INSERT INTO factline_events (position, id, stream, version, type, data, metadata, schema_version, recorded_at) VALUES (?, ?, ?, 1, ?, ?, ?, 1, 0)');
    const [a, b, c, d, e, f] = Array.from({ length: 6 }, () => uuidv7());
    const rows: [string, object | null][] = [
      [a!, { correlationId: 'flow-1', causationId: 'cmd-1', note: 'a lone \ud800 surrogate' }],
      [b!, { correlationId: 'flow-1', causationId: a!.toUpperCase() }],
      [c!, { correlationId: 'x'.repeat(300), causationId: 7 }], // not ids by today's rules
      [d!, { correlationId: 'flow-\ud800', causationId: '' }], // json_extract would read U+FFFDs here
      [e!, null],
      [f!, { userId: 'ada' }],
    ];
    rows.forEach(([id, metadata], i) => insert.run(i + 1, id, `s-${i}`, 'T', '{}', metadata && JSON.stringify(metadata)));
    raw.close();

    const store = sqliteStore({ path });
    expect((await collect(store.correlated('flow-1'))).map((x) => x.id)).toEqual([a, b]);
    expect(await store.causationChain(a!)).toMatchObject({ ancestors: [], rootCauseId: 'cmd-1', descendants: [{ id: b }], truncated: false });
    expect((await store.getEvents([a!]))[0]!.metadata).toEqual(rows[0]![1]);
    const check = new Database(path, { readonly: true });
    expect(check.prepare('SELECT correlation_id AS co, causation_id AS ca FROM factline_events ORDER BY position').all()).toEqual([
      { co: 'flow-1', ca: 'cmd-1' },
      { co: 'flow-1', ca: a },
      { co: null, ca: null },
      { co: null, ca: null },
      { co: null, ca: null },
      { co: null, ca: null },
    ]);
    // The queries the backend makes use the partial indexes.
    const plan = (sql: string) => (check.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail).join('; ');
    expect(plan("SELECT * FROM factline_events WHERE correlation_id = 'x' AND position > 0 ORDER BY position LIMIT 5")).toContain('factline_events_correlation');
    expect(plan(`SELECT * FROM factline_events WHERE causation_id IN (SELECT value FROM json_each('["x"]')) ORDER BY position LIMIT 5`)).toContain('factline_events_causation');
    check.close();
    await store.close();
  });

  it('enforces unique (stream, version) and unique event ids in the schema itself', () => {
    const path = fresh();
    sqliteStore({ path }).close().catch(() => {});
    const raw = new Database(path);
    const insert = raw.prepare(
      'INSERT INTO factline_events (id, stream, version, type, data, schema_version, recorded_at) VALUES (?, ?, ?, ?, ?, 1, 0)',
    );
    insert.run('id-1', 's', 1, 'T', '1');
    expect(() => insert.run('id-2', 's', 1, 'T', '1')).toThrow(/UNIQUE/);
    expect(() => insert.run('id-1', 't', 1, 'T', '1')).toThrow(/UNIQUE/);
    raw.close();
  });

  it('a write lock held past busyTimeout gives a retryable StoreUnavailableError, and nothing is written', async () => {
    const path = fresh();
    const store = sqliteStore({ path, busyTimeout: 50 });
    await store.append('s', [{ type: 'T', data: 1 }]);
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    const error = await store.append('s', [{ type: 'T', data: 2 }]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE', retryable: true, outcome: 'not_written' });
    // Appends that share a batch share one wait and one error: none is tried again on its own.
    const together = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => store.append(`t-${i}`, [{ type: 'T', data: i }])));
    const reasons = together.map((r) => (r as PromiseRejectedResult).reason as unknown);
    expect(reasons[0]).toBeInstanceOf(StoreUnavailableError);
    expect(new Set(reasons).size).toBe(1);
    other.exec('ROLLBACK');
    other.close();
    expect(await store.append('s', [{ type: 'T', data: 2 }])).toMatchObject({ version: 2 });
    await store.close();
  });

  it('group commit: appends made together share one transaction', async () => {
    const path = fresh();
    const store = sqliteStore({ path });
    const raw = new Database(path);
    const before = raw.pragma('data_version', { simple: true });
    await Promise.all(Array.from({ length: 64 }, (_, i) => store.append(`s-${i}`, [{ type: 'T', data: i }])));
    // data_version moves once per commit made by another connection.
    expect(Number(raw.pragma('data_version', { simple: true })) - Number(before)).toBe(1);
    raw.close();
    await store.close();
  });

  it('a file that is not a SQLite database is a ConfigurationError', () => {
    const path = fresh();
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, 'this is not a database, just text that is long enough to have a header. '.repeat(20));
    expect(() => sqliteStore({ path })).toThrow(ConfigurationError);
  });

  it('bad options are a ConfigurationError', () => {
    expect(() => sqliteStore(undefined as never)).toThrow(ConfigurationError);
    expect(() => sqliteStore(null as never)).toThrow(ConfigurationError);
    expect(() => sqliteStore({ path: '' })).toThrow(ConfigurationError);
    expect(() => sqliteStore({ path: fresh(), busyTimeout: -1 })).toThrow(ConfigurationError);
    expect(() => sqliteStore({ path: fresh(), maxEventSize: -5 })).toThrow(ConfigurationError);
  });
});

describe('openStore', () => {
  it('refuses options that are not an object', async () => {
    expect(() => memoryStore(null as never)).toThrow(ConfigurationError);
    await expect(openStore('memory:', null as never)).rejects.toBeInstanceOf(ConfigurationError);
  });

  it('opens memory: and sqlite: URLs', async () => {
    const memory = await openStore('memory:');
    await memory.append('s', [{ type: 'T', data: 1 }]);
    await memory.close();
    for (const url of [`sqlite:${fresh()}`, `sqlite://${fresh()}`, `sqlite:${fresh()}?synchronous=normal`, 'sqlite::memory:']) {
      const store = await openStore(url);
      expect(await store.append('s', [{ type: 'T', data: 1 }])).toEqual({ version: 1, position: 1n });
      await store.close();
    }
  });

  it('a relative sqlite: path is relative to the working directory', async () => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const store = await openStore('sqlite:./rel/app.db');
      await store.close();
      expect(existsSync(join(dir, 'rel', 'app.db'))).toBe(true);
    } finally {
      process.chdir(cwd);
    }
  });

  it.each(['postgress://x', 'sqlite:', 'sqlite:/tmp/x.db?synchronous=off', 'sqlite:/tmp/x.db?mode=ro', 'sqlite:/tmp/x.db?synchronous=normal?x', 'memory', ''])(
    'refuses %j with a ConfigurationError',
    async (url) => {
      await expect(openStore(url)).rejects.toBeInstanceOf(ConfigurationError);
    },
  );
});
