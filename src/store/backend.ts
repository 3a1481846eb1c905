import type { FactlineError } from '../events/errors.js';
import type { PreparedEvent } from '../events/validate.js';
import type { ExpectedVersion } from '../events/types.js';
import type { AppendResult } from './event-store.js';
import type { ProjectionBackend, Transaction } from '../projections/backend.js';
import type { WorkflowBackend } from '../workflows/backend.js';

/**
 * Inline projections: runs in the append's transaction with the rows it is about to commit (and
 * each request's outcome). If it throws, the transaction rolls back and the error is the batch's.
 */
export type InlineHook = (rows: readonly StoredEvent[], tx: Transaction, outcomes: readonly Outcome[]) => Promise<void>;

/** Positions are 64-bit signed integers in every database. */
export const MAX_POSITION = 2n ** 63n - 1n;

/**
 * What an adapter supplies. The rules (validation, expected versions, idempotency, batching,
 * paging, subscriptions) live in the core; an adapter stores rows and reads them back.
 */
export interface StoreBackend {
  /**
   * Runs a batch of writes in one transaction: read the heads of the streams involved and the
   * events already stored under the batch's ids, call `planBatch`, write its rows and heads.
   * Throws only when the transaction as a whole failed (and then wrote nothing).
   */
  commit(requests: readonly WriteRequest[], inline?: InlineHook): Promise<readonly Outcome[]>;
  /** Documents, projection checkpoints and leases, in the same database. */
  readonly projections: ProjectionBackend;
  /** Workflow instances: claims, leases and timers, in the same database. */
  readonly workflows: WorkflowBackend;
  streamHead(stream: string): Promise<StreamHead | undefined>;
  /**
   * Heads of the streams with events whose names start with `prefix` and come after `after`, in
   * code point order, at most `limit`. Each page costs a seek per stream, whatever the streams hold.
   */
  listStreams(page: StreamsPage): Promise<readonly StreamHead[]>;
  /** Events of one stream with `from <= version <= to`, in `direction` order, at most `limit`. */
  readStream(stream: string, page: StreamPage): Promise<readonly StoredEvent[]>;
  /** Events with a position above `after` that pass the filters, in position order, at most `limit`. */
  readAll(page: AllPage): Promise<readonly StoredEvent[]>;
  /** The highest committed position (0n when empty); nothing at or below it is still to come. */
  headPosition(): Promise<bigint>;
  /** The stored events with these ids, in any order; ids not stored are left out. */
  eventsById(ids: readonly string[]): Promise<readonly StoredEvent[]>;
  /** Events whose correlation id is `id` with a position above `page.after`, in position order, at most `page.limit`. Indexed. */
  byCorrelation(id: string, page: CorrelationPage): Promise<readonly StoredEvent[]>;
  /** Events whose causation id is one of `ids`, in position order, at most `limit`. Indexed: one query for many ids. */
  byCausation(ids: readonly string[], limit: number): Promise<readonly StoredEvent[]>;
  /** Saves a snapshot; one already saved for the same stream, name and version is replaced. */
  writeSnapshot(snapshot: StoredSnapshot): Promise<void>;
  /** The snapshot with the highest version at or below `upTo` whose event time is at or before `until`. */
  readSnapshot(stream: string, name: string, upTo: number, until: number): Promise<StoredSnapshot | undefined>;
  /** True when other processes can write to the same data, so subscriptions must poll for them. */
  readonly shared: boolean;
  /** How often to poll when nothing else is said; a backend that can `watch` polls only as a fallback. */
  readonly pollInterval?: number;
  /**
   * Optional push of other processes' commits (PostgreSQL's LISTEN): calls `onCommit` with a
   * committed position. May miss some (while reconnecting, say): polling covers the gaps.
   * Returns a function that stops watching.
   */
  watch?(onCommit: (position: bigint) => void): () => Promise<void>;
  close(): Promise<void>;
}

export type WriteRequest =
  | { readonly kind: 'append'; readonly stream: string; readonly events: readonly PreparedEvent[]; readonly expectedVersion: ExpectedVersion }
  | { readonly kind: 'delete'; readonly stream: string; readonly expectedVersion: ExpectedVersion };

/** One request's fate in a batch; `deferred` ones go into the next batch. */
export type Outcome =
  | { readonly ok: true; readonly result: AppendResult }
  | { readonly ok: false; readonly error: FactlineError }
  | { readonly ok: 'deferred' };

export interface StreamHead {
  readonly stream: string;
  readonly version: number;
  /** Position of the stream's last event; 0n when it has none. */
  readonly position: bigint;
  readonly deleted: boolean;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** An event already stored under an id that a batch wants to write. */
export interface KnownEvent {
  readonly id: string;
  readonly stream: string;
  readonly version: number;
  readonly position: bigint;
  readonly type: string;
  readonly data: string;
}

/** An event row as stored: data and metadata as JSON text, `recordedAt` in epoch milliseconds. */
export interface StoredEvent extends KnownEvent {
  readonly metadata: string | null;
  readonly schemaVersion: number;
  readonly recordedAt: number;
}

/** A decider's state after a version of a stream, as JSON text. */
export interface StoredSnapshot {
  readonly stream: string;
  /** Which decider's state: deciders folding one stream differently keep apart. */
  readonly name: string;
  /** The stream version the state was folded up to. */
  readonly version: number;
  /** The decider's snapshot version: the shape of the state. */
  readonly schemaVersion: number;
  readonly state: string;
  /** `recordedAt` of the event at `version`, epoch ms: what temporal loads compare. */
  readonly eventTime: number;
}

export interface StreamPage {
  readonly from: number;
  readonly to: number;
  readonly direction: 'forward' | 'backward';
  readonly limit: number;
  /** Epoch milliseconds; only events recorded at or before it. */
  readonly until?: number;
}

export interface StreamsPage {
  /** Only names greater than this ('' for all). */
  readonly after: string;
  /** '' for all. */
  readonly prefix: string;
  readonly limit: number;
}

export interface CorrelationPage {
  readonly after: bigint;
  readonly limit: number;
}

export interface AllPage {
  readonly after: bigint;
  readonly limit: number;
  readonly types?: readonly string[];
  readonly streamPrefix?: string;
}

/**
 * Orders strings by code point, as SQLite's BINARY and PostgreSQL's "C" collations order UTF-8:
 * JavaScript's `<` compares UTF-16 units, which puts astral characters before U+E000–U+FFFF.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return lift(x) - lift(y);
  }
  return a.length - b.length;
}

const lift = (unit: number) => (unit >= 0xd800 && unit <= 0xdfff ? unit + 0x10000 : unit);
