import type pg from 'pg';
import { isStoreUnavailableError } from '../events/errors.js';
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
import { batchKeys, planBatch, type BatchPlan } from '../store/plan.js';
import { toFactlineError } from './errors.js';
import { listen } from './listener.js';
import type { Names } from './names.js';

/** Hooks for tests that need to disturb an append from inside its transaction. */
export interface PostgresTestHooks {
  /** Runs inside the append transaction, holding the append lock, before anything is written. Throw to roll back. */
  readonly insideAppend?: () => Promise<void>;
}

const ms = (column: string) => `(extract(epoch FROM ${column}) * 1000)::float8`;

interface EventRow extends Omit<StoredEvent, 'position'> {
  position: string;
}

interface HeadRow {
  stream: string;
  version: number | null;
  position: string | null;
  updated: number | null;
  created: number | null;
  t_version: number | null;
  t_position: string | null;
  t_deleted: number | null;
}

/**
 * Appends run in one transaction per batch that takes a transaction-scoped advisory lock before it
 * reads the heads and draws positions, and holds it to COMMIT. So positions are handed out in
 * commit order: a reader that has seen position p will never see a lower one appear later, and
 * `position > checkpoint` is a complete poll. The price is one committing batch at a time per
 * schema; group commit makes each batch carry many appends.
 */
export class PostgresBackend implements StoreBackend {
  readonly shared = true;
  readonly pollInterval = 500;
  private readonly sql;

  constructor(
    private readonly pool: pg.Pool,
    private readonly n: Names,
    private readonly onClose: () => Promise<void>,
    private readonly hooks: PostgresTestHooks = {},
  ) {
    // The text cast keeps bigints exact; ORDER BY must then name the table's column, not this alias.
    const columns = `position::text AS position, id::text AS id, stream, version, type, data, metadata,
      schema_version AS "schemaVersion", ${ms('recorded_at')} AS "recordedAt"`;
    const stream = (order: string) => `SELECT ${columns} FROM ${n.events}
      WHERE stream = $1 AND version BETWEEN $2 AND $3 AND ($4::float8 IS NULL OR recorded_at <= to_timestamp($4 / 1000.0))
      ORDER BY version ${order} LIMIT $5`;
    this.sql = {
      write: `WITH events AS (
          INSERT INTO ${n.events} (position, id, stream, version, type, data, metadata, schema_version, recorded_at)
          SELECT p, i, s, v, t, d, m, sv, to_timestamp(r / 1000.0)
          FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::int[], $5::text[], $6::text[], $7::text[], $8::int[], $9::float8[])
            AS x (p, i, s, v, t, d, m, sv, r)
        ), tombstones AS (
          INSERT INTO ${n.tombstones} (stream, version, position, deleted_at)
          SELECT s, v, p, to_timestamp(r / 1000.0) FROM unnest($10::text[], $11::int[], $12::bigint[], $13::float8[]) AS x (s, v, p, r)
        )
        SELECT pg_notify($14, $15)`,
      head: `${headsSql()} FROM (SELECT $1::text AS stream) AS s ${headsJoin(n)}`,
      forward: stream('ASC'),
      backward: stream('DESC'),
      all: `SELECT ${columns} FROM ${n.events}
        WHERE position > $1 AND position <= $2
          AND ($3::text[] IS NULL OR type = ANY ($3)) AND ($4::text IS NULL OR starts_with(stream, $4))
        ORDER BY ${n.events}.position LIMIT $5`,
      max: `SELECT coalesce(max(position), 0)::text AS max FROM ${n.events}`,
    };
  }

  async commit(requests: readonly WriteRequest[]): Promise<readonly Outcome[]> {
    const client = await this.pool.connect().catch((error: unknown) => {
      throw toFactlineError(error);
    });
    // A connection dropped while checked out emits 'error' besides failing the query in flight.
    const onError = () => {};
    client.on('error', onError);
    const release = (error?: Error) => {
      client.off('error', onError);
      client.release(error);
    };
    let committing = false;
    try {
      const plan = await this.plan(client, requests);
      await this.hooks.insideAppend?.();
      if (plan.rows.length > 0 || plan.heads.some((h) => h.deleted)) await client.query(this.writeQuery(plan));
      committing = true;
      await client.query('COMMIT');
      release();
      return plan.outcomes;
    } catch (error) {
      const mapped = toFactlineError(error, committing ? 'unknown' : 'not_written');
      if (isStoreUnavailableError(mapped)) {
        release(mapped); // the connection is broken: the pool drops it
      } else {
        await client.query('ROLLBACK').then(
          () => release(),
          (rollbackError: Error) => release(rollbackError),
        );
      }
      throw mapped;
    }
  }

  /**
   * BEGIN, the lock, and the reads go in one round trip (the simple protocol runs each statement
   * with a fresh snapshot, so the reads see every commit made before the lock was granted).
   * Literals are escaped by the driver; stream names and ids are validated before they get here.
   */
  private async plan(client: pg.PoolClient, requests: readonly WriteRequest[]): Promise<BatchPlan> {
    const { streams, ids } = batchKeys(requests);
    const array = (values: string[], type: string) => `ARRAY[${values.map((v) => client.escapeLiteral(v)).join(',')}]::${type}[]`;
    const n = this.n;
    const results = (await client.query(`BEGIN;
      SELECT pg_advisory_xact_lock(${n.lockSpace}, ${n.lockKey});
      SELECT (SELECT coalesce(max(position), 0)::text FROM ${n.events}) AS max,
        (SELECT coalesce(json_agg(h), '[]')::text FROM (${headsSql()}
           FROM unnest(${array(streams, 'text')}) AS s (stream) ${headsJoin(n)}) AS h) AS heads,
        (SELECT coalesce(json_agg(k), '[]')::text FROM (SELECT id::text AS id, stream, version, position::text AS position, type, data
           FROM ${n.events} WHERE id = ANY (${array(ids, 'uuid')})) AS k) AS known`)) as unknown as pg.QueryResult[];
    const row = results[2]!.rows[0] as { max: string; heads: string; known: string };
    const heads = new Map<string, StreamHead>();
    for (const h of JSON.parse(row.heads) as HeadRow[]) {
      const head = toHead(h);
      if (head) heads.set(head.stream, head);
    }
    const known = new Map<string, KnownEvent>();
    for (const k of JSON.parse(row.known) as (Omit<KnownEvent, 'position'> & { position: string })[]) {
      known.set(k.id, { ...k, position: BigInt(k.position) });
    }
    return planBatch(requests, heads, known, BigInt(row.max) + 1n, Date.now());
  }

  private writeQuery(plan: BatchPlan): pg.QueryConfig {
    const r = plan.rows;
    const deleted = plan.heads.filter((h) => h.deleted);
    const last = r.length > 0 ? r[r.length - 1]!.position : 0n;
    return {
      name: `factline_write_${this.n.schemaName}`,
      text: this.sql.write,
      values: [
        r.map((e) => e.position.toString()),
        r.map((e) => e.id),
        r.map((e) => e.stream),
        r.map((e) => e.version),
        r.map((e) => e.type),
        r.map((e) => e.data),
        r.map((e) => e.metadata),
        r.map((e) => e.schemaVersion),
        r.map((e) => e.recordedAt),
        deleted.map((h) => h.stream),
        deleted.map((h) => h.version),
        deleted.map((h) => h.position.toString()),
        deleted.map((h) => h.updatedAt),
        this.n.channel,
        last.toString(),
      ],
    };
  }

  async streamHead(stream: string): Promise<StreamHead | undefined> {
    const { rows } = await this.query<HeadRow>('head', this.sql.head, [stream]);
    return rows[0] && toHead(rows[0]);
  }

  async readStream(stream: string, page: StreamPage): Promise<readonly StoredEvent[]> {
    const name = page.direction === 'forward' ? 'forward' : 'backward';
    const { rows } = await this.query<EventRow>(name, this.sql[name], [stream, page.from, page.to, page.until ?? null, page.limit]);
    return withPositions(rows);
  }

  async readAll(page: AllPage): Promise<readonly StoredEvent[]> {
    const values = [page.after.toString(), (page.upTo ?? MAX).toString(), page.types ?? null, page.streamPrefix ?? null, page.limit];
    const { rows } = await this.query<EventRow>('all', this.sql.all, values);
    return withPositions(rows);
  }

  async headPosition(): Promise<bigint> {
    const { rows } = await this.query<{ max: string }>('max', this.sql.max, []);
    return BigInt(rows[0]!.max);
  }

  watch(onCommit: (position: bigint) => void): () => Promise<void> {
    return listen(this.pool, this.n.channel, onCommit, () => this.headPosition());
  }

  close(): Promise<void> {
    return this.onClose();
  }

  private async query<R extends pg.QueryResultRow>(name: string, text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>({ name: `factline_${name}_${this.n.schemaName}`, text, values });
    } catch (error) {
      throw toFactlineError(error);
    }
  }
}

const MAX = 2n ** 63n - 1n;

function headsSql(): string {
  return `SELECT s.stream, l.version, l.position::text AS position, l.updated, l.created,
      t.version AS t_version, t.position::text AS t_position, ${ms('t.deleted_at')} AS t_deleted`;
}

/** A live stream's head is its last event, through the (stream, version) index; a deleted one has a tombstone. */
function headsJoin(n: Names): string {
  return `LEFT JOIN LATERAL (
      SELECT e.version, e.position, ${ms('e.recorded_at')} AS updated,
        (SELECT ${ms('f.recorded_at')} FROM ${n.events} AS f WHERE f.stream = s.stream AND f.version = 1) AS created
      FROM ${n.events} AS e WHERE e.stream = s.stream ORDER BY e.version DESC LIMIT 1) AS l ON true
    LEFT JOIN ${n.tombstones} AS t ON t.stream = s.stream
    WHERE l.version IS NOT NULL OR t.stream IS NOT NULL`;
}

function toHead(h: HeadRow): StreamHead | undefined {
  if (h.t_version !== null) {
    return {
      stream: h.stream,
      version: h.t_version,
      position: BigInt(h.t_position!),
      deleted: true,
      createdAt: h.created ?? h.t_deleted!,
      updatedAt: h.t_deleted!,
    };
  }
  if (h.version === null) return undefined;
  return { stream: h.stream, version: h.version, position: BigInt(h.position!), deleted: false, createdAt: h.created!, updatedAt: h.updated! };
}

function withPositions(rows: EventRow[]): StoredEvent[] {
  return rows.map((r) => ({ ...r, position: BigInt(r.position) }));
}
