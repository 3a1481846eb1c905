import type Database from 'better-sqlite3';
import { ConfigurationError } from '../events/errors.js';
import { linksOf } from '../events/validate.js';

/**
 * The schema, one entry per version: SQL, or a step that runs its own. A migration is never edited
 * once released: a change is a new entry. Every process that opens the file runs `migrate`; the
 * write lock makes that safe.
 */
const MIGRATIONS: readonly (string | ((db: Database.Database) => void))[] = [
  `CREATE TABLE factline_events (
     position       INTEGER PRIMARY KEY,
     id             TEXT    NOT NULL UNIQUE,
     stream         TEXT    NOT NULL,
     version        INTEGER NOT NULL,
     type           TEXT    NOT NULL,
     data           TEXT    NOT NULL,
     metadata       TEXT,
     schema_version INTEGER NOT NULL,
     recorded_at    INTEGER NOT NULL,
     UNIQUE (stream, version)
   ) STRICT;
   -- Only deleted streams have a row: a live stream's head is its last event, found through the
   -- (stream, version) index, so an append writes no row but its events.
   CREATE TABLE factline_tombstones (
     stream     TEXT    PRIMARY KEY,
     version    INTEGER NOT NULL,
     position   INTEGER NOT NULL,
     deleted_at INTEGER NOT NULL
   ) STRICT, WITHOUT ROWID;`,
  `CREATE TABLE factline_snapshots (
     stream         TEXT    NOT NULL,
     name           TEXT    NOT NULL,
     version        INTEGER NOT NULL,
     schema_version INTEGER NOT NULL,
     state          TEXT    NOT NULL,
     event_time     INTEGER NOT NULL,
     PRIMARY KEY (stream, name, version)
   ) STRICT, WITHOUT ROWID;`,
  // Documents are often larger than a WITHOUT ROWID row should be: a rowid table with a key index.
  `CREATE TABLE factline_documents (
     collection TEXT NOT NULL,
     id         TEXT NOT NULL,
     data       TEXT NOT NULL,
     UNIQUE (collection, id)
   ) STRICT;
   CREATE TABLE factline_projections (
     name        TEXT    NOT NULL,
     generation  INTEGER NOT NULL,
     version     INTEGER NOT NULL,
     status      TEXT    NOT NULL,
     checkpoint  INTEGER NOT NULL,
     owner       TEXT    NOT NULL,
     token       INTEGER NOT NULL,
     lease_until INTEGER NOT NULL,
     error       TEXT,
     updated_at  INTEGER NOT NULL,
     PRIMARY KEY (name, generation)
   ) STRICT, WITHOUT ROWID;
   CREATE TABLE factline_collections (
     collection TEXT    NOT NULL,
     generation INTEGER NOT NULL,
     projection TEXT    NOT NULL,
     PRIMARY KEY (collection, generation)
   ) STRICT, WITHOUT ROWID;
   CREATE TABLE factline_dead_letters (
     projection TEXT    NOT NULL,
     position   INTEGER NOT NULL,
     event_id   TEXT    NOT NULL,
     error      TEXT    NOT NULL,
     failed_at  INTEGER NOT NULL,
     PRIMARY KEY (projection, position)
   ) STRICT, WITHOUT ROWID;`,
  // Terminal rows have no wake_at and no waiting_for: the partial indexes hold only live instances.
  `CREATE TABLE factline_workflows (
     id               TEXT    NOT NULL PRIMARY KEY,
     name             TEXT    NOT NULL,
     version          INTEGER NOT NULL,
     status           TEXT    NOT NULL,
     input            TEXT    NOT NULL,
     result           TEXT,
     error            TEXT,
     wake_at          INTEGER,
     waiting_for      TEXT,
     owner            TEXT    NOT NULL,
     token            INTEGER NOT NULL,
     lease_until      INTEGER NOT NULL,
     cancel_requested INTEGER NOT NULL,
     created_at       INTEGER NOT NULL,
     updated_at       INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX factline_workflows_due ON factline_workflows (wake_at) WHERE wake_at IS NOT NULL;
   CREATE INDEX factline_workflows_waiting ON factline_workflows (waiting_for) WHERE waiting_for IS NOT NULL;
   CREATE INDEX factline_workflows_created ON factline_workflows (created_at, id);
   CREATE INDEX factline_workflows_status ON factline_workflows (status, created_at, id);`,
  // Correlation and causation ids as columns, indexed, for `correlated` and `causationChain`.
  // Events stored before get them from their metadata: json_type passes over those without one,
  // and the core's rule decides what is an id, on the metadata as JSON.parse reads it
  // (json_extract would turn a lone surrogate into U+FFFDs), so SQLite and PostgreSQL index alike.
  (db) => {
    const links = (metadata: unknown) => linksOf(JSON.parse(metadata as string));
    db.function('factline_correlation', { deterministic: true }, (metadata: unknown) => links(metadata).correlationId);
    db.function('factline_causation', { deterministic: true }, (metadata: unknown) => links(metadata).causationId);
    db.exec(`ALTER TABLE factline_events ADD COLUMN correlation_id TEXT;
      ALTER TABLE factline_events ADD COLUMN causation_id TEXT;
      UPDATE factline_events SET
        correlation_id = CASE WHEN json_type(metadata, '$.correlationId') = 'text' THEN factline_correlation(metadata) END,
        causation_id = CASE WHEN json_type(metadata, '$.causationId') = 'text' THEN factline_causation(metadata) END
      WHERE json_type(metadata, '$.correlationId') = 'text' OR json_type(metadata, '$.causationId') = 'text';
      CREATE INDEX factline_events_correlation ON factline_events (correlation_id, position) WHERE correlation_id IS NOT NULL;
      CREATE INDEX factline_events_causation ON factline_events (causation_id) WHERE causation_id IS NOT NULL;`);
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Brings the file's schema to the newest version; returns the version it found. */
export function migrate(db: Database.Database): number {
  return db
    .transaction(() => {
      db.exec('CREATE TABLE IF NOT EXISTS factline_schema (version INTEGER NOT NULL, applied_at INTEGER NOT NULL) STRICT');
      const found = (db.prepare('SELECT max(version) FROM factline_schema').pluck().get() as number | null) ?? 0;
      if (found > SCHEMA_VERSION) {
        throw new ConfigurationError(`the database has schema version ${found}, newer than this Factline's ${SCHEMA_VERSION}: upgrade Factline`);
      }
      const record = db.prepare('INSERT INTO factline_schema (version, applied_at) VALUES (?, ?)');
      for (let version = found + 1; version <= SCHEMA_VERSION; version++) {
        const migration = MIGRATIONS[version - 1]!;
        if (typeof migration === 'string') db.exec(migration);
        else migration(db);
        record.run(version, Date.now());
      }
      return found;
    })
    .immediate();
}
