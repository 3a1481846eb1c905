import { ValidationError } from '../events/errors.js';
import type { RecordedEvent } from '../events/types.js';
import { checkOptions } from '../events/validate.js';
import type { EventStore, ReadStreamOptions } from '../store/event-store.js';
import type { Decider } from './decider.js';

export interface LoadOptions {
  /** The state as it was at this instant: events recorded at or before it. */
  readonly at?: Date;
  /** The state right after this version. */
  readonly version?: number;
}

export interface Loaded<S, E extends RecordedEvent = RecordedEvent> {
  readonly state: S;
  /** The version of the last event folded in; 0 when there was none. */
  readonly version: number;
  /** The last event folded in, if any. */
  readonly last?: E;
}

/** What `load` and `handle` need of a store. */
export type DeciderStore<E extends RecordedEvent> = Pick<EventStore<E>, 'readStream' | 'append' | 'getEvents'>;

/** Folds a stream's events through the decider: its state now, at a time, or after a version. */
export async function load<S, C, E extends RecordedEvent>(
  store: DeciderStore<E>,
  stream: string,
  decider: Decider<S, C, E>,
  options?: LoadOptions,
): Promise<Loaded<S, E>> {
  const o = checkOptions(options);
  if (o.at !== undefined && (!(o.at instanceof Date) || Number.isNaN(o.at.getTime()))) {
    throw new ValidationError([{ path: ['options', 'at'], message: 'must be a valid Date' }]);
  }
  if (o.version !== undefined && (!Number.isSafeInteger(o.version) || (o.version as number) < 0)) {
    throw new ValidationError([{ path: ['options', 'version'], message: 'must be an integer ≥ 0' }]);
  }
  const read: ReadStreamOptions = {
    ...(o.at === undefined ? {} : { until: o.at }),
    ...(o.version === undefined ? {} : { to: o.version as number }),
  };
  let state = decider.initialState();
  let last: E | undefined;
  if (o.version !== 0) {
    for await (const event of store.readStream(stream, read)) {
      state = decider.evolve(state, event);
      last = event;
    }
  }
  return { state, version: last?.version ?? 0, ...(last ? { last } : {}) };
}
