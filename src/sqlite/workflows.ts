import type Database from 'better-sqlite3';
import { ACTIVE_STATUSES, ANY_TYPE, type WorkflowBackend, type WorkflowListQuery, type WorkflowRow, type WorkflowStatus } from '../workflows/backend.js';

const COLUMNS = `id, name, version, status, input, result, error, wake_at AS wakeAt, waiting_for AS waitingFor, owner, token,
  lease_until AS leaseUntil, cancel_requested AS cancelRequested, created_at AS createdAt, updated_at AS updatedAt`;
const ACTIVE = ACTIVE_STATUSES.map((s) => `'${s}'`).join(', ');

type RawRow = Omit<WorkflowRow, 'cancelRequested'> & { cancelRequested: number };
const toRow = (r: RawRow): WorkflowRow => ({ ...r, cancelRequested: r.cancelRequested === 1 });
const params = (r: WorkflowRow) => ({ ...r, cancelRequested: r.cancelRequested ? 1 : 0 });

/**
 * Workflow rows in `factline_workflows`. Writes run on the writer connection under the store's
 * write mutex (`write`), one transaction per call; SQLite has one writer, so a claim's select and
 * update never meet another engine's.
 */
export function sqliteWorkflows(
  writer: Database.Database,
  reader: Database.Database,
  write: <T>(work: () => T) => Promise<T>,
  read: <T>(work: () => T) => Promise<T>,
): WorkflowBackend {
  const w = (sql: string) => writer.prepare(sql);
  const r = (sql: string) => reader.prepare(sql);
  const s = {
    insert: w(`INSERT INTO factline_workflows (id, name, version, status, input, result, error, wake_at, waiting_for, owner, token,
                 lease_until, cancel_requested, created_at, updated_at)
               VALUES (@id, @name, @version, @status, @input, @result, @error, @wakeAt, @waitingFor, @owner, @token,
                 @leaseUntil, @cancelRequested, @createdAt, @updatedAt) ON CONFLICT DO NOTHING`),
    getW: w(`SELECT ${COLUMNS} FROM factline_workflows WHERE id = ?`),
    get: r(`SELECT ${COLUMNS} FROM factline_workflows WHERE id = ?`),
    list: r(`SELECT ${COLUMNS} FROM factline_workflows
             WHERE (@status IS NULL OR status = @status) AND (@name IS NULL OR name = @name)
               AND (@afterTime IS NULL OR created_at > @afterTime OR (created_at = @afterTime AND id > @afterId))
             ORDER BY created_at, id LIMIT @limit`),
    // The due index leads: live rows only, in wake order, so a claim reads the few it takes.
    claim: w(`UPDATE factline_workflows SET owner = @owner, token = token + 1, lease_until = @now + @lease, status = 'running', updated_at = @now
              WHERE id IN (SELECT id FROM factline_workflows INDEXED BY factline_workflows_due
                           WHERE wake_at <= @now AND status IN (${ACTIVE}) AND (owner = '' OR lease_until < @now)
                             AND name || '@' || version IN (SELECT value FROM json_each(@kinds))
                           ORDER BY wake_at LIMIT @limit)
              RETURNING ${COLUMNS}`),
    renew: w(`UPDATE factline_workflows SET lease_until = @now + @lease
              WHERE owner = @owner AND id IN (SELECT value FROM json_each(@ids)) RETURNING id, cancel_requested AS cancelRequested`),
    // A cancel asked for while the owner ran makes the instance due at once, whatever it now waits for.
    update: w(`UPDATE factline_workflows SET status = @status, result = @result, error = @error,
                 wake_at = CASE WHEN cancel_requested = 1 AND @status IN (${ACTIVE}) THEN min(coalesce(@wakeAt, @updatedAt), @updatedAt) ELSE @wakeAt END,
                 waiting_for = @waitingFor,
                 owner = @owner, token = @token, lease_until = @leaseUntil, updated_at = @updatedAt
               WHERE id = @id AND owner = @heldBy AND token = @token`),
    wake: w(`UPDATE factline_workflows SET wake_at = @now
             WHERE waiting_for IN (SELECT value FROM json_each(@types)) AND (wake_at IS NULL OR wake_at > @now)`),
    waited: r('SELECT DISTINCT waiting_for FROM factline_workflows WHERE waiting_for IS NOT NULL').pluck(),
    cancel: w(`UPDATE factline_workflows SET cancel_requested = 1, wake_at = @now WHERE id = @id AND status IN (${ACTIVE})`),
    // The status index covers it: no row is read.
    counts: r('SELECT status, count(*) AS count FROM factline_workflows GROUP BY status'),
  };
  const tx = <A extends unknown[], T>(fn: (...args: A) => T) => {
    const t = writer.transaction(fn);
    return (...args: A) => t.immediate(...args);
  };
  const insert = tx((rows: readonly WorkflowRow[]) =>
    rows.map((row) => {
      const inserted = s.insert.run(params(row)).changes === 1;
      return { row: inserted ? row : toRow(s.getW.get(row.id) as RawRow), inserted };
    }),
  );
  const update = tx((holder: string, rows: readonly WorkflowRow[]) => rows.map((row) => s.update.run({ ...params(row), heldBy: holder }).changes === 1));
  const cancel = tx((id: string, now: number) => {
    s.cancel.run({ id, now });
    const row = s.getW.get(id) as RawRow | undefined;
    return row && toRow(row);
  });
  return {
    insert: (rows) => write(() => insert(rows)),
    get: (id) =>
      read(() => {
        const row = s.get.get(id) as RawRow | undefined;
        return row && toRow(row);
      }),
    list: (q: WorkflowListQuery) =>
      read(() =>
        (s.list.all({ status: q.status ?? null, name: q.name ?? null, afterTime: q.after?.createdAt ?? null, afterId: q.after?.id ?? '', limit: q.limit }) as RawRow[]).map(toRow),
      ),
    claim: (owner, kinds, limit, lease, now) => write(() => (s.claim.all({ owner, kinds: JSON.stringify(kinds), limit, lease, now }) as RawRow[]).map(toRow)),
    renew: (owner, ids, lease) =>
      write(() =>
        (s.renew.all({ owner, ids: JSON.stringify(ids), lease, now: Date.now() }) as { id: string; cancelRequested: number }[]).map((x) => ({
          id: x.id,
          cancelRequested: x.cancelRequested === 1,
        })),
      ),
    update: (holder, rows) => write(() => update(holder, rows)),
    wake: (types, now) => write(() => void s.wake.run({ types: JSON.stringify([...types, ANY_TYPE]), now })),
    waitedTypes: () => read(() => s.waited.all() as string[]),
    requestCancel: (id, now) => write(() => cancel(id, now)),
    countByStatus: () => read(() => s.counts.all() as { status: WorkflowStatus; count: number }[]),
  };
}

