import type { ExpectedVersion, NewEvent, RecordedEvent } from '../events/types.js';
import type { Logger } from '../observability/logger.js';
import type { DocumentCollection, DocumentData } from '../projections/documents.js';

/** A decider's state after `version` of `stream`, as JSON text. */
export interface Snapshot {
  readonly stream: string;
  /** Which decider's state (deciders folding one stream differently keep apart). */
  readonly name: string;
  readonly version: number;
  /** The decider's snapshot version: the shape of the state. */
  readonly schemaVersion: number;
  /** The state as JSON text. */
  readonly state: string;
  /** When the event at `version` was recorded. */
  readonly eventTime: Date;
}

export interface AppendOptions {
  /** Default `'any'`. A mismatch throws `ConcurrencyError` and writes nothing. */
  readonly expectedVersion?: ExpectedVersion;
}

export interface AppendResult {
  /** The stream's version after the append. */
  readonly version: number;
  /** Global position of the append's last event (of the stream's last event for an empty append). */
  readonly position: bigint;
}

export interface ReadStreamOptions {
  /** Lowest version to read (inclusive). Default 1. */
  readonly from?: number;
  /** Highest version to read (inclusive). Default: the stream's version when the read starts. */
  readonly to?: number;
  /** Only events recorded at or before this instant. */
  readonly until?: Date;
  /** `'backward'` reads from `to` down to `from`. Default `'forward'`. */
  readonly direction?: 'forward' | 'backward';
  /** At most this many events. */
  readonly limit?: number;
}

export interface ReadAllOptions {
  /** Events with a position greater than this. Default 0n: from the start. */
  readonly after?: bigint;
  readonly limit?: number;
  /** Only events of these types. */
  readonly types?: readonly string[];
  /** Only events of streams whose name starts with this. */
  readonly streamPrefix?: string;
}

export interface CorrelatedOptions {
  /** Events with a position greater than this. Default 0n: from the start. */
  readonly after?: bigint;
  readonly limit?: number;
}

export interface CausationChainOptions {
  /** Most events in `ancestors` and `descendants` together. Default 1,000; at most 10,000. */
  readonly limit?: number;
}

/** An event with what caused it and what it caused, found through `metadata.causationId`. */
export interface CausationChain<E extends RecordedEvent = RecordedEvent> {
  readonly event: E;
  /** Its causes in the store: the root cause first, down to its direct cause. */
  readonly ancestors: readonly E[];
  /**
   * The `causationId` where the chain leaves the store: a command's id, or an event of another
   * service. Absent when the first cause (or the event) names none, or the chain was cut.
   */
  readonly rootCauseId?: string;
  /** Every event it caused, directly or through others, in position order. */
  readonly descendants: readonly E[];
  /** True when `limit` cut the chain: there are more causes or effects than it holds. */
  readonly truncated: boolean;
}

export interface SubscribeOptions {
  readonly after?: bigint;
  readonly types?: readonly string[];
  readonly streamPrefix?: string;
  /** Aborting ends the subscription: the loop over it finishes. */
  readonly signal?: AbortSignal;
}

export interface StreamInfo {
  readonly version: number;
  readonly deleted: boolean;
  readonly createdAt?: Date;
  readonly updatedAt?: Date;
}

export interface ListStreamsOptions {
  /** Only streams whose name starts with this. */
  readonly prefix?: string;
  /** Only streams whose name comes after this one: the last name of a previous page. */
  readonly after?: string;
  /** At most this many streams. */
  readonly limit?: number;
}

/** A stream with events, as `listStreams` finds it. */
export interface StreamSummary {
  readonly stream: string;
  readonly version: number;
  /** Global position of its last event (of its tombstone when deleted). */
  readonly position: bigint;
  readonly deleted: boolean;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface DeleteStreamOptions {
  readonly expectedVersion?: ExpectedVersion;
}

/** The event one may append to a store whose events are `E`. */
export type NewEventFor<E extends RecordedEvent> = E extends RecordedEvent<infer T, infer D> ? NewEvent<T, D> : never;

/**
 * The one contract every store keeps: memory, SQLite and PostgreSQL alike. With event definitions
 * `E` is the union of its recorded events (`EventOf<typeof events>`) and `N` of the events it
 * takes (`NewEventOf<typeof events>`: data as the schemas accept it).
 */
export interface EventStore<E extends RecordedEvent = RecordedEvent, N extends NewEvent = NewEventFor<E>> {
  append(stream: string, events: readonly N[], options?: AppendOptions): Promise<AppendResult>;
  readStream(stream: string, options?: ReadStreamOptions): AsyncIterable<E>;
  readAll(options?: ReadAllOptions): AsyncIterable<E>;
  /** Catches up from `after`, then stays live until aborted, broken out of, or the store closes. */
  subscribe(options?: SubscribeOptions): AsyncIterable<E>;
  streamInfo(stream: string): Promise<StreamInfo>;
  /** The streams that have events, by name in code point order (as UTF-8 bytes sort), read in pages. */
  listStreams(options?: ListStreamsOptions): AsyncIterable<StreamSummary>;
  /** The events with these ids (any case), in position order; ids not in the store are left out. */
  getEvents(ids: readonly string[]): Promise<E[]>;
  /** The events whose `metadata.correlationId` is this one, in position order, read in pages. */
  correlated(correlationId: string, options?: CorrelatedOptions): AsyncIterable<E>;
  /** The event with this id (any case) with its causes and effects; undefined when there is none. */
  causationChain(eventId: string, options?: CausationChainOptions): Promise<CausationChain<E> | undefined>;
  /** Saves a decider's state after a version of a stream (deciders with `snapshot` do this). */
  writeSnapshot(snapshot: Snapshot): Promise<void>;
  /** The newest snapshot at or before a version and an instant, if any. */
  readSnapshot(stream: string, name: string, options?: { readonly version?: number; readonly at?: Date }): Promise<Snapshot | undefined>;
  /**
   * A collection of documents (read models): committed reads, and writes that each commit on their
   * own. A projection's collection reads from its live generation.
   */
  documents<T extends object = DocumentData>(collection: string): DocumentCollection<T>;
  /** Where the store and what runs on it (deciders, projections) log. Silent unless one was given. */
  readonly logger: Logger;
  /** Soft delete: a tombstone. The events stay in `readAll` and subscriptions. */
  deleteStream(stream: string, options?: DeleteStreamOptions): Promise<void>;
  close(): Promise<void>;
}
