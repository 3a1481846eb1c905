import pg from 'pg';
import { ConfigurationError } from '../events/errors.js';
import { createStore, type StoreFor, type StoreOptions } from '../store/create-store.js';
import { PostgresBackend, type PostgresTestHooks } from './backend.js';
import { toFactlineError } from './errors.js';
import { SCHEMA_VERSION, migrate as migrateSchema } from './migrations.js';
import { names } from './names.js';

export interface PostgresConnection {
  /** `postgres://user@host:5432/db`; the store makes and ends its own pool. */
  readonly connectionString?: string;
  /** A pool of the application's own; the store uses it and leaves it open on close. */
  readonly pool?: pg.Pool;
  /** The PostgreSQL schema the store's tables live in. Default `factline`. */
  readonly schema?: string;
}

export interface PostgresStoreOptions extends StoreOptions, PostgresConnection {
  /** Connections in the pool the store makes, at least 2 (one is kept for writes). Default 10. */
  readonly poolSize?: number;
  /** Migrate the schema on open (default), or only check that it is current (`false`). */
  readonly migrate?: boolean;
  /** For tests that disturb appends from inside their transaction; not for applications. */
  readonly testHooks?: PostgresTestHooks;
}

/**
 * The PostgreSQL store: several processes and machines appending to one database, with
 * positions in commit order. Opening connects and migrates the schema, hence the promise.
 */
export async function postgresStore<O extends PostgresStoreOptions>(options: O): Promise<StoreFor<O>> {
  const { pool, owned } = connect(options);
  const n = names(options.schema ?? 'factline');
  // An idle pooled connection that the server drops emits 'error'; the pool replaces it.
  const ignore = () => {};
  pool.on('error', ignore);
  // A pool of our own keeps the listener for good: `end()` resolves before its connections have
  // closed, and one told meanwhile that it was terminated makes the pool emit 'error'. An
  // application's pool goes back as it came.
  const release = async () => {
    if (owned) await pool.end();
    else pool.off('error', ignore);
  };
  try {
    const client = await pool.connect();
    try {
      if (options.migrate === false) await checkVersion(client, n);
      else await migrateSchema(client, n);
    } finally {
      client.release();
    }
    return createStore(new PostgresBackend(pool, n, release, options.testHooks), options);
  } catch (error) {
    await release().catch(() => {});
    throw toFactlineError(error);
  }
}

/** Creates or upgrades the store's schema without opening a store: for a deploy step. */
export async function migrate(options: PostgresConnection): Promise<{ from: number; to: number }> {
  const { pool, owned } = connect(options);
  // A connection dropped while idle makes the pool emit 'error': it is replaced, or ended with the pool.
  if (owned) pool.on('error', () => {});
  try {
    const client = await pool.connect();
    try {
      return { from: await migrateSchema(client, names(options.schema ?? 'factline')), to: SCHEMA_VERSION };
    } finally {
      client.release();
    }
  } catch (error) {
    throw toFactlineError(error);
  } finally {
    if (owned) await pool.end();
  }
}

// The store keeps one connection for its writes; reads need at least one more.
const MIN_POOL = 2;

function connect(options: PostgresStoreOptions): { pool: pg.Pool; owned: boolean } {
  if (typeof options !== 'object' || options === null) throw new ConfigurationError('postgresStore needs options: { connectionString } or { pool }');
  const { connectionString, pool, poolSize = 10 } = options;
  if ((connectionString === undefined) === (pool === undefined)) {
    throw new ConfigurationError('postgresStore needs exactly one of connectionString and pool');
  }
  if (pool !== undefined) {
    // Checked by shape: the application's pg may be another copy of the package than ours.
    if (typeof pool !== 'object' || pool === null || typeof pool.connect !== 'function' || typeof pool.query !== 'function') {
      throw new ConfigurationError('pool must be a pg Pool');
    }
    const max = (pool as { options?: { max?: unknown } }).options?.max;
    if (typeof max === 'number' && max < MIN_POOL) throw new ConfigurationError(`the pool needs at least ${MIN_POOL} connections (max: ${max})`);
    return { pool, owned: false };
  }
  if (typeof connectionString !== 'string' || !/^postgres(ql)?:\/\//.test(connectionString)) {
    throw new ConfigurationError('connectionString must be a postgres:// URL');
  }
  if (!Number.isSafeInteger(poolSize) || poolSize < MIN_POOL) throw new ConfigurationError(`poolSize must be an integer ≥ ${MIN_POOL}`);
  return { pool: new pg.Pool({ connectionString, max: poolSize, keepAlive: true }), owned: true };
}

async function checkVersion(client: pg.PoolClient, n: ReturnType<typeof names>): Promise<void> {
  const exists = await client.query<{ table: string | null }>('SELECT to_regclass($1)::text AS table', [n.versions]);
  const found = exists.rows[0]!.table === null ? 0 : (await client.query<{ v: number | null }>(`SELECT max(version)::int AS v FROM ${n.versions}`)).rows[0]!.v ?? 0;
  if (found !== SCHEMA_VERSION) {
    throw new ConfigurationError(`schema ${n.schemaName} is at version ${found}, this Factline needs ${SCHEMA_VERSION}: run migrate()`);
  }
}
