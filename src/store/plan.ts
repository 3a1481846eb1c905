import {
  ConcurrencyError,
  DuplicateEventIdError,
  StreamDeletedError,
} from '../events/errors.js';
import type { ExpectedVersion } from '../events/types.js';
import type { KnownEvent, Outcome, StoredEvent, StreamHead, WriteRequest } from './backend.js';

/** A row to insert: the event, and the correlation and causation ids it is found by. */
export interface PlannedRow extends StoredEvent {
  readonly correlationId: string | null;
  readonly causationId: string | null;
}

export interface BatchPlan {
  /** Rows to insert, positions assigned in order from `nextPosition`. */
  readonly rows: readonly PlannedRow[];
  /** Stream heads to insert or update. */
  readonly heads: readonly StreamHead[];
  readonly outcomes: readonly Outcome[];
}

/**
 * What an adapter must read before planning a batch: the heads of its streams and the stored
 * events under the ids callers chose (a generated UUIDv7 is new; the unique index backs that).
 */
export function batchKeys(requests: readonly WriteRequest[]): { streams: string[]; ids: string[] } {
  const streams = new Set<string>();
  const ids: string[] = [];
  for (const request of requests) {
    streams.add(request.stream);
    if (request.kind === 'append') for (const event of request.events) if (event.idGiven) ids.push(event.id);
  }
  return { streams: [...streams], ids };
}

/**
 * Decides every request of a batch, in order, against the stored heads and the events already
 * stored under the batch's ids. Each request gets its own result or error; a later request sees
 * the heads that earlier ones in the batch leave. Pure: the adapter writes what it returns.
 */
export function planBatch(
  requests: readonly WriteRequest[],
  storedHeads: ReadonlyMap<string, StreamHead>,
  known: ReadonlyMap<string, KnownEvent>,
  nextPosition: bigint,
  now: number,
): BatchPlan {
  const heads = new Map<string, StreamHead>();
  const claimed = new Set<string>();
  const rows: PlannedRow[] = [];
  let position = nextPosition;
  const headOf = (stream: string) => heads.get(stream) ?? storedHeads.get(stream);

  const outcomes = requests.map((request): Outcome => {
    const head = headOf(request.stream);
    if (request.kind === 'delete') {
      if (head?.deleted) return { ok: true, result: { version: head.version, position: head.position } };
      const conflict = checkExpected(request.stream, request.expectedVersion, head);
      if (conflict) return { ok: false, error: conflict };
      // Like an append's, a delete's time never goes before the stream's last event.
      const next = advance(request.stream, head, Math.max(now, head?.updatedAt ?? 0), head?.version ?? 0, head?.position ?? 0n);
      heads.set(request.stream, { ...next, deleted: true });
      return { ok: true, result: { version: next.version, position: next.position } };
    }

    // An id written earlier in this batch is not in `known`: settle such a request in the next batch.
    for (const event of request.events) if (claimed.has(event.id)) return { ok: 'deferred' };
    const replay = replayOf(request, known);
    if (replay) return replay;
    if (head?.deleted) return { ok: false, error: new StreamDeletedError(request.stream) };
    const conflict = checkExpected(request.stream, request.expectedVersion, head);
    if (conflict) return { ok: false, error: conflict };
    if (request.events.length === 0) return { ok: true, result: { version: head?.version ?? 0, position: head?.position ?? 0n } };

    // Time never goes back within a stream: not before its last event, not before the one before.
    let recordedAt = Math.max(now, head?.updatedAt ?? 0);
    let last = head?.updatedAt ?? 0;
    let version = head?.version ?? 0;
    for (const e of request.events) {
      if (e.idGiven) claimed.add(e.id);
      if (e.recordedAt !== undefined) recordedAt = Math.max(e.recordedAt, last);
      last = recordedAt;
      rows.push({
        id: e.id,
        stream: request.stream,
        version: ++version,
        position: position++,
        type: e.type,
        data: e.data,
        metadata: e.metadata,
        schemaVersion: e.schemaVersion,
        recordedAt,
        correlationId: e.correlationId,
        causationId: e.causationId,
      });
    }
    const next = advance(request.stream, head, recordedAt, version, position - 1n);
    heads.set(request.stream, next);
    return { ok: true, result: { version, position: next.position } };
  });
  return { rows, heads: [...heads.values()], outcomes };
}

/**
 * An append whose ids are all stored already, as the same events of the same stream, succeeded
 * before: answer with its original result. Any other overlap with stored ids is an error.
 * Metadata is not compared: it describes the call, not the fact.
 */
function replayOf(request: Extract<WriteRequest, { kind: 'append' }>, known: ReadonlyMap<string, KnownEvent>): Outcome | undefined {
  let last: KnownEvent | undefined;
  let found = 0;
  for (const event of request.events) {
    const stored = known.get(event.id);
    if (!stored) continue;
    found++;
    if (stored.stream !== request.stream || stored.type !== event.type || stored.data !== event.data || (last && stored.version !== last.version + 1)) {
      return { ok: false, error: new DuplicateEventIdError(event.id, request.stream, stored.stream) };
    }
    last = stored;
  }
  if (found === 0) return undefined;
  if (found < request.events.length || !last) {
    const first = request.events.find((e) => known.has(e.id))!;
    return { ok: false, error: new DuplicateEventIdError(first.id, request.stream, known.get(first.id)!.stream) };
  }
  return { ok: true, result: { version: last.version, position: last.position } };
}

/**
 * The same plan with every position from `first` on moved by `delta`: for a database that learns
 * the real first position only when it writes. Positions below `first` are of stored events.
 */
export function shiftPositions(plan: BatchPlan, first: bigint, delta: bigint): BatchPlan {
  if (delta === 0n) return plan;
  const move = (position: bigint) => (position >= first ? position + delta : position);
  return {
    rows: plan.rows.map((r) => ({ ...r, position: move(r.position) })),
    heads: plan.heads.map((h) => ({ ...h, position: move(h.position) })),
    outcomes: plan.outcomes.map((o) => (o.ok === true ? { ok: true, result: { ...o.result, position: move(o.result.position) } } : o)),
  };
}

function checkExpected(stream: string, expected: ExpectedVersion, head: StreamHead | undefined): ConcurrencyError | undefined {
  const actual = head?.version ?? 0;
  const ok =
    expected === 'any' ||
    (expected === 'no_stream' && actual === 0) ||
    (expected === 'stream_exists' && actual > 0) ||
    expected === actual;
  return ok ? undefined : new ConcurrencyError(stream, expected, actual);
}

function advance(stream: string, head: StreamHead | undefined, at: number, version: number, position: bigint): StreamHead {
  return { stream, version, position, deleted: false, createdAt: head?.createdAt ?? at, updatedAt: at };
}
