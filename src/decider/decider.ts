import { ConfigurationError } from '../events/errors.js';
import type { RecordedEvent } from '../events/types.js';
import type { NewEventFor } from '../store/event-store.js';

/**
 * A decider: the state of one stream, folded from its events, and the rule that turns a command
 * into new events. Pure functions; `decide` throws a domain error to refuse a command.
 */
export interface Decider<S, C, E extends RecordedEvent = RecordedEvent> {
  readonly initialState: () => S;
  readonly evolve: (state: S, event: E) => S;
  // NoInfer: the events' types come from `evolve` (or the type arguments), never from what decide returns.
  readonly decide: (command: C, state: S) => NoInfer<NewEventFor<E> | readonly NewEventFor<E>[]>;
  /**
   * Optional: save the state every `every` events; bump `version` when the state's shape changes.
   * Give a `name` when another decider with snapshots folds the same streams.
   */
  readonly snapshot?: { readonly every: number; readonly version: number; readonly name?: string };
}

/** The name a decider's snapshots are kept under. */
export function snapshotName(decider: { readonly snapshot?: { readonly name?: string } }): string {
  return decider.snapshot?.name ?? 'default';
}

/**
 * Checks a decider's parts once, so that a mistake shows where the decider is defined. Give the
 * types as arguments, `defineDecider<State, Command, Event>({...})`, so that the events `decide`
 * returns are checked against the event union, literal `type`s and all.
 */
export function defineDecider<S, C, E extends RecordedEvent = RecordedEvent>(decider: Decider<S, C, E>): Decider<S, C, E> {
  if (typeof decider !== 'object' || decider === null) throw new ConfigurationError('defineDecider takes { initialState, evolve, decide }');
  for (const part of ['initialState', 'evolve', 'decide'] as const) {
    if (typeof decider[part] !== 'function') throw new ConfigurationError(`a decider needs ${part} as a function`);
  }
  const { snapshot } = decider;
  if (snapshot !== undefined) {
    const ok = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 1;
    if (!ok(snapshot.every) || !ok(snapshot.version)) throw new ConfigurationError('snapshot needs every and version as integers ≥ 1');
    if (snapshot.name !== undefined && (typeof snapshot.name !== 'string' || snapshot.name === '')) {
      throw new ConfigurationError('snapshot name must be a non-empty string');
    }
  }
  return decider;
}
