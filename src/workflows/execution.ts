import { ConfigurationError, NonDeterminismError, StepFailedError, TimeoutError, ValidationError, isConcurrencyError } from '../events/errors.js';
import type { NewEvent, RecordedEvent } from '../events/types.js';
import { checkOptions } from '../events/validate.js';
import type { EventStore } from '../store/event-store.js';
import type { StepInfo, StepOptions, WaitOptions, WorkflowContext, WorkflowDefinition } from './define.js';
import { delay } from '../events/delay.js';
import { MAX_TIMER, toMs, type Duration } from './duration.js';
import { H, errorRecord, historyStream, recordedError, type Ending, type ErrorRecord, type History, type OpRecord } from './history.js';
import { currentStepKey, inStep } from './step-scope.js';
import { inContext, type MessageContext } from '../context/message-context.js';
import { uuidv7 } from '../events/uuid.js';
import { tracedStep } from '../observability/spans.js';
import { inTraceContext, type TraceCarrier } from '../observability/telemetry.js';

/** How a run of an instance's code ended. */
export type Outcome =
  | { readonly kind: 'ended'; readonly ending: Ending }
  /** Waiting for a timer, an event, or (`wakeAt` 0) to be run again after the engine stopped. */
  | { readonly kind: 'suspended'; readonly wakeAt: number | null; readonly waitingFor: readonly string[]; readonly scannedTo: bigint }
  /** The code does not replay its history. */
  | { readonly kind: 'stuck'; readonly error: NonDeterminismError }
  /** Another engine took the instance, or the store failed: nothing more is written here. */
  | { readonly kind: 'abandoned'; readonly error?: unknown };

/** An operation the code waits on that cannot finish now: a timer, a wait for an event, or new work when stopped. */
interface Block {
  readonly wakeAt: number | null;
  readonly waitType?: string;
  readonly scannedTo?: bigint;
  /**
   * Tries to finish the operation in this run (its time came, or an event of its type did): its
   * outcome (a rejection with `Blocked` if it still has to wait), or undefined when not yet.
   */
  readonly retry?: () => Promise<unknown> | undefined;
  timer?: NodeJS.Timeout;
}

type BodyEnd = { kind: 'returned'; value: unknown } | { kind: 'threw'; error: unknown } | { kind: 'blocked' };

/** Thrown inside to unwind an operation when the instance is abandoned. */
class Abandoned extends Error {}

/** Thrown inside work that has to wait (no event yet, stopped by a closing engine or a cancel). */
class Blocked extends Error {
  constructor(readonly block: Block) {
    super('blocked');
  }
}

/** The code's own `match` threw: its error, not the store's. */
class MatchError extends Error {}

interface Compensation {
  readonly name: string;
  readonly fn: (step: StepInfo) => unknown;
  readonly options: CheckedStep;
}

interface CheckedStep {
  retries: number;
  retryIf: (error: unknown) => boolean;
  backoff: { initial: number; factor: number; max: number };
  timeout: number | undefined;
}

/** An operation's outcome, handed to the code by `deliver`. */
type Settle = () => void;

const never = <T>() => new Promise<T>(() => {});
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * An operation's promise, marked as handled: code that forgets to await one whose step fails must
 * not take the engine's process down with an unhandled rejection (the failure is in the history).
 */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

const asError = (error: unknown) => (error instanceof Error ? error : new Error(String(error)));
const fail = <T>(error: unknown) => handled(Promise.reject<T>(asError(error)));

/**
 * One run of an instance's code against its history.
 *
 * Operations are numbered in the order the code calls them. One the history records is answered
 * from it; the first it does not is carried out and recorded. Outcomes reach the code one per turn
 * of the event loop, recorded ones first in the order they were recorded, then new ones in the
 * order they came: each outcome's continuation runs to its next wait before the next outcome, so
 * branches (`Promise.all`) call their operations in the same order on every run.
 *
 * New history events gather in `pending` and are appended (with the stream version this run saw
 * as expected version, which fences out any other engine) before a new step runs, when the code
 * waits, and at the end.
 */
export class Execution {
  private seq = 0;
  private pending: NewEvent[] = [];
  /** What the instance's steps run in: its correlation, and the message that started it. */
  private readonly messages: MessageContext;
  /** The trace it was started in, if any: its steps and history appends continue it. */
  private readonly trace: TraceCarrier | undefined;
  private version: number;
  /** Waits see events after this position. */
  private readonly after: bigint;
  private readonly input: unknown;
  private readonly lastReceived = new Map<string, bigint>();
  private readonly compensations: Compensation[] = [];
  /** Recorded operations the code has called, waiting for their turn: seq → hand the outcome over. */
  private readonly called = new Map<number, () => Promise<void>>();
  /** New outcomes, waiting for the recorded ones to be handed over first. */
  private readonly outcomes: Settle[] = [];
  private delivering = false;
  /** How far the history's outcomes have been handed over. */
  private replayAt = 0;
  /** New work in flight (steps, scans, appends they wait on). */
  private inflight = 0;
  private readonly blocks = new Set<Block>();
  private idleWaiters: (() => void)[] = [];
  private checking = false;
  /** The engine closes: nothing new starts; the instance is handed back as it stands. */
  private closing = false;
  private cancelling = false;
  private bodyEnded = false;
  private abandoned: { error?: unknown } | undefined;
  private stuck: NonDeterminismError | undefined;
  private concluded = false;
  private endBody: (end: BodyEnd) => void = () => {};
  private appending: Promise<void> = Promise.resolve();
  /** Aborted on cancel, close and abandon: steps stop. */
  private readonly steps = new AbortController();
  /** Aborted on close and abandon only: compensations run through a cancel. */
  private readonly controller = new AbortController();
  readonly stream: string;

  constructor(
    private readonly store: EventStore,
    private readonly headPosition: () => Promise<bigint>,
    private readonly definition: WorkflowDefinition,
    readonly id: string,
    private readonly history: History,
    historyVersion: number,
    start: { readonly input: unknown; readonly after: bigint; readonly context?: MessageContext; readonly trace?: TraceCarrier },
  ) {
    this.trace = start.trace;
    this.stream = historyStream(definition.name, id);
    this.version = historyVersion;
    this.input = historyVersion === 0 ? start.input : history.input;
    this.after = historyVersion === 0 ? start.after : history.after!;
    // The instance's correlation and cause: those it was started in (a process manager's are its
    // starting event's), else it starts a correlation of its own, its WorkflowStarted event.
    const begun = historyVersion === 0 ? { id: uuidv7(), ...pick(start.context) } : history.started!;
    this.messages = { correlationId: begun.correlationId ?? begun.id, causationId: begun.causationId ?? begun.id, ...(begun.userId ? { userId: begun.userId } : {}) };
    if (historyVersion === 0) {
      this.pending.push({
        id: begun.id,
        type: H.started,
        data: { workflow: definition.name, version: definition.version, input: start.input, after: String(start.after) },
        metadata: { ...pick(start.context), correlationId: this.messages.correlationId },
      });
    }
    if (history.cancelRequested) this.cancelling = true;
  }

  /** Asks the instance to stop and compensate: no new step starts, running ones are aborted. */
  cancel(): void {
    if (!this.cancelling) {
      this.cancelling = true;
      this.pending.push({ type: H.cancelRequested, data: {} });
    }
    this.steps.abort();
  }

  /** The engine is closing: nothing new starts; what runs finishes, and the instance waits to be run again. */
  stop(): void {
    this.closing = true;
    this.steps.abort();
    this.controller.abort();
  }

  /** Another engine holds the instance now (or the store failed: `error`). */
  abandon(error?: unknown): void {
    this.abandoned ??= error === undefined ? {} : { error };
    this.steps.abort();
    this.controller.abort();
    this.endBody({ kind: 'blocked' });
  }

  /** Events of these types were committed: waits for them look again. */
  eventsCommitted(types: ReadonlySet<string>): void {
    for (const block of this.blocks) if (block.waitType !== undefined && types.has(block.waitType)) void block.retry?.();
  }

  async run(): Promise<Outcome> {
    const body = new Promise<BodyEnd>((resolve) => (this.endBody = resolve));
    const context = this.context();
    void (async () => this.definition.run(context, this.input))().then(
      (value) => this.endBody({ kind: 'returned', value }),
      (error: unknown) => this.endBody({ kind: 'threw', error }),
    );
    void this.deliver();
    const end = await body;
    this.bodyEnded = true;
    // Branches still running finish, and are recorded, before the ending; what their outcomes
    // lead to (a compensation registered after a step, say) happens first too.
    if (!this.abandoned && !this.stuck) await this.settled();
    this.concluded = true;
    for (const block of this.blocks) clearTimeout(block.timer);
    try {
      return await this.conclude(end);
    } catch (error) {
      if (error instanceof Abandoned) return { kind: 'abandoned', ...this.abandoned };
      throw error;
    }
  }

  private async conclude(end: BodyEnd): Promise<Outcome> {
    if (this.abandoned) return { kind: 'abandoned', ...this.abandoned };
    if (this.stuck) return { kind: 'stuck', error: this.stuck };
    const unreached = [...this.history.ops.keys()].filter((seq) => seq >= this.seq);
    if (unreached.length > 0 && !(end.kind === 'blocked' && (this.closing || this.cancelling))) {
      const seq = Math.min(...unreached);
      const record = this.history.ops.get(seq)!;
      return { kind: 'stuck', error: this.nonDeterminism(`the history has ${describe(record.kind, nameOf(record))} as operation ${seq + 1}, which the code no longer reaches`) };
    }
    if (end.kind === 'returned') {
      try {
        return await this.end({ status: 'completed', result: asJson(end.value, "the workflow's result") });
      } catch (error) {
        if (error instanceof Abandoned) throw error;
        end = { kind: 'threw', error };
      }
    }
    if (end.kind === 'blocked' && !this.cancelling) return this.suspend();
    const failure = end.kind === 'threw' ? errorRecord(end.error) : undefined;
    const compensated = await this.compensate();
    if (this.stuck) return { kind: 'stuck', error: this.stuck };
    if (compensated === 'parked') return this.suspend();
    const compensationError = compensated;
    if (this.cancelling) return this.end({ status: 'cancelled', ...(compensationError ? { compensationError } : {}) });
    if (compensationError) return this.end({ status: 'failed', error: failure!, compensationError });
    return this.end(this.compensations.length > 0 ? { status: 'compensated', error: failure! } : { status: 'failed', error: failure! });
  }

  private async suspend(): Promise<Outcome> {
    await this.flush();
    const blocks = [...this.blocks];
    const waits = blocks.filter((b) => b.waitType !== undefined);
    const times = blocks.map((b) => b.wakeAt).filter((t): t is number => t !== null);
    return {
      kind: 'suspended',
      wakeAt: this.closing ? 0 : times.length > 0 ? Math.min(...times) : null,
      waitingFor: [...new Set(waits.map((b) => b.waitType!))],
      scannedTo: waits.reduce((min, b) => (b.scannedTo! < min ? b.scannedTo! : min), waits[0]?.scannedTo ?? 0n),
    };
  }

  private async end(ending: Ending): Promise<Outcome> {
    const { status, ...data } = ending;
    const type = { completed: H.completed, failed: H.failed, compensated: H.compensated, cancelled: H.cancelled }[status];
    const payload = status === 'completed' && ending.result === undefined ? {} : data;
    await this.append([{ type, data: payload }]);
    return { kind: 'ended', ending };
  }

  private nonDeterminism(detail: string): NonDeterminismError {
    this.stuck ??= new NonDeterminismError(this.definition.name, this.id, detail);
    this.endBody({ kind: 'blocked' });
    return this.stuck;
  }

  /** New operations may start: not after the code ended, nor when cancelling, closing or given up. */
  private get open(): boolean {
    return !this.bodyEnded && !this.cancelling && !this.closing && !this.abandoned && !this.stuck;
  }

  // --- operations ------------------------------------------------------------------------------

  private context(): WorkflowContext {
    return {
      id: this.id,
      workflow: this.definition.name,
      step: (name, fn, options) => this.step(name, fn, options),
      compensate: (name, fn, options) => this.registerCompensation(name, fn, options),
      sleep: (duration) => this.sleep(duration),
      waitForEvent: (filter, options) => this.waitForEvent(filter as { type: string; match?: (event: RecordedEvent) => boolean }, options) as never,
      now: () => new Date(this.value('now', Date.now)),
      random: () => this.value('random', Math.random),
      get idempotencyKey(): string {
        const key = currentStepKey();
        if (key === undefined) throw new ConfigurationError('ctx.idempotencyKey is only set inside a step or a compensation');
        return key;
      },
    };
  }

  /** The next operation's number and what the history says of it; a different operation there is non-determinism. */
  private next(kind: OpRecord['kind'], name: string | undefined): { seq: number; record: OpRecord | undefined } {
    const seq = this.seq++;
    const record = this.history.ops.get(seq);
    if (record && (record.kind !== kind || nameOf(record) !== name)) {
      throw this.nonDeterminism(`operation ${seq + 1} is ${describe(record.kind, nameOf(record))} in the history, but the code now does ${describe(kind, name)}`);
    }
    return { seq, record };
  }

  /** A recorded outcome: handed to the code when its turn in the history's order comes. */
  private recorded<T>(seq: number, outcome: () => Promise<T> | T): Promise<T> {
    return handled(
      new Promise<T>((resolve, reject) => {
        this.called.set(seq, async () => {
          try {
            resolve(await outcome());
          } catch (error) {
            reject(asError(error));
          }
        });
      }),
    );
  }

  /** A new outcome: handed to the code after the recorded ones, one per turn, in the order they came. */
  private fresh<T>(work: Promise<T>): Promise<T> {
    this.inflight++;
    return handled(
      new Promise<T>((resolve, reject) => {
        work.then(
          (value) => this.queue(() => resolve(value)),
          (error: unknown) => {
            if (error instanceof Abandoned) return this.done();
            if (error instanceof Blocked) {
              this.done();
              return this.hold(error.block, resolve as (value: unknown) => void, reject);
            }
            this.queue(() => reject(asError(error)));
          },
        );
      }),
    );
  }

  private queue(settle: Settle): void {
    this.outcomes.push(settle);
    this.done();
    void this.deliver();
  }

  /** Hands outcomes to the code one per turn: the history's first (in its order), then new ones. */
  private async deliver(): Promise<void> {
    if (this.delivering) return;
    this.delivering = true;
    try {
      const order = this.history.order;
      while (this.replayAt < order.length) {
        await turn();
        if (this.abandoned || this.stuck) return;
        const seq = order[this.replayAt]!;
        const outcome = this.called.get(seq);
        if (!outcome) {
          const record = this.history.ops.get(seq)!;
          this.nonDeterminism(`the code does not reach ${describe(record.kind, nameOf(record))} (operation ${seq + 1}) where its history has it`);
          return;
        }
        this.called.delete(seq);
        this.replayAt++;
        await outcome();
      }
      while (this.outcomes.length > 0) {
        await turn();
        this.outcomes.shift()!();
      }
    } finally {
      this.delivering = false;
      this.checkIdle();
    }
  }

  private step<T>(name: string, fn: (step: StepInfo) => Promise<T> | T, options: StepOptions | undefined): Promise<T> {
    try {
      if (typeof name !== 'string' || name === '') throw new ValidationError([{ path: ['name'], message: 'a step needs a name' }]);
      if (typeof fn !== 'function') throw new ValidationError([{ path: ['fn'], message: `step "${name}" needs a function` }]);
      const checked = checkStep(options);
      const { seq, record } = this.next('step', name);
      if (record?.kind === 'step' && record.done) return this.recorded(seq, () => record.done!.result as T);
      if (record?.kind === 'step' && record.failed) return this.recorded(seq, () => Promise.reject(new StepFailedError(name, record.attempts, record.failed!)));
      if (!this.open) return this.block({ wakeAt: 0 });
      const attempts = record?.kind === 'step' ? record.attempts : 0;
      return this.fresh(this.runStep(seq, name, fn, checked, attempts));
    } catch (error) {
      return fail(error);
    }
  }

  private async runStep<T>(seq: number, name: string, fn: (step: StepInfo) => Promise<T> | T, options: CheckedStep, attempts: number): Promise<T> {
    // What the step may depend on (earlier results, recorded values) is durable before it acts.
    if (this.pending.some((e) => e.type !== H.started)) await this.flush();
    const key = `${this.stream}/${seq}`;
    const value = await this.retrying(key, this.traced('step', name, fn), options, attempts, false, (attempt, error, final) => ({
      type: H.stepFailed,
      data: { seq, step: name, attempt, error, final },
    }));
    if (!value.ok) throw new StepFailedError(name, value.attempts, value.error);
    this.pending.push({ type: H.stepCompleted, data: { seq, step: name, ...(value.result === undefined ? {} : { result: value.result }) } });
    return value.result;
  }

  /**
   * Tries `fn` until it succeeds or its retries are spent, recording each failed try. A step does
   * not start a try once the code ended, is cancelled or the engine closes; a compensation only
   * stops for a closing engine. Either then waits to be run again.
   */
  private async retrying<T>(
    key: string,
    fn: (step: StepInfo) => Promise<T> | T,
    options: CheckedStep,
    attempts: number,
    compensation: boolean,
    failed: (attempt: number, error: ErrorRecord, final: boolean) => NewEvent,
  ): Promise<{ ok: true; result: T } | { ok: false; attempts: number; error: ErrorRecord }> {
    const signal = compensation ? this.controller : this.steps;
    const mayTry = () => {
      if (this.abandoned || this.stuck) throw new Abandoned();
      if (compensation ? this.closing : this.cancelling || this.closing) throw new Blocked({ wakeAt: 0 });
    };
    for (let attempt = attempts + 1; ; attempt++) {
      mayTry();
      let error: unknown;
      try {
        return { ok: true, result: asJson(await this.attempt(key, fn, attempt, options.timeout, signal.signal), "the step's result") as T };
      } catch (thrown) {
        error = thrown;
      }
      if (this.abandoned) throw new Abandoned();
      // Stopped by a closing engine, not failed: not recorded, and tried again on the next run.
      if (this.closing) throw new Blocked({ wakeAt: 0 });
      const final = attempt > options.retries || (!compensation && this.cancelling) || !worthRetrying(options, error);
      const record = errorRecord(error);
      if (final) {
        // Recorded with the outcome it hands the code, in the same turn: the history's order of
        // outcomes is the order the code got them (another branch's may come meanwhile).
        this.pending.push(failed(attempt, record, final));
        return { ok: false, attempts: attempt, error: record };
      }
      // A try that failed is durable before the next: a crash does not reset the count.
      await this.append([failed(attempt, record, final)]);
      const wait = Math.min(options.backoff.max, options.backoff.initial * options.backoff.factor ** (attempt - 1));
      await delay(wait, signal.signal);
    }
  }

  private attempt<T>(idempotencyKey: string, fn: (step: StepInfo) => Promise<T> | T, attempt: number, timeout: number | undefined, outer: AbortSignal): Promise<T> {
    const controller = new AbortController();
    const stop = () => controller.abort();
    if (outer.aborted) controller.abort();
    else outer.addEventListener('abort', stop, { once: true });
    // The step's code runs in the instance's context, whatever resumed it: a replay after a crash
    // appends with the same correlation and cause.
    const work = inContext(this.messages, () => inStep(idempotencyKey, () => new Promise<T>((resolve) => resolve(fn({ idempotencyKey, attempt, signal: controller.signal })))));
    let timer: NodeJS.Timeout | undefined;
    const limited =
      timeout === undefined
        ? work
        : Promise.race([
            work,
            new Promise<never>((_, reject) => {
              timer = setTimeout(() => {
                controller.abort();
                reject(new TimeoutError(`the attempt took longer than ${timeout} ms`));
              }, timeout);
            }),
          ]);
    return limited.finally(() => {
      clearTimeout(timer);
      outer.removeEventListener('abort', stop);
    });
  }

  /** Each try of `fn` in a span of its own, in the trace the instance was started in. */
  private traced<T>(kind: 'step' | 'compensation', name: string, fn: (step: StepInfo) => Promise<T> | T): (step: StepInfo) => Promise<T> {
    return (step) => tracedStep(kind, { workflow: this.definition.name, id: this.id, name, attempt: step.attempt }, this.trace, () => fn(step));
  }

  private registerCompensation(name: string, fn: (step: StepInfo) => unknown, options: StepOptions | undefined): void {
    if (typeof name !== 'string' || name === '') throw new ValidationError([{ path: ['name'], message: 'a compensation needs a name' }]);
    if (typeof fn !== 'function') throw new ValidationError([{ path: ['fn'], message: `compensation "${name}" needs a function` }]);
    this.compensations.push({ name, fn, options: checkStep(options) });
  }

  /**
   * Runs the compensations registered so far, last first, each recorded; the error of one that
   * failed for good, or 'parked' when the engine closes in between.
   */
  private async compensate(): Promise<ErrorRecord | 'parked' | undefined> {
    for (let index = this.compensations.length - 1; index >= 0; index--) {
      const { name, fn, options } = this.compensations[index]!;
      const record = this.history.compensations.get(index);
      if (record && record.name !== name) {
        this.nonDeterminism(`compensation ${index + 1} is "${record.name}" in the history, but the code now registers "${name}"`);
        return undefined;
      }
      if (record?.done) continue;
      if (record?.failed) return record.failed;
      try {
        const value = await this.retrying(`${this.stream}/compensate/${index}`, this.traced('compensation', name, fn), options, record?.attempts ?? 0, true, (attempt, error, final) => ({
          type: H.compensationFailed,
          data: { index, name, attempt, error, final },
        }));
        if (!value.ok) return value.error;
      } catch (error) {
        if (error instanceof Blocked) return 'parked';
        throw error;
      }
      // Durable before the next one: a crash resumes after it.
      await this.append([{ type: H.compensationCompleted, data: { index, name } }]);
    }
    return undefined;
  }

  private sleep(duration: Duration): Promise<void> {
    try {
      const ms = toMs(duration, ['duration']);
      const { seq, record } = this.next('sleep', undefined);
      if (record?.kind === 'sleep' && record.fired) return this.recorded(seq, () => undefined);
      if (!this.open) return this.block({ wakeAt: 0 });
      const until = record?.kind === 'sleep' ? record.until : Date.now() + ms;
      if (!record) this.pending.push({ type: H.timerScheduled, data: { seq, until } });
      const fire = () => {
        this.pending.push({ type: H.timerFired, data: { seq } });
        return Promise.resolve();
      };
      if (Date.now() >= until) return this.fresh(fire());
      // Fired here if the instance still runs when its time comes; else by the engine that runs it then.
      return this.wait({ wakeAt: until, retry: () => (Date.now() >= until && this.open ? fire() : undefined) });
    } catch (error) {
      return fail(error);
    }
  }

  private waitForEvent(filter: { type: string; match?: (event: RecordedEvent) => boolean }, options: WaitOptions | undefined): Promise<RecordedEvent | undefined> {
    try {
      if (typeof filter !== 'object' || filter === null || typeof filter.type !== 'string' || filter.type === '') {
        throw new ValidationError([{ path: ['filter', 'type'], message: 'must be an event type' }]);
      }
      if (filter.match !== undefined && typeof filter.match !== 'function') throw new ValidationError([{ path: ['filter', 'match'], message: 'must be a function' }]);
      const given = checkOptions(options).timeout;
      const timeout = given === undefined ? undefined : toMs(given, ['options', 'timeout']);
      const { seq, record } = this.next('wait', filter.type);
      if (record?.kind === 'wait' && record.received) {
        // Read now, handed over in its turn; a failure abandons the run (and is not unhandled).
        const reading = handled(this.received(filter.type, record.received));
        return this.recorded(seq, () => reading);
      }
      if (record?.kind === 'wait' && record.timedOut) return this.recorded(seq, () => undefined);
      if (record?.kind === 'wait' && record.failed) return this.recorded(seq, () => Promise.reject(recordedError(record.failed!)));
      if (!this.open) return this.block({ wakeAt: 0 });
      return this.fresh(this.awaitEvent(seq, record?.kind === 'wait' ? record : undefined, filter, timeout));
    } catch (error) {
      return fail(error);
    }
  }

  private async received(type: string, received: { eventId: string; position: bigint }): Promise<RecordedEvent> {
    this.lastReceived.set(type, received.position);
    const [event] = await this.io(() => this.store.getEvents([received.eventId]));
    return event!;
  }

  private async awaitEvent(
    seq: number,
    record: Extract<OpRecord, { kind: 'wait' }> | undefined,
    filter: { type: string; match?: (event: RecordedEvent) => boolean },
    timeout: number | undefined,
  ): Promise<RecordedEvent | undefined> {
    const after = record?.after ?? this.lastReceived.get(filter.type) ?? this.after;
    const timeoutAt = record ? record.timeoutAt : timeout === undefined ? null : Date.now() + timeout;
    if (!record) this.pending.push({ type: H.eventAwaited, data: { seq, type: filter.type, after: String(after), timeoutAt } });
    // The last received event of this type is known now: a wait after this one starts after it.
    const look = async (): Promise<{ event: RecordedEvent | undefined } | { block: Block }> => {
      const head = await this.io(() => this.headPosition());
      let found: RecordedEvent | undefined;
      try {
        found = await this.io(async () => {
          for await (const event of this.store.readAll({ after, types: [filter.type] })) {
            if (event.position > head) break;
            if (!filter.match || matches(filter.match, event)) return event;
          }
          return undefined;
        });
      } catch (error) {
        if (!(error instanceof MatchError)) throw error;
        // The code's `match` threw: the wait fails with that error, recorded like a step's.
        const failure = errorRecord(error.cause);
        this.pending.push({ type: H.waitFailed, data: { seq, error: failure } });
        throw recordedError(failure);
      }
      if (found) {
        this.pending.push({ type: H.eventReceived, data: { seq, eventId: found.id, position: String(found.position) } });
        this.lastReceived.set(filter.type, found.position);
        return { event: found };
      }
      if (timeoutAt !== null && Date.now() >= timeoutAt) {
        this.pending.push({ type: H.waitTimedOut, data: { seq } });
        return { event: undefined };
      }
      return { block: { wakeAt: timeoutAt, waitType: filter.type, scannedTo: head } };
    };
    // While the instance runs, it looks again when an event of its type comes, or at its timeout.
    let looking = false;
    const retry = (): Promise<unknown> | undefined => {
      if (looking || !this.open) return undefined;
      looking = true;
      return look().then((again) => {
        looking = false;
        if ('block' in again) throw new Blocked({ ...again.block, retry });
        return again.event;
      }, (error: unknown) => {
        looking = false;
        throw error;
      });
    };
    const first = await look();
    if ('block' in first) throw new Blocked({ ...first.block, retry });
    return first.event;
  }

  private value(kind: 'now' | 'random', make: () => number): number {
    const { seq, record } = this.next(kind, undefined);
    if (record && (record.kind === 'now' || record.kind === 'random')) return record.value;
    const value = make();
    this.pending.push({ type: H.valueRecorded, data: { seq, kind, value } });
    return value;
  }

  // --- bookkeeping -----------------------------------------------------------------------------

  /** The code waits here until run again. */
  private block<T>(block: Block): Promise<T> {
    this.blocks.add(block);
    this.checkIdle();
    return never();
  }

  /** An operation that waits: see `hold`. */
  private wait<T>(block: Block): Promise<T> {
    return handled(new Promise<T>((resolve, reject) => this.hold(block, resolve as (value: unknown) => void, reject)));
  }

  /**
   * The operation waits: the instance is suspended once nothing else runs. Until then its timer or
   * an event of its type may finish it here (`retry`).
   */
  private hold(block: Block, resolve: (value: unknown) => void, reject: (error: Error) => void): void {
    // A run that is over holds nothing: the operation never settles, and no timer is left behind.
    if (this.concluded || this.abandoned || this.stuck) return;
    const entry: Block = {
      ...block,
      retry: () => {
        if (this.concluded || !this.blocks.has(entry)) return undefined;
        const outcome = block.retry?.();
        if (outcome === undefined) return undefined;
        this.blocks.delete(entry);
        clearTimeout(entry.timer);
        void this.fresh(outcome).then(resolve, reject);
        return outcome;
      },
    };
    const wakeAt = block.wakeAt;
    if (wakeAt !== null && wakeAt > 0) {
      // Timers may fire a little early by Date.now(): until it is time, set again.
      const arm = () => {
        entry.timer = setTimeout(() => {
          if (entry.retry!() === undefined && this.blocks.has(entry) && this.open && !this.concluded) arm();
        }, Math.min(MAX_TIMER, Math.max(1, wakeAt - Date.now())));
        entry.timer.unref();
      };
      arm();
    }
    this.blocks.add(entry);
    this.checkIdle();
  }

  private done(): void {
    this.inflight--;
    this.checkIdle();
  }

  /** Everything in flight has finished and every outcome has been handed over. */
  private get idle(): boolean {
    return this.inflight === 0 && !this.delivering && this.outcomes.length === 0;
  }

  private async settled(): Promise<void> {
    for (;;) {
      if (!this.idle) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      await turn();
      if (this.idle) return;
    }
  }

  /** Idle and waiting on something: suspend, after the turn that might still make progress. */
  private checkIdle(): void {
    if (!this.idle) return;
    for (const wake of this.idleWaiters.splice(0)) wake();
    if (this.checking || this.blocks.size === 0 || this.bodyEnded) return;
    this.checking = true;
    setImmediate(() => {
      this.checking = false;
      if (!this.idle || this.bodyEnded) return;
      this.bodyEnded = true; // nothing finishes here any more: the instance is suspended
      this.endBody({ kind: 'blocked' });
    });
  }

  /** A read the code's run depends on: a failure of the store abandons the run (it is not the code's failure). */
  private async io<T>(read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (error) {
      if (error instanceof MatchError) throw error;
      this.abandon(error);
      throw new Abandoned();
    }
  }

  private flush(): Promise<void> {
    return this.append([]);
  }

  /** Appends what is pending and `events`, one at a time, with the version this run saw as expected. */
  private append(events: readonly NewEvent[]): Promise<void> {
    const run = async () => {
      if (this.abandoned) throw new Abandoned();
      const batch = [...this.pending, ...events];
      if (batch.length === 0) return;
      this.pending = [];
      try {
        // The history's records belong to the instance's correlation.
        const result = await inContext({ correlationId: this.messages.correlationId }, () =>
          inTraceContext(this.trace, () => this.store.append(this.stream, batch, { expectedVersion: this.version === 0 ? 'no_stream' : this.version })),
        );
        this.version = result.version;
      } catch (error) {
        // The history moved: another engine runs the instance now. Or the store failed.
        this.abandon(isConcurrencyError(error) ? undefined : error);
        throw new Abandoned();
      }
    };
    const result = this.appending.then(run);
    this.appending = result.catch(() => {});
    return result;
  }
}

function matches(match: (event: RecordedEvent) => boolean, event: RecordedEvent): boolean {
  try {
    return match(event);
  } catch (error) {
    throw new MatchError('match threw', { cause: error });
  }
}

/** `retryIf` decides; one that throws says no. */
function worthRetrying(options: CheckedStep, error: unknown): boolean {
  try {
    return options.retryIf(error) === true;
  } catch {
    return false;
  }
}

function nameOf(record: OpRecord): string | undefined {
  return record.kind === 'step' ? record.name : record.kind === 'wait' ? record.type : undefined;
}

function describe(kind: OpRecord['kind'], name: string | undefined): string {
  switch (kind) {
    case 'step':
      return `step "${name}"`;
    case 'sleep':
      return 'a sleep';
    case 'wait':
      return `a wait for "${name}"`;
    case 'now':
      return 'ctx.now()';
    case 'random':
      return 'ctx.random()';
  }
}

/**
 * A result as the history keeps it: what `JSON.stringify` makes of it (a Date becomes its ISO
 * text), with bigints as decimal text. The code gets this back on the first run and on every
 * replay alike, so both take the same path.
 */
function asJson(value: unknown, what: string): unknown {
  if (value === undefined) return undefined;
  let text: string | undefined;
  try {
    text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  } catch (error) {
    throw new ValidationError([{ path: ['result'], message: `${what} cannot be kept as JSON: ${(error as Error).message}` }]);
  }
  return text === undefined ? undefined : JSON.parse(text);
}

function checkStep(options: StepOptions | undefined): CheckedStep {
  const o = checkOptions(options) as StepOptions;
  const retries = o.retries ?? 0;
  if (!Number.isSafeInteger(retries) || retries < 0 || retries > 1000) throw new ValidationError([{ path: ['options', 'retries'], message: 'must be an integer from 0 to 1000' }]);
  const b = typeof o.backoff === 'object' && o.backoff !== null ? o.backoff : { initial: o.backoff };
  const backoff = {
    initial: b.initial === undefined ? 1000 : toMs(b.initial, ['options', 'backoff', 'initial'], MAX_TIMER),
    factor: b.factor ?? 2,
    max: b.max === undefined ? 60_000 : toMs(b.max, ['options', 'backoff', 'max'], MAX_TIMER),
  };
  if (typeof backoff.factor !== 'number' || !(backoff.factor >= 1 && backoff.factor <= 100)) {
    throw new ValidationError([{ path: ['options', 'backoff', 'factor'], message: 'must be a number from 1 to 100' }]);
  }
  const retryIf = o.retryIf ?? (() => true);
  if (typeof retryIf !== 'function') throw new ValidationError([{ path: ['options', 'retryIf'], message: 'must be a function' }]);
  return { retries, retryIf, backoff, timeout: o.timeout === undefined ? undefined : toMs(o.timeout, ['options', 'timeout'], MAX_TIMER) };
}

/** The fields of a start context an instance keeps. */
function pick(context: MessageContext | undefined): { correlationId?: string; causationId?: string; userId?: string } {
  const out: { correlationId?: string; causationId?: string; userId?: string } = {};
  for (const key of ['correlationId', 'causationId', 'userId'] as const) {
    const value = context?.[key];
    if (typeof value === 'string') out[key] = value;
  }
  return out;
}
