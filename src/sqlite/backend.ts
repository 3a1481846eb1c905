import type Database from 'better-sqlite3';
import type {
  AllPage,
  KnownEvent,
  Outcome,
  StoreBackend,
  StoredEvent,
  StreamHead,
  StreamPage,
  WriteRequest,
} from '../store/backend.js';
import { batchKeys, planBatch } from '../store/plan.js';
import { toFactlineError } from './errors.js';

const COLUMNS = `position, id, stream, version, type, data, metadata,
  schema_version AS schemaVersion, recorded_at AS recordedAt`;
const MAX_INT = 9223372036854775807n;
const INSERT_CHUNK = 64;

function insertSql(rows: number): string {
  const values = Array.from({ length: rows }, () => '(?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ');
  return `INSERT INTO factline_events (position, id, stream, version, type, data, metadata, schema_version, recorded_at) VALUES ${values}`;
}

function pushRow(params: unknown[], r: StoredEvent): void {
  params.push(r.position, r.id, r.stream, r.version, r.type, r.data, r.metadata, r.schemaVersion, r.recordedAt);
}

interface HeadRow {
  stream: string;
  version: number;
  position: number;
  deleted: number;
  createdAt: number;
  updatedAt: number;
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
      heads: s(`SELECT stream, version, position, deleted, created_at AS createdAt, updated_at AS updatedAt
                FROM factline_streams WHERE stream IN (SELECT value FROM json_each(?))`),
      heads1: s(`SELECT stream, version, position, deleted, created_at AS createdAt, updated_at AS updatedAt
                 FROM factline_streams WHERE stream = ?`),
      known: s(`SELECT id, stream, version, position, type, data FROM factline_events
                WHERE id IN (SELECT value FROM json_each(?))`),
      maxPosition: s('SELECT max(position) FROM factline_events').pluck(),
      insert1: s(insertSql(1)),
      insertChunk: s(insertSql(INSERT_CHUNK)),
      upsertHead: s(`INSERT INTO factline_streams (stream, version, position, deleted, created_at, updated_at)
                     VALUES (?, ?, ?, ?, ?, ?)
                     ON CONFLICT (stream) DO UPDATE SET version = excluded.version, position = excluded.position,
                       deleted = excluded.deleted, updated_at = excluded.updated_at`),
      forward: s(`SELECT ${COLUMNS} FROM factline_events
                  WHERE stream = ? AND version BETWEEN ? AND ? AND recorded_at <= ? ORDER BY version LIMIT ?`),
      backward: s(`SELECT ${COLUMNS} FROM factline_events
                   WHERE stream = ? AND version BETWEEN ? AND ? AND recorded_at <= ? ORDER BY version DESC LIMIT ?`),
      all: s(`SELECT ${COLUMNS} FROM factline_events
              WHERE position > @after AND position <= @upTo
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
    const headRows = (streams.length === 1 ? st.heads1.all(streams[0]) : st.heads.all(JSON.stringify(streams))) as HeadRow[];
    for (const row of headRows) heads.set(row.stream, toHead(row));
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
      st.upsertHead.run(h.stream, h.version, h.position, h.deleted ? 1 : 0, h.createdAt, h.updatedAt);
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
    return this.run(() => {
      const row = this.statements.heads1.get(stream) as HeadRow | undefined;
      return row && toHead(row);
    });
  }

  readStream(stream: string, page: StreamPage): Promise<readonly StoredEvent[]> {
    const statement = page.direction === 'forward' ? this.statements.forward : this.statements.backward;
    return this.run(() => withPositions(statement.all(stream, page.from, page.to, page.until ?? Number.MAX_SAFE_INTEGER, page.limit)));
  }

  readAll(page: AllPage): Promise<readonly StoredEvent[]> {
    const types = page.types === undefined ? null : JSON.stringify(page.types);
    return this.run(() =>
      withPositions(
        this.statements.all.all({ after: page.after, upTo: page.upTo ?? MAX_INT, types, prefix: page.streamPrefix ?? null, limit: page.limit }),
      ),
    );
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

function toHead(row: HeadRow): StreamHead {
  return { ...row, position: BigInt(row.position), deleted: row.deleted === 1 };
}

/** SQLite returns integers as numbers; positions are bigints in the contract. */
function withPositions(rows: unknown[]): StoredEvent[] {
  for (const row of rows as { position: number | bigint }[]) row.position = BigInt(row.position);
  return rows as StoredEvent[];
}
