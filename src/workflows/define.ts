import { ConfigurationError } from '../events/errors.js';
import type { RecordedEvent } from '../events/types.js';
import type { Duration } from './duration.js';

/** What a step's function gets. */
export interface StepInfo {
  /** The same on every attempt and after a crash: hand it to services the step calls. */
  readonly idempotencyKey: string;
  /** 1 on the first try. */
  readonly attempt: number;
  /** Aborted when the step's `timeout` passes or the engine closes. */
  readonly signal: AbortSignal;
}

export interface StepOptions {
  /** Tries after the first when the function throws. Default 0. */
  readonly retries?: number;
  /** Wait before retry n: `initial × factor^(n-1)`, at most `max`. Default 1s, ×2, 1m. A duration sets `initial`. */
  readonly backoff?: Duration | { readonly initial?: Duration; readonly factor?: number; readonly max?: Duration };
  /** An attempt that takes longer fails with `TimeoutError` (and its signal is aborted). */
  readonly timeout?: Duration;
  /** Which errors are worth another try (a conflict, say, but not a refusal). Default: every error. */
  readonly retryIf?: (error: unknown) => boolean;
}

export interface WaitOptions {
  /** Resolve with `undefined` once this much time has passed without a matching event. */
  readonly timeout?: Duration;
}

/** The events of `E` with type `T`; all of `E` when its types are plain strings (no event definitions). */
export type EventOfType<E extends RecordedEvent, T extends string> = [Extract<E, { type: T }>] extends [never] ? E : Extract<E, { type: T }>;

/**
 * What a workflow's code runs with. Everything that is not pure computation goes through it, so
 * that a replay after a crash takes the same path: steps, timers, waits, the clock, randomness.
 */
export interface WorkflowContext<E extends RecordedEvent = RecordedEvent> {
  /** The instance's id. */
  readonly id: string;
  /** The workflow's name. */
  readonly workflow: string;
  /**
   * Runs `fn` once and records its result (JSON) in the history; a replay returns the recorded
   * result without running it. A throw is retried (`retries`), then fails the step: the workflow
   * gets a `StepFailedError` to handle, or fails and compensates.
   */
  step<T>(name: string, fn: (step: StepInfo) => Promise<T> | T, options?: StepOptions): Promise<T>;
  /** Registers an undo for what has been done so far: run, last first, if the workflow fails or is cancelled. */
  compensate(name: string, fn: (step: StepInfo) => unknown, options?: StepOptions): void;
  /** A durable timer: survives restarts; another engine fires it if this one is gone. */
  sleep(duration: Duration): Promise<void>;
  /**
   * The first event of `type` committed after the instance started (and after the one the previous
   * wait for this type received) for which `match` is true; `undefined` after `timeout`.
   */
  waitForEvent<T extends E['type']>(
    filter: { readonly type: T; readonly match?: (event: EventOfType<E, T>) => boolean },
    options?: WaitOptions,
  ): Promise<EventOfType<E, T> | undefined>;
  /** The current time, recorded: a replay sees the same. */
  now(): Date;
  /** A random number in [0, 1), recorded: a replay sees the same. */
  random(): number;
  /** The running step's idempotency key; only inside a step (or a compensation). */
  readonly idempotencyKey: string;
}

/** What starts a process manager's instances: events of `type`. Its functions get those events, typed. */
export type StartOn<E extends RecordedEvent = RecordedEvent, I = unknown> = {
  [T in E['type']]: {
    /** The event type that starts an instance. */
    readonly type: T;
    /** The instance id for an event: events giving the same id start one instance. */
    id(event: EventOfType<E, T>): string;
    /** The input for the instance. Default: the event's data. */
    input?(event: EventOfType<E, T>): I;
  };
}[E['type']];

export interface WorkflowDefinition<I = unknown, O = unknown, E extends RecordedEvent = RecordedEvent> {
  readonly kind: 'workflow';
  readonly name: string;
  /** Instances run on the code of the version they started with; new ones on the highest given. */
  readonly version: number;
  /** Makes it a process manager: an instance per matching event, from a durable subscription. */
  readonly startOn?: StartOn<E, I>;
  run(ctx: WorkflowContext<E>, input: I): Promise<O>;
}

// No '-': the history stream is `workflow-<name>-<id>`, and a name with one could make two
// instances' streams the same ('a-b' with id 'c', 'a' with id 'b-c').
const NAME = /^[A-Za-z0-9_.:]{1,100}$/;

/** A durable workflow: a saga or a process manager whose every step is recorded as events. */
export function defineWorkflow<I = unknown, O = unknown, E extends RecordedEvent = RecordedEvent>(
  definition: Omit<WorkflowDefinition<I, O, E>, 'kind' | 'version'> & { readonly version?: number },
): WorkflowDefinition<I, O, E> {
  const { name, version = 1, startOn, run } = definition as Partial<WorkflowDefinition>;
  if (typeof name !== 'string' || !NAME.test(name)) throw new ConfigurationError('a workflow needs a name of 1–100 letters, digits, _ . : (no -)');
  if (!Number.isSafeInteger(version) || version < 1 || version > 2 ** 31 - 1) throw new ConfigurationError(`workflow "${name}": version must be a positive integer`);
  if (typeof run !== 'function') throw new ConfigurationError(`workflow "${name}" needs a run(ctx, input) function`);
  if (startOn !== undefined) {
    if (typeof startOn !== 'object' || startOn === null || typeof startOn.type !== 'string' || startOn.type === '' || typeof startOn.id !== 'function') {
      throw new ConfigurationError(`workflow "${name}": startOn must be { type, id(event), input?(event) }`);
    }
    if (startOn.input !== undefined && typeof startOn.input !== 'function') throw new ConfigurationError(`workflow "${name}": startOn.input must be a function`);
  }
  return Object.freeze({ ...definition, version, kind: 'workflow' as const });
}

/**
 * Any workflow definition, whatever its input, result and events: what an engine takes. (A
 * definition's types vary with its events in both directions, so no one `WorkflowDefinition<…>`
 * holds them all.)
 */
export interface AnyWorkflow<I = never, O = unknown> {
  readonly kind: 'workflow';
  readonly name: string;
  readonly version: number;
  run(ctx: never, input: I): Promise<O>;
}

export function isWorkflow(value: unknown): value is WorkflowDefinition {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'workflow';
}
