import type Database from 'better-sqlite3';
import type {
  AllPage,
  CorrelationPage,
  InlineHook,
  KnownEvent,
  Outcome,
  StoreBackend,
  StoredEvent,
  StoredSnapshot,
  StreamHead,
  StreamPage,
  StreamsPage,
  WriteRequest,
} from '../store/backend.js';
import type { DeadLetter, ProjectionBackend, ProjectionRow, Transaction } from '../projections/backend.js';
import { Mutex } from '../store/mutex.js';
import { batchKeys, planBatch, type BatchPlan, type PlannedRow } from '../store/plan.js';
import { toFactlineError } from './errors.js';
import { SqliteDocuments, SqliteTransaction } from './projections.js';
import { sqliteWorkflows } from './workflows.js';
import type { WorkflowBackend } from '../workflows/backend.js';

const COLUMNS = `position, id, stream, version, type, data, metadata,
  schema_version AS schemaVersion, recorded_at AS recordedAt`;
const INSERT_CHUNK = 64;

function insertSql(rows: number): string {
  const values = Array.from({ length: rows }, () => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ');
  return `INSERT INTO factline_events (position, id, stream, version, type, data, metadata, schema_version, recorded_at, correlation_id, causation_id)
    VALUES ${values}`;
}

function pushRow(params: unknown[], r: PlannedRow): void {
  params.push(r.position, r.id, r.stream, r.version, r.type, r.data, r.metadata, r.schemaVersion, r.recordedAt, r.correlationId, r.causationId);
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

function prepare(db: Database.Database) {
  const s = (sql: string) => db.prepare(sql);
  return {
    lastEvent: s(`SELECT version, position, recorded_at AS updatedAt,
                    (SELECT recorded_at FROM factline_events WHERE stream = @stream AND version = 1) AS createdAt
                  FROM factline_events WHERE stream = @stream ORDER BY version DESC LIMIT 1`),
    // A loose scan of the (stream, version) index: one seek per stream, however many events it has.
    streamNames: s(`WITH RECURSIVE names (stream) AS (
                      SELECT (SELECT stream FROM factline_events WHERE stream > @after AND stream >= @prefix ORDER BY stream LIMIT 1)
                      UNION ALL
                      SELECT (SELECT e.stream FROM factline_events AS e WHERE e.stream > names.stream ORDER BY e.stream LIMIT 1)
                      FROM names WHERE substr(names.stream, 1, length(@prefix)) = @prefix
                      LIMIT @limit
                    )
                    SELECT stream FROM names WHERE substr(stream, 1, length(@prefix)) = @prefix`).pluck(),
    tombstone: s('SELECT version, position, deleted_at AS deletedAt FROM factline_tombstones WHERE stream = ?'),
    known: s(`SELECT id, stream, version, position, type, data FROM factline_events
              WHERE id IN (SELECT value FROM json_each(?))`),
    maxPosition: s('SELECT max(position) FROM factline_events').pluck(),
    byId: s(`SELECT ${COLUMNS} FROM factline_events WHERE id IN (SELECT value FROM json_each(?))`),
    byCorrelation: s(`SELECT ${COLUMNS} FROM factline_events WHERE correlation_id = ? AND position > ? ORDER BY position LIMIT ?`),
    byCausation: s(`SELECT ${COLUMNS} FROM factline_events WHERE causation_id IN (SELECT value FROM json_each(?)) ORDER BY position LIMIT ?`),
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
}

type Statements = ReturnType<typeof prepare>;

/** The write mutex of a database file, and how to say this store no longer uses it. */
export interface SharedWriteLock {
  readonly mutex: Mutex;
  readonly release: () => void;
}

/**
 * Two connections to the file. Every write runs on the writer, one at a time (a mutex), in a
 * `BEGIN IMMEDIATE` transaction; a projection's transaction may await its handlers in between.
 * Reads run on the reader, which in WAL mode sees only committed data, so they never see a
 * transaction that is still open. An in-memory database cannot be opened twice: there, reads
 * take the mutex too.
 */
export class SqliteBackend implements StoreBackend {
  readonly shared: boolean;
  readonly projections: ProjectionBackend;
  readonly workflows: WorkflowBackend;
  private readonly writeBatch: (requests: readonly WriteRequest[]) => BatchPlan;
  private readonly w: Statements;
  private readonly r: Statements;
  private readonly wd: SqliteDocuments;
  private readonly rd: SqliteDocuments;
  constructor(
    private readonly db: Database.Database,
    private readonly readerDb: Database.Database = db,
    /** Shared by every store of this process on the same file (see `sqliteStore`). */
    private readonly lock: SharedWriteLock = { mutex: new Mutex(), release: () => {} },
  ) {
    this.shared = db.name !== ':memory:' && db.name !== '';
    this.w = prepare(db);
    this.r = readerDb === db ? this.w : prepare(readerDb);
    this.wd = new SqliteDocuments(db);
    this.rd = readerDb === db ? this.wd : new SqliteDocuments(readerDb);
    const transaction = db.transaction((requests: readonly WriteRequest[]) => this.plannedWrite(requests));
    this.writeBatch = (requests) => transaction.immediate(requests);
    this.projections = this.projectionBackend();
    this.workflows = sqliteWorkflows(db, readerDb, (work) => this.write(work), (work) => this.read(work));
  }

  private projectionBackend(): ProjectionBackend {
    const reader = this.rd.reader();
    return {
      documents: {
        get: (collection, id) => this.read(() => reader.get(collection, id)),
        find: (collection, query) => this.read(() => reader.find(collection, query)),
      },
      transaction: (work) => this.write(() => this.inTransaction(work)),
      projections: () => this.read((): ProjectionRow[] => this.rd.projections()),
      ensureIndexes: (fields) => this.write(() => this.wd.ensureIndexes(fields)),
      now: () => Promise.resolve(Date.now()),
      deadLetters: (projection) => this.read((): DeadLetter[] => this.rd.deadLetters(projection)),
    };
  }

  /** BEGIN IMMEDIATE, the work (which may await), COMMIT; ROLLBACK if anything throws. */
  private async inTransaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const result = await work(new SqliteTransaction(this.wd, (page) => this.allRows(this.w, page)));
      this.db.exec('COMMIT');
      return result;
    } catch (error) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw error;
    }
  }

  private plannedWrite(requests: readonly WriteRequest[]): BatchPlan {
    const st = this.w;
    const { streams, ids } = batchKeys(requests);
    const heads = new Map<string, StreamHead>();
    for (const stream of streams) {
      const head = this.head(this.w, stream);
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
    return plan;
  }

  /** Rows go in INSERT_CHUNK at a time: one statement call per chunk instead of per row. */
  private insertRows(rows: readonly PlannedRow[]): void {
    const params: unknown[] = [];
    let i = 0;
    for (; i + INSERT_CHUNK <= rows.length; i += INSERT_CHUNK) {
      params.length = 0;
      for (let j = i; j < i + INSERT_CHUNK; j++) pushRow(params, rows[j]!);
      this.w.insertChunk.run(params);
    }
    for (; i < rows.length; i++) {
      params.length = 0;
      pushRow(params, rows[i]!);
      this.w.insert1.run(params);
    }
  }

  commit(requests: readonly WriteRequest[], inline?: InlineHook): Promise<readonly Outcome[]> {
    if (!inline) return this.write(() => this.writeBatch(requests).outcomes);
    return this.write(() =>
      this.inTransaction(async (tx) => {
        const plan = this.plannedWrite(requests);
        if (plan.rows.length > 0) await inline(plan.rows, tx, plan.outcomes);
        return plan.outcomes;
      }),
    );
  }

  streamHead(stream: string): Promise<StreamHead | undefined> {
    return this.read(() => this.head(this.r, stream));
  }

  listStreams(page: StreamsPage): Promise<readonly StreamHead[]> {
    return this.read(() => (this.r.streamNames.all(page) as string[]).map((stream) => this.head(this.r, stream)!));
  }

  private head(st: Statements, stream: string): StreamHead | undefined {
    const last = st.lastEvent.get({ stream }) as LastEventRow | undefined;
    const tombstone = st.tombstone.get(stream) as TombstoneRow | undefined;
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
    const statement = page.direction === 'forward' ? this.r.forward : this.r.backward;
    return this.read(() => withPositions(statement.all(stream, page.from, page.to, page.until ?? Number.MAX_SAFE_INTEGER, page.limit)));
  }

  readAll(page: AllPage): Promise<readonly StoredEvent[]> {
    return this.read(() => this.allRows(this.r, page));
  }

  private allRows(st: Statements, page: AllPage): StoredEvent[] {
    const types = page.types === undefined ? null : JSON.stringify(page.types);
    return withPositions(st.all.all({ after: page.after, types, prefix: page.streamPrefix ?? null, limit: page.limit }));
  }

  eventsById(ids: readonly string[]): Promise<readonly StoredEvent[]> {
    return this.read(() => withPositions(this.r.byId.all(JSON.stringify(ids))));
  }

  byCorrelation(id: string, page: CorrelationPage): Promise<readonly StoredEvent[]> {
    return this.read(() => withPositions(this.r.byCorrelation.all(id, page.after, page.limit)));
  }

  byCausation(ids: readonly string[], limit: number): Promise<readonly StoredEvent[]> {
    return this.read(() => withPositions(this.r.byCausation.all(JSON.stringify(ids), limit)));
  }

  writeSnapshot(snapshot: StoredSnapshot): Promise<void> {
    return this.write(() => void this.w.writeSnapshot.run(snapshot));
  }

  readSnapshot(stream: string, name: string, upTo: number, until: number): Promise<StoredSnapshot | undefined> {
    return this.read(() => this.r.readSnapshot.get(stream, name, upTo, until) as StoredSnapshot | undefined);
  }

  headPosition(): Promise<bigint> {
    return this.read(() => BigInt((this.r.maxPosition.get() as number | null) ?? 0));
  }

  close(): Promise<void> {
    return this.write(() => {
      if (this.readerDb !== this.db) this.readerDb.close();
      this.db.close();
      this.lock.release();
    });
  }

  /** Writes wait their turn on the writer connection. */
  private write<T>(work: () => T | Promise<T>): Promise<T> {
    return this.lock.mutex.run(work).catch((error: unknown) => {
      throw toFactlineError(error);
    });
  }

  /** Reads run at once on the reader connection; without one, after the writes in flight. */
  private read<T>(work: () => T | Promise<T>): Promise<T> {
    if (this.readerDb === this.db) return this.write(work);
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
