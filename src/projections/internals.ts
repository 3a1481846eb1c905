import { ConfigurationError } from '../events/errors.js';
import type { ExpectedVersion, Metadata, RecordedEvent } from '../events/types.js';
import type { AppendResult } from '../store/event-store.js';
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
