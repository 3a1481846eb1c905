import type { RecordedEvent } from '../events/types.js';
import { isUuid } from '../events/uuid.js';
import { linksOf } from '../events/validate.js';
import type { StoreBackend, StoredEvent } from './backend.js';
import type { CausationChain } from './event-store.js';

type Lookups = Pick<StoreBackend, 'eventsById' | 'byCausation'>;
type Decode = (row: StoredEvent) => RecordedEvent;

/**
 * The event with id `id` (lower-case), its causes and its effects, at most `limit` of them, causes
 * first. Explicit metadata can make cycles: each direction takes an event once, so every walk ends.
 */
export async function causationChain(backend: Lookups, decode: Decode, id: string, limit: number): Promise<CausationChain | undefined> {
  const [row] = await backend.eventsById([id]);
  if (!row) return undefined;
  const event = decode(row);
  const up = await ancestors(backend, decode, event, limit);
  const down = await descendants(backend, event.id, limit - up.events.length);
  return {
    event,
    ancestors: up.events,
    ...(up.rootCauseId === undefined ? {} : { rootCauseId: up.rootCauseId }),
    descendants: down.rows.map(decode),
    truncated: up.cut || down.cut,
  };
}

/** Follows `causationId` through stored events, one lookup each; chains of causes are short. */
async function ancestors(backend: Lookups, decode: Decode, event: RecordedEvent, limit: number) {
  const found: RecordedEvent[] = [];
  const seen = new Set([event.id]);
  // The cause as the causation index holds it: the walks down and up agree.
  for (let cause = linksOf(event.metadata).causationId; cause !== null; ) {
    if (seen.has(cause)) break; // a cycle: it has no root
    const [row] = isUuid(cause) ? await backend.eventsById([cause]) : [];
    if (!row) return { events: found.reverse(), rootCauseId: cause, cut: false };
    if (found.length === limit) return { events: found.reverse(), cut: true };
    const parent = decode(row);
    found.push(parent);
    seen.add(cause);
    cause = linksOf(parent.metadata).causationId;
  }
  return { events: found.reverse(), cut: false };
}

/** A breadth-first walk: one indexed query per level for every event of the level before. */
async function descendants(backend: Lookups, id: string, limit: number) {
  const rows: StoredEvent[] = [];
  const seen = new Set([id]);
  let level = [id];
  while (level.length > 0) {
    const left = limit - rows.length;
    // An event has one cause, so only `id` itself can come back (through a cycle): asking for two
    // more than fit tells whether the limit cuts this level.
    const found = (await backend.byCausation(level, left + 2)).filter((r) => !seen.has(r.id));
    if (found.length > left) {
      rows.push(...found.slice(0, left));
      return { rows: byPosition(rows), cut: true };
    }
    for (const r of found) seen.add(r.id);
    rows.push(...found);
    level = found.map((r) => r.id);
  }
  return { rows: byPosition(rows), cut: false };
}

const byPosition = (rows: StoredEvent[]) => rows.sort((a, b) => (a.position < b.position ? -1 : 1));
