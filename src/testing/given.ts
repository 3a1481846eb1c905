import type { Decider } from '../decider/decider.js';
import type { RecordedEvent } from '../events/types.js';
import { findNonJson } from '../events/json.js';
import { uuidv7 } from '../events/uuid.js';
import type { NewEventFor } from '../store/event-store.js';
import { lineDiff } from './diff.js';

/** A specification that did not hold: the message shows what was expected and what happened. */
export class SpecificationError extends Error {
  override readonly name = 'SpecificationError';
}

type ErrorClass = abstract new (...args: never[]) => Error;

export interface When<E extends RecordedEvent> {
  /** The command decides exactly these events (type and data, in order; ids and metadata are not compared). */
  then(expected: NewEventFor<E> | readonly NewEventFor<E>[]): void;
  /** The command is refused with an error of this class (and, if given, a message that matches). */
  thenThrows(errorClass: ErrorClass, message?: string | RegExp): void;
}

export interface Given<C, E extends RecordedEvent> {
  when(command: C): When<E>;
}

/**
 * Given these past events, when this command, then these events, or this error: a decider tested
 * without a store. Throws `SpecificationError` with a diff when the specification does not hold.
 */
export function given<S, C, E extends RecordedEvent>(decider: Decider<S, C, E>, past: readonly NewEventFor<E>[] = []): Given<C, E> {
  const recorded = past.map((event, i) => record(event, i)) as unknown as E[];
  return {
    when(command) {
      const run = (): { events?: readonly NewEventFor<E>[]; error?: unknown } => {
        // Folding the given events is not the command: an error there fails the specification itself.
        let state: S;
        try {
          state = recorded.reduce(decider.evolve, decider.initialState());
        } catch (error) {
          throw new SpecificationError(`evolve threw while folding the given events: ${describe(error)}`);
        }
        try {
          const decided = decider.decide(command, state);
          return { events: Array.isArray(decided) ? (decided as readonly NewEventFor<E>[]) : [decided as NewEventFor<E>] };
        } catch (error) {
          return { error };
        }
      };
      return {
        then(expected) {
          const outcome = run();
          if (outcome.error !== undefined) throw new SpecificationError(`expected events, but decide threw: ${describe(outcome.error)}`);
          const wanted = Array.isArray(expected) ? expected : [expected];
          checkJson(wanted, 'the expected');
          checkJson(outcome.events!, 'decide returned');
          const want = show(wanted);
          const got = show(outcome.events!);
          if (want !== got) throw new SpecificationError(`decide returned other events (- expected, + actual):\n${lineDiff(want, got)}`);
        },
        thenThrows(errorClass, message) {
          const outcome = run();
          if (outcome.error === undefined) {
            throw new SpecificationError(`expected ${errorClass.name} to be thrown, but decide returned:\n${show(outcome.events!)}`);
          }
          if (!(outcome.error instanceof errorClass)) {
            throw new SpecificationError(`expected ${errorClass.name} to be thrown, but got ${describe(outcome.error)}`);
          }
          const text = outcome.error.message;
          if (message !== undefined && (typeof message === 'string' ? !text.includes(message) : !message.test(text))) {
            throw new SpecificationError(`${errorClass.name} was thrown with the message ${JSON.stringify(text)}, not matching ${String(message)}`);
          }
        },
      };
    },
  };
}

function record(event: { type: string; data: unknown; id?: string; metadata?: object }, i: number): RecordedEvent {
  return {
    id: event.id ?? uuidv7(),
    stream: 'given',
    version: i + 1,
    position: BigInt(i + 1),
    type: event.type,
    data: event.data,
    metadata: { ...event.metadata },
    schemaVersion: 1,
    recordedAt: new Date(),
  };
}

/**
 * Events as compared: type and data, keys sorted (their order is not a difference), pretty-printed
 * one field a line so that a diff reads well.
 */
function show(events: readonly { type: string; data: unknown }[]): string {
  return JSON.stringify(
    events.map((e) => ({ type: e.type, data: sortKeys(e.data) })),
    null,
    2,
  );
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
  );
}

/** Event data is JSON on every store; a Date or NaN compared as JSON text would match what it should not. */
function checkJson(events: readonly { data: unknown }[], who: string): void {
  events.forEach((event, i) => {
    const issue = findNonJson(event.data, ['events', i, 'data']);
    if (issue) throw new SpecificationError(`${who} events are not JSON, which no store accepts: ${issue.path.join('.')}: ${issue.message}`);
  });
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
