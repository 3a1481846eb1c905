import { ANY_TYPE, kindOf, type WorkflowBackend, type WorkflowListQuery, type WorkflowRow, type WorkflowStatus } from '../workflows/backend.js';
import { byCreation, isActive, isDue } from '../workflows/rows.js';

/** Workflow rows in a map; each call is one step of the event loop, so each is atomic. */
export class MemoryWorkflows implements WorkflowBackend {
  private readonly rows = new Map<string, WorkflowRow>();

  insert(rows: readonly WorkflowRow[]): Promise<{ row: WorkflowRow; inserted: boolean }[]> {
    return Promise.resolve(
      rows.map((row) => {
        const found = this.rows.get(row.id);
        if (found) return { row: found, inserted: false };
        this.rows.set(row.id, row);
        return { row, inserted: true };
      }),
    );
  }

  get(id: string): Promise<WorkflowRow | undefined> {
    return Promise.resolve(this.rows.get(id));
  }

  list(query: WorkflowListQuery): Promise<WorkflowRow[]> {
    const after = query.after;
    const rows = [...this.rows.values()]
      .filter((r) => (query.status === undefined || r.status === query.status) && (query.name === undefined || r.name === query.name))
      .filter((r) => !after || byCreation(r, after) > 0)
      .sort(byCreation);
    return Promise.resolve(rows.slice(0, query.limit));
  }

  claim(owner: string, kinds: readonly string[], limit: number, leaseMs: number, now: number): Promise<WorkflowRow[]> {
    const wanted = new Set(kinds);
    const due = [...this.rows.values()].filter((r) => isDue(r, now) && wanted.has(kindOf(r.name, r.version)));
    due.sort((a, b) => a.wakeAt! - b.wakeAt!);
    const claimed = due.slice(0, limit).map((r) => this.claimed(r, owner, now, leaseMs));
    return Promise.resolve(claimed);
  }

  private claimed(r: WorkflowRow, owner: string, now: number, leaseMs: number): WorkflowRow {
    const row = { ...r, owner, token: r.token + 1, leaseUntil: now + leaseMs, status: 'running' as const, updatedAt: now };
    this.rows.set(r.id, row);
    return row;
  }

  renew(owner: string, ids: readonly string[], leaseMs: number): Promise<{ id: string; cancelRequested: boolean }[]> {
    const now = Date.now();
    const held = [];
    for (const id of ids) {
      const r = this.rows.get(id);
      if (!r || r.owner !== owner) continue;
      this.rows.set(id, { ...r, leaseUntil: now + leaseMs });
      held.push({ id, cancelRequested: r.cancelRequested });
    }
    return Promise.resolve(held);
  }

  update(holder: string, rows: readonly WorkflowRow[]): Promise<boolean[]> {
    return Promise.resolve(
      rows.map((row) => {
        const found = this.rows.get(row.id);
        if (!found || found.owner !== holder || found.token !== row.token) return false;
        // A cancel asked for while the owner ran stays asked for, and makes the instance due at once.
        const cancel = found.cancelRequested && isActive(row);
        const wakeAt = cancel ? Math.min(row.wakeAt ?? row.updatedAt, row.updatedAt) : row.wakeAt;
        this.rows.set(row.id, { ...row, wakeAt, cancelRequested: row.cancelRequested || found.cancelRequested });
        return true;
      }),
    );
  }

  wake(types: readonly string[], now: number): Promise<void> {
    const set = new Set([...types, ANY_TYPE]);
    for (const r of this.rows.values()) {
      if (r.waitingFor !== null && set.has(r.waitingFor) && (r.wakeAt === null || r.wakeAt > now)) this.rows.set(r.id, { ...r, wakeAt: now });
    }
    return Promise.resolve();
  }

  waitedTypes(): Promise<string[]> {
    const types = new Set<string>();
    for (const r of this.rows.values()) if (r.waitingFor !== null) types.add(r.waitingFor);
    return Promise.resolve([...types]);
  }

  requestCancel(id: string, now: number): Promise<WorkflowRow | undefined> {
    const r = this.rows.get(id);
    if (!r || !isActive(r)) return Promise.resolve(r);
    const row = { ...r, cancelRequested: true, wakeAt: now };
    this.rows.set(id, row);
    return Promise.resolve(row);
  }

  countByStatus(): Promise<{ status: WorkflowStatus; count: number }[]> {
    const counts = new Map<WorkflowStatus, number>();
    for (const r of this.rows.values()) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
    return Promise.resolve([...counts].map(([status, count]) => ({ status, count })));
  }

}
