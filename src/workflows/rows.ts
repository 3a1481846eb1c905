import { ACTIVE_STATUSES, type WorkflowRow } from './backend.js';

export const isActive = (row: WorkflowRow) => ACTIVE_STATUSES.includes(row.status);

/** Due to run: active, its time has come, and no engine holds a live lease on it. */
export const isDue = (row: WorkflowRow, now: number) =>
  isActive(row) && row.wakeAt !== null && row.wakeAt <= now && (row.owner === '' || row.leaseUntil < now);

/** Listing order: oldest first, ties by id. */
export function byCreation(a: Pick<WorkflowRow, 'createdAt' | 'id'>, b: Pick<WorkflowRow, 'createdAt' | 'id'>): number {
  return a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
