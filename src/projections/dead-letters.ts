import { internalsOf } from './internals.js';

export interface DeadLetterEntry {
  readonly projection: string;
  readonly eventId: string;
  readonly position: bigint;
  readonly error: string;
  readonly failedAt: Date;
}

/** The events a projection or reactor sent to its dead letters, oldest first. */
export async function deadLetters(store: unknown, projection: string): Promise<DeadLetterEntry[]> {
  const rows = await internalsOf(store).backend.projections.deadLetters(String(projection));
  return rows.map((r) => ({ ...r, failedAt: new Date(r.failedAt) }));
}
