import type pg from 'pg';
import { isStoreUnavailableError } from '../events/errors.js';
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
import { batchKeys, planBatch, shiftPositions, type BatchPlan } from '../store/plan.js';
import { HeadCache } from './head-cache.js';
import { toFactlineError } from './errors.js';
import { listen } from './listener.js';
import { STALE } from './migrations.js';
import type { Names } from './names.js';
import { PostgresProjections, PostgresTransaction } from './projections.js';
import { PostgresWorkflows } from './workflows.js';
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
 * Every write calls `reserve` first, which takes a transaction-scoped advisory lock held to COMMIT
 * and draws positions under it: positions are handed out in commit order, so a reader that has
 * seen position p never sees a lower one appear later, and `position > checkpoint` is a complete
 * poll. A batch is planned without the lock, on the heads this process last saw (or that the
 * appends expect), else on heads read just before; the write, one statement committed on its own,
 * checks under the lock that those heads still stand. When another process moved one, the batch
 * is planned again on heads read afresh, and at last inside a transaction that takes the lock
 * before it reads.
 */
export class PostgresBackend implements StoreBackend {
  readonly shared = true;
  readonly pollInterval = 500;
  private readonly sql: Statements;
  private readonly cache = new HeadCache(10_000);
  private writeClient: pg.PoolClient | undefined;
  private dropWriterListener: (() => void) | undefined;
  /** True while a write that commits on its own is in flight: its outcome is unknown if the connection fails. */
  private writing = false;
  readonly projections: PostgresProjections;
  readonly workflows: PostgresWorkflows;

  constructor(
    private readonly pool: pg.Pool,
    private readonly n: Names,
    private readonly onClose: () => Promise<void>,
    private readonly hooks?: PostgresTestHooks,
  ) {
    this.sql = statements(n, hooks !== undefined);
    this.projections = new PostgresProjections(pool, n, this.sql);
    this.workflows = new PostgresWorkflows(pool, n);
  }

  async commit(requests: readonly WriteRequest[], inline?: InlineHook): Promise<readonly Outcome[]> {
    const client = await this.writer();
    try {
      if (inline) return await this.locked(client, requests, inline);
      return (
        (await this.attempt(client, requests, this.guess(requests))) ??
        (await this.attempt(client, requests, await this.read(client, requests))) ??
        (await this.locked(client, requests))
      );
    } catch (error) {
      // An inline projection threw and its transaction rolled back: the connection is sound.
      if (rolledBack.has(error as object)) throw toFactlineError(error);
      const mapped = toFactlineError(error, this.writing ? 'unknown' : 'not_written');
      // Whatever failed (a lost connection, a statement timeout, a cancel), the connection may be
      // broken or inside an aborted transaction: never reuse it. The pool drops it.
      this.dropWriter(mapped);
      throw mapped;
    } finally {
      this.writing = false;
    }
  }

  /**
   * Batches commit one at a time, so they share one connection, kept checked out of the pool
   * between them: no pool round per batch. A broken one is handed back for the pool to drop.
   */
  private async writer(): Promise<pg.PoolClient> {
    if (this.writeClient) return this.writeClient;
    const client = await this.pool.connect().catch((error: unknown) => {
      throw toFactlineError(error);
    });
    // Writes rely on each statement seeing what committed before it started (reserve() checks the
    // heads after taking the lock): READ COMMITTED, whatever the server's default.
    try {
      await client.query('SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED');
    } catch (error) {
      client.release(error as Error);
      throw toFactlineError(error);
    }
    // A connection dropped while idle between batches says so with 'error': let it go then, so
    // that the next batch starts on a sound one instead of failing.
    const onError = (error: Error) => {
      if (this.writeClient === client) this.dropWriter(error);
    };
    client.on('error', onError);
    this.writeClient = client;
    this.dropWriterListener = () => client.off('error', onError);
    return client;
  }

  private dropWriter(error?: Error): void {
    const client = this.writeClient;
    this.writeClient = undefined;
    this.dropWriterListener?.();
    // Keep swallowing late errors of the dropped connection: an 'error' with no listener throws.
    client?.on('error', ignore);
    // A sound connection goes back to the pool as it came (queued before anyone else's query).
    if (client && !error) client.query('RESET default_transaction_isolation').catch(ignore);
    client?.release(error);
  }

  /**
   * Heads to plan on without reading: those this process last saw, else what an append expects
   * (a number, or a new stream). Undefined when a request needs real heads: a delete records the
   * stream's last position, and an empty append answers with it.
   */
  private guess(requests: readonly WriteRequest[]): Basis | undefined {
    const heads = new Map<string, StreamHead>();
    for (const r of requests) {
      if (r.kind === 'delete' || r.events.length === 0) return undefined;
      if (heads.has(r.stream)) continue;
      const cached = this.cache.get(r.stream);
      const version = typeof r.expectedVersion === 'number' ? r.expectedVersion : 0;
      if (cached) heads.set(r.stream, cached);
      else if (version > 0) heads.set(r.stream, { stream: r.stream, version, position: 0n, deleted: false, createdAt: 0, updatedAt: 0 });
    }
    return { heads, known: new Map(), first: GUESSED_FIRST, guessed: true };
  }

  private async read(client: pg.PoolClient, requests: readonly WriteRequest[]): Promise<Basis> {
    const { streams, ids } = batchKeys(requests);
    const { rows } = await client.query<{ max: string; heads: string; known: string }>({ ...this.sql.read, values: [streams, ids] });
    const heads = new Map<string, StreamHead>();
    this.cache.forget(streams);
    for (const h of JSON.parse(rows[0]!.heads) as HeadRow[]) {
      const head = toHead(h);
      if (!head) continue;
      heads.set(head.stream, head);
      this.cache.set(head);
    }
    const known = new Map<string, KnownEvent>();
    for (const k of JSON.parse(rows[0]!.known) as (Omit<KnownEvent, 'position'> & { position: string })[]) {
      known.set(k.id, { ...k, position: BigInt(k.position) });
    }
    return { heads, known, first: BigInt(rows[0]!.max) + 1n, guessed: false };
  }

  /**
   * Plans on `basis` and writes in one statement that commits on its own. Returns undefined when
   * the write found a head moved (or an id taken) since the basis was made. A guessed basis is
   * only trusted to write: any other answer it gives (a conflict, say) waits for real heads.
   */
  private async attempt(client: pg.PoolClient, requests: readonly WriteRequest[], basis: Basis | undefined): Promise<readonly Outcome[] | undefined> {
    if (!basis) return undefined;
    const plan = planBatch(requests, basis.heads, basis.known, basis.first, Date.now());
    if (basis.guessed && plan.outcomes.some((o) => o.ok === false)) return undefined;
    if (!needsWrite(plan)) return plan.outcomes;
    try {
      return await this.write(client, plan, basis, true);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code !== STALE && code !== '23505') throw error;
      this.cache.forget(plan.heads.map((h) => h.stream));
      return undefined;
    }
  }

  /**
   * Takes the lock before reading, so nothing can move under the plan. On any error the caller
   * drops the connection, which ends the transaction.
   */
  private async locked(client: pg.PoolClient, requests: readonly WriteRequest[], inline?: InlineHook): Promise<readonly Outcome[]> {
    await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
    await client.query(this.sql.lock);
    const basis = await this.read(client, requests);
    const plan = planBatch(requests, basis.heads, basis.known, basis.first, Date.now());
    const outcomes = needsWrite(plan) ? await this.write(client, plan, basis, false) : plan.outcomes;
    // Inline projections run under the append lock, in the append's transaction: their reads see
    // every earlier append's documents, and nothing commits unless they all succeed.
    if (inline && plan.rows.length > 0) {
      try {
        const tx = new PostgresTransaction(client, this.n, this.sql);
        await inline(plan.rows, tx, outcomes);
        await tx.flush();
      } catch (error) {
        await client.query('ROLLBACK');
        if (typeof error === 'object' && error !== null) rolledBack.add(error);
        throw error;
      }
    }
    this.writing = true;
    await client.query('COMMIT');
    return outcomes;
  }

  /**
   * One statement: reserve (lock, check the heads planned on, first position), insert, notify.
   * `commits` when it runs outside a transaction: a connection lost meanwhile leaves its outcome
   * unknown.
   */
  private async write(client: pg.PoolClient, plan: BatchPlan, basis: Basis, commits: boolean): Promise<readonly Outcome[]> {
    const r = plan.rows;
    const deleted = plan.heads.filter((h) => h.deleted);
    const touched = plan.heads.map((h) => h.stream);
    const values: unknown[] = [
      touched,
      touched.map((s) => basis.heads.get(s)?.version ?? 0),
      plan.heads.map((h) => h.updatedAt),
      basis.first.toString(),
      r.map((e) => (e.position - basis.first).toString()),
      r.map((e) => e.id),
      r.map((e) => e.stream),
      r.map((e) => e.version),
      r.map((e) => e.type),
      r.map((e) => e.data),
      r.map((e) => e.metadata),
      r.map((e) => e.schemaVersion),
      r.map((e) => e.recordedAt),
      r.map((e) => e.correlationId),
      r.map((e) => e.causationId),
      deleted.map((h) => h.stream),
      deleted.map((h) => h.version),
      deleted.map((h) => h.position.toString()),
      deleted.map((h) => h.updatedAt),
      this.n.channel,
      r.length.toString(),
    ];
    if (this.hooks) values.push(this.hooks.sleep?.() ?? 0, this.hooks.rollback?.() ?? false);
    this.writing = commits;
    let rows: { first: string }[];
    try {
      ({ rows } = await client.query<{ first: string }>({ ...this.sql.write, values }));
    } catch (error) {
      // The server answered, so the statement failed whole (a refused plan, FL001 or 23505, say):
      // only a lost connection leaves the outcome unknown.
      if (!isStoreUnavailableError(toFactlineError(error))) this.writing = false;
      throw error;
    }
    this.writing = false;
    const written = shiftPositions(plan, basis.first, BigInt(rows[0]!.first) - basis.first);
    for (const head of written.heads) this.cache.set(head);
    return written.outcomes;
  }

  async streamHead(stream: string): Promise<StreamHead | undefined> {
    const { rows } = await this.query<HeadRow>(this.sql.head, [stream]);
    const head = rows[0] && toHead(rows[0]);
    if (head) this.cache.set(head);
    return head;
  }

  async listStreams(page: StreamsPage): Promise<readonly StreamHead[]> {
    const { rows } = await this.query<HeadRow>(this.sql.streams, [page.after, page.prefix, page.limit]);
    return rows.map((row) => toHead(row)!);
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

  async eventsById(ids: readonly string[]): Promise<readonly StoredEvent[]> {
    const { rows } = await this.query<EventRow>(this.sql.byId, [ids]);
    return withPositions(rows);
  }

  async byCorrelation(id: string, page: CorrelationPage): Promise<readonly StoredEvent[]> {
    const { rows } = await this.query<EventRow>(this.sql.byCorrelation, [id, page.after.toString(), page.limit]);
    return withPositions(rows);
  }

  async byCausation(ids: readonly string[], limit: number): Promise<readonly StoredEvent[]> {
    const { rows } = await this.query<EventRow>(this.sql.byCausation, [ids, limit]);
    return withPositions(rows);
  }

  async writeSnapshot(s: StoredSnapshot): Promise<void> {
    await this.query(this.sql.writeSnapshot, [s.stream, s.name, s.version, s.schemaVersion, s.state, s.eventTime]);
  }

  async readSnapshot(stream: string, name: string, upTo: number, until: number): Promise<StoredSnapshot | undefined> {
    const { rows } = await this.query<StoredSnapshot>(this.sql.readSnapshot, [stream, name, upTo, until]);
    return rows[0];
  }

  async headPosition(): Promise<bigint> {
    const { rows } = await this.query<{ max: string }>(this.sql.max, []);
    return BigInt(rows[0]!.max);
  }

  watch(onCommit: (position: bigint) => void): () => Promise<void> {
    return listen(this.pool, this.n.channel, onCommit, () => this.headPosition());
  }

  close(): Promise<void> {
    this.dropWriter();
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

/** What a batch is planned on: stream heads, stored events under the batch's ids, the first free position. */
interface Basis {
  readonly heads: ReadonlyMap<string, StreamHead>;
  readonly known: ReadonlyMap<string, KnownEvent>;
  readonly first: bigint;
  /** Heads from the cache or from the requests themselves, not read now. */
  readonly guessed: boolean;
}

// A guessed plan does not know the first free position: it numbers its rows from far above any
// real one, and the write moves them to where reserve() says they start.
const GUESSED_FIRST = 2n ** 62n;

const ignore = () => {};
const rolledBack = new WeakSet<object>();

function needsWrite(plan: BatchPlan): boolean {
  return plan.rows.length > 0 || plan.heads.some((h) => h.deleted);
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
