import { ValidationError } from '../events/errors.js';
import type { RecordedEvent } from '../events/types.js';
import { checkOptions } from '../events/validate.js';
import type { EventStore, ReadStreamOptions } from '../store/event-store.js';
import { snapshotName, type Decider } from './decider.js';

export interface LoadOptions {
  /** The state as it was at this instant: events recorded at or before it. */
  readonly at?: Date;
  /** The state right after this version. */
  readonly version?: number;
}

export interface Loaded<S> {
  readonly state: S;
  /** The version the state is at: of the last event folded in; 0 when there was none. */
  readonly version: number;
}

/** What `load` and `handle` need of a store. */
export type DeciderStore<E extends RecordedEvent> = Pick<
  EventStore<E>,
  'readStream' | 'append' | 'getEvents' | 'readSnapshot' | 'writeSnapshot' | 'logger'
>;

/**
 * A store for a decider over events `E`: one opened with their definitions, or an untyped one,
 * whose streams the caller vouches hold such events.
 */
export type StoreOf<E extends RecordedEvent> = DeciderStore<E> | DeciderStore<RecordedEvent>;

/** Folds a stream's events through the decider: its state now, at a time, or after a version. */
export async function load<S, C, E extends RecordedEvent>(
  untyped: StoreOf<E>,
  stream: string,
  decider: Decider<S, C, E>,
  options?: LoadOptions,
): Promise<Loaded<S>> {
  const store = untyped as DeciderStore<E>;
  const o = checkOptions(options);
  if (o.at !== undefined && (!(o.at instanceof Date) || Number.isNaN(o.at.getTime()))) {
    throw new ValidationError([{ path: ['options', 'at'], message: 'must be a valid Date' }]);
  }
  if (o.version !== undefined && (!Number.isSafeInteger(o.version) || (o.version as number) < 0)) {
    throw new ValidationError([{ path: ['options', 'version'], message: 'must be an integer ≥ 0' }]);
  }
  const at = o.at;
  const target = o.version as number | undefined;
  const start = (await fromSnapshot(store, stream, decider, target, at)) ?? { state: decider.initialState(), version: 0 };
  let { state, version } = start;
  // Read even when the snapshot covers the target: the read is what refuses a deleted stream.
  const read: ReadStreamOptions = {
    from: start.version + 1,
    ...(at === undefined ? {} : { until: at }),
    ...(target === undefined ? {} : { to: target }),
  };
  for await (const event of store.readStream(stream, read)) {
    state = decider.evolve(state, event);
    version = event.version;
  }
  return { state, version };
}

/**
 * The newest usable snapshot at or before the target. One of another snapshot version, or one
 * that does not parse, is ignored with a warning: a snapshot is a cache and never changes what
 * `load` returns.
 */
async function fromSnapshot<S, C, E extends RecordedEvent>(
  store: DeciderStore<E>,
  stream: string,
  decider: Decider<S, C, E>,
  version: number | undefined,
  at: Date | undefined,
): Promise<{ state: S; version: number } | undefined> {
  if (!decider.snapshot || version === 0) return undefined;
  const name = snapshotName(decider);
  const snapshot = await store.readSnapshot(stream, name, { ...(version === undefined ? {} : { version }), ...(at ? { at } : {}) });
  if (!snapshot) return undefined;
  const fields = { stream, name, version: snapshot.version };
  if (snapshot.schemaVersion !== decider.snapshot.version) {
    store.logger.warn({ ...fields, stored: snapshot.schemaVersion, current: decider.snapshot.version }, 'snapshot of another version ignored');
    return undefined;
  }
  try {
    return { state: JSON.parse(snapshot.state) as S, version: snapshot.version };
  } catch (error) {
    store.logger.warn({ ...fields, error: String(error) }, 'snapshot that does not parse ignored');
    return undefined;
  }
}
