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
import { batchKeys, planBatch, shiftPositions, type BatchPlan } from '../store/plan.js';
import { toFactlineError } from './errors.js';
import { listen } from './listener.js';
import { STALE } from './migrations.js';
import type { Names } from './names.js';
import { statements, type Statements } from './statements.js';

/** For tests that disturb appends from inside their transaction, holding the append lock. */
export interface PostgresTestHooks {
  /** Seconds to sleep inside each write, after taking the lock. */
  readonly sleep?: () => number;
  /** True to make a write fail, and so roll back, after taking the lock. */
  readonly rollback?: () => boolean;
}

interface EventRow extends Omit<StoredEvent, 'position'> {
  position: string;
}

export interface HeadRow {
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
 * Every write calls `reserve` first, which takes a transaction-scoped advisory lock held to COMMIT
 * and draws positions under it: positions are handed out in commit order, so a reader that has
 * seen position p never sees a lower one appear later, and `position > checkpoint` is a complete
 * poll. A batch is planned on heads read just before, without a lock; the write, one statement
 * committed on its own, checks under the lock that those heads still stand. When another process
 * moved one in between, the batch is planned again inside a transaction that takes the lock
 * before it reads.
 */
export class PostgresBackend implements StoreBackend {
  readonly shared = true;
  readonly pollInterval = 500;
  private readonly sql: Statements;

  constructor(
    private readonly pool: pg.Pool,
    private readonly n: Names,
    private readonly onClose: () => Promise<void>,
    private readonly hooks?: PostgresTestHooks,
  ) {
    this.sql = statements(n, hooks !== undefined);
  }

  async commit(requests: readonly WriteRequest[]): Promise<readonly Outcome[]> {
    const client = await this.pool.connect().catch((error: unknown) => {
      throw toFactlineError(error);
    });
    // A connection dropped while checked out emits 'error' besides failing the query in flight.
    const onError = () => {};
    client.on('error', onError);
    let broken: Error | undefined;
    try {
      return (await this.optimistic(client, requests)) ?? (await this.locked(client, requests));
    } catch (error) {
      const mapped = toFactlineError(error, this.writing ? 'unknown' : 'not_written');
      if (isStoreUnavailableError(mapped)) broken = mapped; // the pool drops the connection
      throw mapped;
    } finally {
      this.writing = false;
      client.off('error', onError);
      client.release(broken);
    }
  }

  /** True while a write that commits on its own is in flight: its outcome is unknown if the connection fails. */
  private writing = false;

  /** Plans on heads read without a lock; returns undefined when another process moved one since. */
  private async optimistic(client: pg.PoolClient, requests: readonly WriteRequest[]): Promise<readonly Outcome[] | undefined> {
    const plan = await this.plan(client, requests);
    if (!needsWrite(plan.plan)) return plan.plan.outcomes;
    try {
      return await this.write(client, plan, true);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === STALE || code === '23505') return undefined;
      throw error;
    }
  }

  /** Takes the lock before reading, so nothing can move under the plan. */
  private async locked(client: pg.PoolClient, requests: readonly WriteRequest[]): Promise<readonly Outcome[]> {
    await client.query('BEGIN');
    try {
      await client.query(this.sql.lock);
      const plan = await this.plan(client, requests);
      const outcomes = needsWrite(plan.plan) ? await this.write(client, plan, false) : plan.plan.outcomes;
      this.writing = true;
      await client.query('COMMIT');
      return outcomes;
    } catch (error) {
      if (!this.writing) await client.query('ROLLBACK').catch(() => {});
      throw error;
    }
  }

  private async plan(client: pg.PoolClient, requests: readonly WriteRequest[]): Promise<{ plan: BatchPlan; heads: Map<string, StreamHead>; first: bigint }> {
    const { streams, ids } = batchKeys(requests);
    const { rows } = await client.query<{ max: string; heads: string; known: string }>({ ...this.sql.read, values: [streams, ids] });
    const heads = new Map<string, StreamHead>();
    for (const h of JSON.parse(rows[0]!.heads) as HeadRow[]) {
      const head = toHead(h);
      if (head) heads.set(head.stream, head);
    }
    const known = new Map<string, KnownEvent>();
    for (const k of JSON.parse(rows[0]!.known) as (Omit<KnownEvent, 'position'> & { position: string })[]) {
      known.set(k.id, { ...k, position: BigInt(k.position) });
    }
    const first = BigInt(rows[0]!.max) + 1n;
    return { plan: planBatch(requests, heads, known, first, Date.now()), heads, first };
  }

  /**
   * One statement: reserve (lock, check heads, first position), insert, notify. `commits` when it
   * runs outside a transaction: a connection lost meanwhile leaves its outcome unknown.
   */
  private async write(
    client: pg.PoolClient,
    { plan, heads, first }: { plan: BatchPlan; heads: Map<string, StreamHead>; first: bigint },
    commits: boolean,
  ) {
    const r = plan.rows;
    const deleted = plan.heads.filter((h) => h.deleted);
    const touched = [...new Set([...r.map((e) => e.stream), ...deleted.map((h) => h.stream)])];
    const values: unknown[] = [
      touched,
      touched.map((s) => heads.get(s)?.version ?? 0),
      touched.map(() => false),
      first.toString(),
      r.map((e) => (e.position - first).toString()),
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
      r.length.toString(),
    ];
    if (this.hooks) values.push(this.hooks.sleep?.() ?? 0, this.hooks.rollback?.() ?? false);
    this.writing = commits;
    const { rows } = await client.query<{ first: string }>({ ...this.sql.write, values });
    this.writing = false;
    return shiftPositions(plan, first, BigInt(rows[0]!.first) - first).outcomes;
  }

  async streamHead(stream: string): Promise<StreamHead | undefined> {
    const { rows } = await this.query<HeadRow>(this.sql.head, [stream]);
    return rows[0] && toHead(rows[0]);
  }

  async readStream(stream: string, page: StreamPage): Promise<readonly StoredEvent[]> {
    const statement = page.direction === 'forward' ? this.sql.forward : this.sql.backward;
    const { rows } = await this.query<EventRow>(statement, [stream, page.from, page.to, page.until ?? null, page.limit]);
    return withPositions(rows);
  }

  async readAll(page: AllPage): Promise<readonly StoredEvent[]> {
    const { rows } = await this.query<EventRow>(this.sql.all, [page.after.toString(), page.types ?? null, page.streamPrefix ?? null, page.limit]);
    return withPositions(rows);
  }

  async headPosition(): Promise<bigint> {
    const { rows } = await this.query<{ max: string }>(this.sql.max, []);
    return BigInt(rows[0]!.max);
  }

  watch(onCommit: (position: bigint) => void): () => Promise<void> {
    return listen(this.pool, this.n.channel, onCommit, () => this.headPosition());
  }

  close(): Promise<void> {
    return this.onClose();
  }

  private async query<R extends pg.QueryResultRow>(statement: pg.QueryConfig, values: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>({ ...statement, values });
    } catch (error) {
      throw toFactlineError(error);
    }
  }
}

function needsWrite(plan: BatchPlan): boolean {
  return plan.rows.length > 0 || plan.heads.some((h) => h.deleted);
}

export function toHead(h: HeadRow): StreamHead | undefined {
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
