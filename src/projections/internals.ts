import { ConfigurationError } from '../events/errors.js';
import type { ExpectedVersion, Metadata, NewEvent, RecordedEvent } from '../events/types.js';
import type { AppendOptions, AppendResult } from '../store/event-store.js';
import type { Transaction } from './backend.js';
import type { Logger } from '../observability/logger.js';
import type { StoreBackend, StoredEvent } from '../store/backend.js';

/** What projections need of a store beyond its public surface. */
export interface StoreInternals {
  /** The public store these belong to. */
  readonly store: object;
  readonly backend: StoreBackend;
  readonly decode: (row: StoredEvent) => RecordedEvent;
  /** Resolves once the head is past `seen`, on abort, on close, or after `timeout` ms. */
  readonly waitForCommit: (seen: bigint, signal: AbortSignal | undefined, timeout: number) => Promise<void>;
  readonly logger: Logger;
  readonly closed: () => boolean;
  /**
   * Appends events moved from another store, keeping their ids, types, data (as stored: not
   * validated, not upcast), metadata, schema versions and times. In the order of the calls.
   */
  readonly importAppend: (stream: string, events: readonly ImportedEvent[], expectedVersion: ExpectedVersion) => Promise<AppendResult>;
  /**
   * Commits appends (checked as `append` checks them) and `work` in one transaction: all of it or
   * none. Throws the first refused append's error, or what `work` threw.
   */
  readonly appendAtomically: (appends: readonly AtomicAppend[], work: (tx: Transaction) => Promise<void>) => Promise<void>;
}

export interface AtomicAppend {
  readonly stream: string;
  readonly events: readonly NewEvent[];
  readonly options?: AppendOptions;
}

/** An event as another store recorded it. */
export interface ImportedEvent {
  readonly id: string;
  readonly type: string;
  readonly data: unknown;
  readonly metadata?: Metadata;
  readonly schemaVersion: number;
  /** Epoch ms. */
  readonly recordedAt: number;
}

const registry = new WeakMap<object, StoreInternals>();

export function registerInternals(store: object, internals: StoreInternals): void {
  registry.set(store, internals);
}

export function internalsOf(store: unknown): StoreInternals {
  const found = typeof store === 'object' && store !== null ? registry.get(store) : undefined;
  if (!found) throw new ConfigurationError('expected a store from openStore, memoryStore, sqliteStore or postgresStore');
  return found;
}
