import type Database from 'better-sqlite3';
import type {
  AllPage,
  KnownEvent,
  Outcome,
  StoreBackend,
  StoredEvent,
  StoredSnapshot,
  StreamHead,
  StreamPage,
  WriteRequest,
} from '../store/backend.js';
import { batchKeys, planBatch } from '../store/plan.js';
import { toFactlineError } from './errors.js';

const COLUMNS = `position, id, stream, version, type, data, metadata,
  schema_version AS schemaVersion, recorded_at AS recordedAt`;
const INSERT_CHUNK = 64;

function insertSql(rows: number): string {
  const values = Array.from({ length: rows }, () => '(?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ');
  return `INSERT INTO factline_events (position, id, stream, version, type, data, metadata, schema_version, recorded_at) VALUES ${values}`;
}

function pushRow(params: unknown[], r: StoredEvent): void {
  params.push(r.position, r.id, r.stream, r.version, r.type, r.data, r.metadata, r.schemaVersion, r.recordedAt);
}

interface LastEventRow {
  version: number;
  position: number;
  updatedAt: number;
  createdAt: number;
}

interface TombstoneRow {
  version: number;
  position: number;
  deletedAt: number;
}

/**
 * better-sqlite3 is synchronous: a batch runs start to end in one `BEGIN IMMEDIATE` transaction
 * without yielding, so no other work on this connection can interleave with it.
 */
export class SqliteBackend implements StoreBackend {
  readonly shared: boolean;
  private readonly writeBatch: (requests: readonly WriteRequest[]) => readonly Outcome[];
  private readonly statements;

  constructor(private readonly db: Database.Database) {
    this.shared = db.name !== ':memory:' && db.name !== '';
    const s = (sql: string) => db.prepare(sql);
    this.statements = {
      lastEvent: s(`SELECT version, position, recorded_at AS updatedAt,
                      (SELECT recorded_at FROM factline_events WHERE stream = @stream AND version = 1) AS createdAt
                    FROM factline_events WHERE stream = @stream ORDER BY version DESC LIMIT 1`),
      tombstone: s('SELECT version, position, deleted_at AS deletedAt FROM factline_tombstones WHERE stream = ?'),
      known: s(`SELECT id, stream, version, position, type, data FROM factline_events
                WHERE id IN (SELECT value FROM json_each(?))`),
      maxPosition: s('SELECT max(position) FROM factline_events').pluck(),
      byId: s(`SELECT ${COLUMNS} FROM factline_events WHERE id IN (SELECT value FROM json_each(?))`),
      writeSnapshot: s(`INSERT OR REPLACE INTO factline_snapshots (stream, name, version, schema_version, state, event_time)
                        VALUES (@stream, @name, @version, @schemaVersion, @state, @eventTime)`),
      readSnapshot: s(`SELECT stream, name, version, schema_version AS schemaVersion, state, event_time AS eventTime
                       FROM factline_snapshots WHERE stream = ? AND name = ? AND version <= ? AND event_time <= ?
                       ORDER BY version DESC LIMIT 1`),
      insert1: s(insertSql(1)),
      insertChunk: s(insertSql(INSERT_CHUNK)),
      insertTombstone: s('INSERT INTO factline_tombstones (stream, version, position, deleted_at) VALUES (?, ?, ?, ?)'),
      forward: s(`SELECT ${COLUMNS} FROM factline_events
                  WHERE stream = ? AND version BETWEEN ? AND ? AND recorded_at <= ? ORDER BY version LIMIT ?`),
      backward: s(`SELECT ${COLUMNS} FROM factline_events
                   WHERE stream = ? AND version BETWEEN ? AND ? AND recorded_at <= ? ORDER BY version DESC LIMIT ?`),
      all: s(`SELECT ${COLUMNS} FROM factline_events
              WHERE position > @after
                AND (@types IS NULL OR type IN (SELECT value FROM json_each(@types)))
                AND (@prefix IS NULL OR substr(stream, 1, length(@prefix)) = @prefix)
              ORDER BY position LIMIT @limit`),
    };
    const transaction = db.transaction((requests: readonly WriteRequest[]) => this.plannedWrite(requests));
    this.writeBatch = (requests) => transaction.immediate(requests);
  }

  private plannedWrite(requests: readonly WriteRequest[]): readonly Outcome[] {
    const st = this.statements;
    const { streams, ids } = batchKeys(requests);
    const heads = new Map<string, StreamHead>();
    for (const stream of streams) {
      const head = this.head(stream);
      if (head) heads.set(stream, head);
    }
    const known = new Map<string, KnownEvent>();
    if (ids.length > 0) {
      for (const row of st.known.all(JSON.stringify(ids)) as KnownEvent[]) {
        known.set(row.id, { ...row, position: BigInt(row.position) });
      }
    }
    const next = BigInt((st.maxPosition.get() as number | null) ?? 0) + 1n;
    const plan = planBatch(requests, heads, known, next, Date.now());
    this.insertRows(plan.rows);
    for (const h of plan.heads) {
      // A head only changes to deleted once: planBatch answers a second delete without a change.
      if (h.deleted) st.insertTombstone.run(h.stream, h.version, h.position, h.updatedAt);
    }
    return plan.outcomes;
  }

  /** Rows go in INSERT_CHUNK at a time: one statement call per chunk instead of per row. */
  private insertRows(rows: readonly StoredEvent[]): void {
    const params: unknown[] = [];
    let i = 0;
    for (; i + INSERT_CHUNK <= rows.length; i += INSERT_CHUNK) {
      params.length = 0;
      for (let j = i; j < i + INSERT_CHUNK; j++) pushRow(params, rows[j]!);
      this.statements.insertChunk.run(params);
    }
    for (; i < rows.length; i++) {
      params.length = 0;
      pushRow(params, rows[i]!);
      this.statements.insert1.run(params);
    }
  }

  commit(requests: readonly WriteRequest[]): Promise<readonly Outcome[]> {
    return this.run(() => this.writeBatch(requests));
  }

  streamHead(stream: string): Promise<StreamHead | undefined> {
    return this.run(() => this.head(stream));
  }

  private head(stream: string): StreamHead | undefined {
    const last = this.statements.lastEvent.get({ stream }) as LastEventRow | undefined;
    const tombstone = this.statements.tombstone.get(stream) as TombstoneRow | undefined;
    if (tombstone) {
      return {
        stream,
        version: tombstone.version,
        position: BigInt(tombstone.position),
        deleted: true,
        createdAt: last?.createdAt ?? tombstone.deletedAt,
        updatedAt: tombstone.deletedAt,
      };
    }
    if (!last) return undefined;
    return { stream, version: last.version, position: BigInt(last.position), deleted: false, createdAt: last.createdAt, updatedAt: last.updatedAt };
  }

  readStream(stream: string, page: StreamPage): Promise<readonly StoredEvent[]> {
    const statement = page.direction === 'forward' ? this.statements.forward : this.statements.backward;
    return this.run(() => withPositions(statement.all(stream, page.from, page.to, page.until ?? Number.MAX_SAFE_INTEGER, page.limit)));
  }

  readAll(page: AllPage): Promise<readonly StoredEvent[]> {
    const types = page.types === undefined ? null : JSON.stringify(page.types);
    return this.run(() =>
      withPositions(
        this.statements.all.all({ after: page.after, types, prefix: page.streamPrefix ?? null, limit: page.limit }),
      ),
    );
  }

  eventsById(ids: readonly string[]): Promise<readonly StoredEvent[]> {
    return this.run(() => withPositions(this.statements.byId.all(JSON.stringify(ids))));
  }

  writeSnapshot(snapshot: StoredSnapshot): Promise<void> {
    return this.run(() => void this.statements.writeSnapshot.run(snapshot));
  }

  readSnapshot(stream: string, name: string, upTo: number, until: number): Promise<StoredSnapshot | undefined> {
    return this.run(() => this.statements.readSnapshot.get(stream, name, upTo, until) as StoredSnapshot | undefined);
  }

  headPosition(): Promise<bigint> {
    return this.run(() => BigInt((this.statements.maxPosition.get() as number | null) ?? 0));
  }

  close(): Promise<void> {
    return this.run(() => void this.db.close());
  }

  private run<T>(work: () => T): Promise<T> {
    try {
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(toFactlineError(error));
    }
  }
}

/** SQLite returns integers as numbers; positions are bigints in the contract. */
function withPositions(rows: unknown[]): StoredEvent[] {
  for (const row of rows as { position: number | bigint }[]) row.position = BigInt(row.position);
  return rows as StoredEvent[];
}
