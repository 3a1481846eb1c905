import type { RecordedEvent } from '../events/types.js';
import { linksOf } from '../events/validate.js';
import type { ProjectionRow } from '../projections/backend.js';
import type { CausationChain, StreamSummary } from '../store/event-store.js';

/** An event as the HTTP API sends it: the position as a decimal string, the time in ISO form. */
export function eventJson(e: RecordedEvent): object {
  return {
    id: e.id,
    stream: e.stream,
    version: e.version,
    position: String(e.position),
    type: e.type,
    data: e.data,
    metadata: e.metadata,
    schemaVersion: e.schemaVersion,
    recordedAt: e.recordedAt.toISOString(),
  };
}

/**
 * A causation chain as the event page shows it: causes nearest first, and each effect with its
 * depth below the event (1: caused by it directly).
 */
export function chainJson(chain: CausationChain) {
  const children = new Map<string, RecordedEvent[]>();
  for (const e of chain.descendants) {
    const cause = linksOf(e.metadata).causationId ?? '';
    const list = children.get(cause);
    if (list) list.push(e);
    else children.set(cause, [e]);
  }
  // Down from the event, as the store walked: each effect's cause is the event or an effect above it.
  const depths = new Map<string, number>();
  for (let level = [chain.event.id], depth = 1; level.length > 0; depth++) {
    const next = level.flatMap((id) => children.get(id) ?? []).filter((e) => !depths.has(e.id));
    for (const e of next) depths.set(e.id, depth);
    level = next.map((e) => e.id);
  }
  return {
    event: eventJson(chain.event),
    causes: chain.ancestors.map(eventJson).reverse(),
    rootCauseId: chain.rootCauseId ?? null,
    effects: chain.descendants.map((e) => ({ ...eventJson(e), depth: depths.get(e.id) ?? 1 })),
    truncated: chain.truncated,
  };
}

/** A stream as listed: the position as a decimal string, times in ISO form. */
export function streamJson(s: StreamSummary) {
  return { stream: s.stream, version: s.version, position: String(s.position), deleted: s.deleted, createdAt: s.createdAt.toISOString(), updatedAt: s.updatedAt.toISOString() };
}

/** A projection generation against the head: how far behind, and who runs it now (`now`: the database's clock). */
export function projectionJson(r: ProjectionRow, head: bigint, now: number) {
  return {
    name: r.name,
    generation: r.generation,
    version: r.version,
    status: r.error ? 'failed' : r.status,
    checkpoint: String(r.checkpoint),
    behind: String(head > r.checkpoint ? head - r.checkpoint : 0n),
    owner: r.owner !== '' && r.leaseUntil > now ? r.owner : '',
    error: r.error,
  };
}

/**
 * A decider's state as JSON can carry it: Maps become objects, Sets arrays, Dates ISO strings,
 * bigints decimal strings; functions and symbols are left out; a cycle is cut.
 */
export function plain(value: unknown, seen = new Set<object>()): unknown {
  if (typeof value === 'bigint') return String(value);
  if (typeof value === 'function' || typeof value === 'symbol' || value === undefined) return undefined;
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  if (typeof value !== 'object' || value === null) return value;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (seen.has(value)) return '[cycle]';
  seen.add(value);
  try {
    if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), plain(v, seen)]));
    if (value instanceof Set || Array.isArray(value)) return [...(value as Iterable<unknown>)].map((v) => plain(v, seen) ?? null);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const p = plain(v, seen);
      if (p !== undefined) out[k] = p;
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

export interface Change {
  /** Where, as `items[0].qty`; '' for the whole value. */
  readonly path: string;
  readonly kind: 'added' | 'removed' | 'changed';
  readonly before?: unknown;
  readonly after?: unknown;
}

/** What changed from one JSON value to another, leaf by leaf, in key order. */
export function diff(before: unknown, after: unknown, path = '', out: Change[] = []): Change[] {
  if (Object.is(before, after)) return out;
  const container = (v: unknown) => typeof v === 'object' && v !== null;
  if (container(before) && container(after) && Array.isArray(before) === Array.isArray(after)) {
    const a = before as Record<string, unknown>;
    const b = after as Record<string, unknown>;
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    for (const key of keys) {
      const at = Array.isArray(before) ? `${path}[${key}]` : /^[A-Za-z_$][\w$]*$/.test(key) ? (path ? `${path}.${key}` : key) : `${path}[${JSON.stringify(key)}]`;
      if (!(key in b)) out.push({ path: at, kind: 'removed', before: a[key] });
      else if (!(key in a)) out.push({ path: at, kind: 'added', after: b[key] });
      else diff(a[key], b[key], at, out);
    }
    return out;
  }
  out.push({ path, kind: 'changed', before, after });
  return out;
}
