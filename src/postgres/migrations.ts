import type pg from 'pg';
import { ConfigurationError } from '../events/errors.js';
import { linksOf } from '../events/validate.js';
import type { Names } from './names.js';

/**
 * The schema, one entry per version, in the store's own PostgreSQL schema. A migration is never
 * edited once released: a change is a new entry. Data and metadata are `text`, not `jsonb`: jsonb
 * reorders keys and refuses `\u0000`, and `json` fails on lone surrogates the moment an operator
 * reads it; text keeps exactly what was appended.
 */
/** SQLSTATE raised when a write was planned on heads another process has changed since. */
export const STALE = 'FL001';

/** SQL, or a step that runs its own statements in the migration's transaction (a backfill, say). */
type Migration = (n: Names) => string | ((client: pg.ClientBase) => Promise<void>);

/** Rows the v6 backfill reads and rewrites per round trip. */
const BACKFILL_BATCH = 5000;

const MIGRATIONS: readonly Migration[] = [
  (n) => `
    CREATE TABLE ${n.events} (
      position       bigint      PRIMARY KEY,
      id             uuid        NOT NULL UNIQUE,
      stream         text        NOT NULL,
      version        integer     NOT NULL,
      type           text        NOT NULL,
      data           text        NOT NULL,
      metadata       text,
      schema_version integer     NOT NULL,
      recorded_at    timestamptz NOT NULL,
      UNIQUE (stream, version)
    );
    -- Only deleted streams have a row: a live stream's head is its last event.
    CREATE TABLE ${n.tombstones} (
      stream     text        PRIMARY KEY,
      version    integer     NOT NULL,
      position   bigint      NOT NULL,
      deleted_at timestamptz NOT NULL
    );
    -- Called by every write, first thing: takes the append lock (held to commit, so positions
    -- follow commit order), checks that the heads the write was planned on still stand (each
    -- stream's last version, no tombstone, and no event recorded after the write's time;
    -- statements in a volatile function see commits made while it waited for the lock), and
    -- returns the first free position.
    CREATE FUNCTION ${n.reserve}(streams text[], versions integer[], ats float8[]) RETURNS bigint
    LANGUAGE plpgsql VOLATILE AS $fn$
    BEGIN
      PERFORM pg_advisory_xact_lock(${n.lockSpace}, ${n.lockKey});
      IF EXISTS (
        SELECT 1 FROM unnest(streams, versions, ats) AS h (stream, version, at)
        LEFT JOIN LATERAL (
          SELECT e.version, e.recorded_at FROM ${n.events} AS e WHERE e.stream = h.stream ORDER BY e.version DESC LIMIT 1
        ) AS l ON true
        WHERE coalesce(l.version, 0) <> h.version
           OR l.recorded_at > to_timestamp(h.at / 1000.0)
           OR EXISTS (SELECT 1 FROM ${n.tombstones} AS t WHERE t.stream = h.stream)
      ) THEN
        RAISE EXCEPTION 'stream heads changed since they were planned on' USING ERRCODE = '${STALE}';
      END IF;
      RETURN (SELECT coalesce(max(position), 0) + 1 FROM ${n.events});
    END
    $fn$;`,
  (n) => `
    CREATE TABLE ${n.snapshots} (
      stream         text        NOT NULL,
      name           text        NOT NULL,
      version        integer     NOT NULL,
      schema_version integer     NOT NULL,
      state          text        NOT NULL,
      event_time     timestamptz NOT NULL,
      PRIMARY KEY (stream, name, version)
    );`,
  // Documents are jsonb: queried by field. Times are epoch milliseconds from the database's clock.
  (n) => `
    CREATE TABLE ${n.documents} (
      collection text  NOT NULL,
      id         text  NOT NULL,
      data       jsonb NOT NULL,
      PRIMARY KEY (collection, id)
    );
    CREATE TABLE ${n.projections} (
      name        text    NOT NULL,
      generation  integer NOT NULL,
      version     integer NOT NULL,
      status      text    NOT NULL,
      checkpoint  bigint  NOT NULL,
      owner       text    NOT NULL,
      token       bigint  NOT NULL,
      lease_until bigint  NOT NULL,
      error       text,
      updated_at  bigint  NOT NULL,
      PRIMARY KEY (name, generation)
    );
    CREATE TABLE ${n.collections} (
      collection text    NOT NULL,
      generation integer NOT NULL,
      projection text    NOT NULL,
      PRIMARY KEY (collection, generation)
    );
    CREATE TABLE ${n.deadLetters} (
      projection text   NOT NULL,
      position   bigint NOT NULL,
      event_id   uuid   NOT NULL,
      error      text   NOT NULL,
      failed_at  bigint NOT NULL,
      PRIMARY KEY (projection, position)
    );`,
  // Terminal rows have no wake_at and no waiting_for: the partial indexes hold only live instances.
  (n) => `
    CREATE TABLE ${n.workflows} (
      id               text    PRIMARY KEY,
      name             text    NOT NULL,
      version          integer NOT NULL,
      status           text    NOT NULL,
      input            text    NOT NULL,
      result           text,
      error            text,
      wake_at          bigint,
      waiting_for      text,
      owner            text    NOT NULL,
      token            bigint  NOT NULL,
      lease_until      bigint  NOT NULL,
      cancel_requested boolean NOT NULL,
      created_at       bigint  NOT NULL,
      updated_at       bigint  NOT NULL
    );
    CREATE INDEX ON ${n.workflows} (wake_at) WHERE wake_at IS NOT NULL;
    CREATE INDEX ON ${n.workflows} (waiting_for) WHERE waiting_for IS NOT NULL;
    CREATE INDEX ON ${n.workflows} (created_at, id);
    CREATE INDEX ON ${n.workflows} (status, created_at, id);`,
  // Listing streams by prefix needs names in code point order; the (stream, version) index has the
  // database's collation, under which names sharing a prefix need not be adjacent.
  // Made beforehand with CREATE INDEX CONCURRENTLY (docs/postgres.md), it is not made twice.
  (n) => `DO $do$ BEGIN
      IF NOT EXISTS (
        SELECT 1 FROM pg_index AS i
        JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
        WHERE i.indrelid = '${n.events}'::regclass AND i.indisvalid AND i.indnkeyatts = 1 AND a.attname = 'stream'
          AND i.indcollation[0] = (SELECT oid FROM pg_collation WHERE collname = 'C' AND collnamespace = 'pg_catalog'::regnamespace)
      ) THEN
        CREATE INDEX ON ${n.events} (stream COLLATE "C");
      END IF;
    END $do$;`,
  // Correlation and causation ids as columns, indexed, for `correlated` and `causationChain`.
  // Adding nullable columns is instant; events stored before get them from their metadata, parsed
  // here rather than with ::json, which fails on lone surrogates. Indexes come after the backfill.
  (n) => async (client) => {
    await client.query(`ALTER TABLE ${n.events} ADD COLUMN correlation_id text, ADD COLUMN causation_id text`);
    await backfillLinks(client, n);
    await client.query(`CREATE INDEX ON ${n.events} (correlation_id, position) WHERE correlation_id IS NOT NULL`);
    await client.query(`CREATE INDEX ON ${n.events} (causation_id) WHERE causation_id IS NOT NULL`);
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the schema to the newest version. Several processes may start at once: the first takes
 * a transaction-scoped advisory lock (safe behind connection poolers) and migrates, the others
 * wait for it and then find nothing to do. Returns the version it found.
 */
export async function migrate(client: pg.ClientBase, n: Names): Promise<number> {
  // READ COMMITTED whatever the server's default: what the lock's previous holder committed must
  // be visible to the statements after it.
  await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [n.lockSpace + 1, n.lockKey]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${n.schema}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${n.versions} (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ found: number }>(`SELECT coalesce(max(version), 0)::int AS found FROM ${n.versions}`);
    const found = rows[0]!.found;
    if (found > SCHEMA_VERSION) {
      throw new ConfigurationError(`the database has schema version ${found}, newer than this Factline's ${SCHEMA_VERSION}: upgrade Factline`);
    }
    for (let version = found + 1; version <= SCHEMA_VERSION; version++) {
      const migration = MIGRATIONS[version - 1]!(n);
      if (typeof migration === 'string') await client.query(migration);
      else await migration(client);
      await client.query(`INSERT INTO ${n.versions} (version) VALUES ($1)`, [version]);
    }
    await client.query('COMMIT');
    return found;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

/** Sets the id columns of the events with metadata, a batch of positions at a time, as an append would. */
async function backfillLinks(client: pg.ClientBase, n: Names): Promise<void> {
  for (let after = '0'; ; ) {
    const { rows } = await client.query<{ position: string; metadata: string }>(
      // ORDER BY names the column, not the text it is read as.
      `SELECT e.position::text AS position, e.metadata FROM ${n.events} AS e
       WHERE e.metadata IS NOT NULL AND e.position > $1 ORDER BY e.position LIMIT ${BACKFILL_BATCH}`,
      [after],
    );
    if (rows.length === 0) return;
    const positions: string[] = [];
    const correlations: (string | null)[] = [];
    const causations: (string | null)[] = [];
    for (const row of rows) {
      const { correlationId, causationId } = linksOf(JSON.parse(row.metadata));
      if (correlationId === null && causationId === null) continue;
      positions.push(row.position);
      correlations.push(correlationId);
      causations.push(causationId);
    }
    if (positions.length > 0) {
      await client.query(
        `UPDATE ${n.events} AS e SET correlation_id = u.co, causation_id = u.ca
         FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u (p, co, ca) WHERE e.position = u.p`,
        [positions, correlations, causations],
      );
    }
    after = rows.at(-1)!.position;
  }
}
