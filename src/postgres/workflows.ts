import type pg from 'pg';
import { ACTIVE_STATUSES, ANY_TYPE, type WorkflowBackend, type WorkflowListQuery, type WorkflowRow, type WorkflowStatus } from '../workflows/backend.js';
import { toFactlineError } from './errors.js';
import type { Names } from './names.js';

const COLUMNS = `id, name, version, status, input, result, error, wake_at::float8 AS "wakeAt", waiting_for AS "waitingFor", owner,
  token::float8 AS token, lease_until::float8 AS "leaseUntil", cancel_requested AS "cancelRequested",
  created_at::float8 AS "createdAt", updated_at::float8 AS "updatedAt"`;
const NOW = `floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint`;
const ACTIVE = ACTIVE_STATUSES.map((s) => `'${s}'`).join(', ');

/**
 * Workflow rows in `<schema>.workflows`. Each call is one statement (so one transaction); a claim
 * locks the rows it takes with `FOR UPDATE SKIP LOCKED`, so engines claiming at once take
 * different rows and never wait on each other. No session state: poolers are fine.
 */
export class PostgresWorkflows implements WorkflowBackend {
  private readonly t: string;

  constructor(
    private readonly pool: pg.Pool,
    n: Names,
  ) {
    this.t = n.workflows;
  }

  private async query<R extends pg.QueryResultRow>(text: string, values: readonly unknown[]): Promise<R[]> {
    try {
      return (await this.pool.query<R>(text, values as unknown[])).rows;
    } catch (error) {
      throw toFactlineError(error);
    }
  }

  async insert(rows: readonly WorkflowRow[]): Promise<{ row: WorkflowRow; inserted: boolean }[]> {
    const col = <K extends keyof WorkflowRow>(k: K) => rows.map((r) => r[k]);
    const inserted = await this.query<{ id: string }>(
      `INSERT INTO ${this.t} (id, name, version, status, input, result, error, wake_at, waiting_for, owner, token, lease_until,
         cancel_requested, created_at, updated_at)
       SELECT u.id, u.name, u.version, u.status, u.input, NULL, NULL, u.wake_at, NULL, u.owner, 1,
         CASE WHEN u.owner = '' THEN 0 ELSE ${NOW} + $9 END, false, u.created_at, u.created_at
       FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::bigint[])
         AS u(id, name, version, status, input, wake_at, owner, created_at)
       ON CONFLICT DO NOTHING RETURNING id`,
      [col('id'), col('name'), col('version'), col('status'), col('input'), col('wakeAt'), col('owner'), col('createdAt'), leaseOf(rows)],
    );
    const fresh = new Set(inserted.map((r) => r.id));
    const others = rows.filter((r) => !fresh.has(r.id)).map((r) => r.id);
    const stored = new Map((others.length > 0 ? await this.query<WorkflowRow>(`SELECT ${COLUMNS} FROM ${this.t} WHERE id = ANY($1::text[])`, [others]) : []).map((r) => [r.id, r]));
    return rows.map((row) => {
      // The first row of an id inserted by this call is the one inserted; any other gets the stored row.
      if (fresh.delete(row.id)) return { row, inserted: true };
      return { row: stored.get(row.id) ?? rows.find((r) => r.id === row.id)!, inserted: false };
    });
  }

  async get(id: string): Promise<WorkflowRow | undefined> {
    const [row] = await this.query<WorkflowRow>(`SELECT ${COLUMNS} FROM ${this.t} WHERE id = $1`, [id]);
    return row;
  }

  list(q: WorkflowListQuery): Promise<WorkflowRow[]> {
    return this.query<WorkflowRow>(
      `SELECT ${COLUMNS} FROM ${this.t}
       WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR name = $2)
         AND ($3::bigint IS NULL OR (created_at, id) > ($3, $4::text))
       ORDER BY created_at, id LIMIT $5`,
      [q.status ?? null, q.name ?? null, q.after?.createdAt ?? null, q.after?.id ?? '', q.limit],
    );
  }

  claim(owner: string, kinds: readonly string[], limit: number, leaseMs: number, now: number): Promise<WorkflowRow[]> {
    // Due by the engine's clock ($5: a bound the wake_at index serves), free by the database's.
    return this.query<WorkflowRow>(
      `WITH due AS (SELECT id AS due_id FROM ${this.t}
               WHERE wake_at <= $5 AND status IN (${ACTIVE}) AND (owner = '' OR lease_until < ${NOW})
                 AND name || '@' || version = ANY($2::text[])
               ORDER BY wake_at LIMIT $3 FOR UPDATE SKIP LOCKED)
       UPDATE ${this.t} AS w SET owner = $1, token = w.token + 1, lease_until = ${NOW} + $4, status = 'running', updated_at = $5
       FROM due WHERE w.id = due.due_id
       RETURNING ${COLUMNS}`,
      [owner, kinds, limit, leaseMs, now],
    );
  }

  async renew(owner: string, ids: readonly string[], leaseMs: number): Promise<{ id: string; cancelRequested: boolean }[]> {
    if (ids.length === 0) return [];
    return this.query<{ id: string; cancelRequested: boolean }>(
      `UPDATE ${this.t} SET lease_until = ${NOW} + $3 WHERE owner = $1 AND id = ANY($2::text[]) RETURNING id, cancel_requested AS "cancelRequested"`,
      [owner, ids, leaseMs],
    );
  }

  async update(holder: string, rows: readonly WorkflowRow[]): Promise<boolean[]> {
    if (rows.length === 0) return [];
    const col = <K extends keyof WorkflowRow>(k: K) => rows.map((r) => r[k]);
    const written = await this.query<{ id: string }>(
      // A cancel asked for while the owner ran makes the instance due at once, whatever it now waits for.
      `UPDATE ${this.t} AS w SET status = u.status, result = u.result, error = u.error,
         wake_at = CASE WHEN w.cancel_requested AND u.status IN (${ACTIVE}) THEN least(coalesce(u.wake_at, u.updated_at), u.updated_at) ELSE u.wake_at END,
         waiting_for = u.waiting_for, owner = u.owner, lease_until = u.lease_until, updated_at = u.updated_at
       FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::text[], $10::bigint[], $11::bigint[])
         AS u(id, token, status, result, error, wake_at, waiting_for, owner, lease_until, updated_at)
       WHERE w.id = u.id AND w.owner = $1 AND w.token = u.token RETURNING w.id`,
      [holder, col('id'), col('token'), col('status'), col('result'), col('error'), col('wakeAt'), col('waitingFor'), col('owner'), col('leaseUntil'), col('updatedAt')],
    );
    const done = new Set(written.map((r) => r.id));
    return rows.map((r) => done.has(r.id));
  }

  async wake(types: readonly string[], now: number): Promise<void> {
    await this.query(`UPDATE ${this.t} SET wake_at = $2 WHERE waiting_for = ANY($1::text[]) AND (wake_at IS NULL OR wake_at > $2)`, [[...types, ANY_TYPE], now]);
  }

  async waitedTypes(): Promise<string[]> {
    const rows = await this.query<{ type: string }>(`SELECT DISTINCT waiting_for AS type FROM ${this.t} WHERE waiting_for IS NOT NULL`, []);
    return rows.map((r) => r.type);
  }

  async requestCancel(id: string, now: number): Promise<WorkflowRow | undefined> {
    const [row] = await this.query<WorkflowRow>(
      `UPDATE ${this.t} SET cancel_requested = true, wake_at = $2 WHERE id = $1 AND status IN (${ACTIVE}) RETURNING ${COLUMNS}`,
      [id, now],
    );
    return row ?? this.get(id);
  }

  countByStatus(): Promise<{ status: WorkflowStatus; count: number }[]> {
    // The status index serves it (an index-only scan once the table is vacuumed).
    return this.query<{ status: WorkflowStatus; count: number }>(`SELECT status, count(*)::float8 AS count FROM ${this.t} GROUP BY status`, []);
  }
}

/** The lease the owned rows of a batch (all from one engine) ask for, in ms. */
function leaseOf(rows: readonly WorkflowRow[]): number {
  const owned = rows.find((r) => r.owner !== '');
  return owned ? owned.leaseUntil - owned.createdAt : 0;
}
