import { ConfigurationError, NonDeterminismError, StepFailedError, TimeoutError, ValidationError, isConcurrencyError } from '../events/errors.js';
import type { NewEvent, RecordedEvent } from '../events/types.js';
import { checkOptions } from '../events/validate.js';
import type { EventStore } from '../store/event-store.js';
import type { StepInfo, StepOptions, WaitOptions, WorkflowContext, WorkflowDefinition } from './define.js';
import { toMs, type Duration } from './duration.js';
import { H, errorRecord, historyStream, type Ending, type ErrorRecord, type History, type OpRecord } from './history.js';
import { currentStepKey, inStep } from './step-scope.js';

/** How a run of an instance's code ended. */
export type Outcome =
  | { readonly kind: 'ended'; readonly ending: Ending }
  /** Waiting for a timer, an event, or (`wakeAt` 0) to be run again after the engine stopped. */
  | { readonly kind: 'suspended'; readonly wakeAt: number | null; readonly waitingFor: readonly string[]; readonly scannedTo: bigint }
  /** The code does not replay its history. */
  | { readonly kind: 'stuck'; readonly error: NonDeterminismError }
  /** Another engine took the instance, or the store failed: nothing more is written here. */
  | { readonly kind: 'abandoned'; readonly error?: unknown };

interface Block {
  readonly wakeAt: number | null;
  readonly waitType?: string;
  readonly scannedTo?: bigint;
}

type BodyEnd = { kind: 'returned'; value: unknown } | { kind: 'threw'; error: unknown } | { kind: 'blocked' };

/** Thrown inside to unwind an operation when the instance is abandoned. */
class Abandoned extends Error {}

/** The code's own `match` threw: its error, not the store's. */
class MatchError extends Error {}

function matches(match: (event: RecordedEvent) => boolean, event: RecordedEvent): boolean {
  try {
    return match(event);
  } catch (error) {
    throw new MatchError('match threw', { cause: error });
  }
}

/**
 * Thrown inside work in flight that has to wait (a wait with no event yet, a step stopped by a
 * closing engine): the work stops counting as in flight, and the code waits.
 */
class Blocked extends Error {
  constructor(readonly block: Block) {
    super('blocked');
  }
}

interface Compensation {
  readonly name: string;
  readonly fn: (step: StepInfo) => unknown;
  readonly options: Required<CheckedStep>;
}

interface CheckedStep {
  retries: number;
  retryIf: (error: unknown) => boolean;
  backoff: { initial: number; factor: number; max: number };
  timeout: number | undefined;
}

const never = <T>() => new Promise<T>(() => {});
const fail = <T>(error: unknown) => handled(Promise.reject<T>(error instanceof Error ? error : new Error(String(error))));

/**
 * An operation's promise, marked as handled: code that forgets to await one whose step fails must
 * not take the engine's process down with an unhandled rejection (the failure is in the history).
 */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/**
 * One run of an instance's code against its history: operations the history records are answered
 * from it, the first one it does not is carried out and recorded. New history events gather in
 * `pending` and are appended (with the stream version as expected version, which fences out any
 * other engine) before a new step runs, when the code waits, and at the end.
 */
export class Execution {
  private seq = 0;
  private pending: NewEvent[] = [];
  private version: number;
  /** Waits see events after this position. */
  private readonly after: bigint;
  private readonly lastReceived = new Map<string, bigint>();
  private readonly compensations: Compensation[] = [];
  private inflight = 0;
  private readonly blocks: Block[] = [];
  private idleWaiters: (() => void)[] = [];
  private checking = false;
  /** No new work: operations the history does not answer wait for ever (cancel, close). */
  private stopped = false;
  private cancelling = false;
  private abandoned: { error?: unknown } | undefined;
  private stuck: NonDeterminismError | undefined;
  private finished = false;
  private endBody: (end: BodyEnd) => void = () => {};
  private appending: Promise<void> = Promise.resolve();
  private readonly controller = new AbortController();
  private readonly input: unknown;
  readonly stream: string;

  constructor(
    private readonly store: EventStore,
    private readonly headPosition: () => Promise<bigint>,
    private readonly definition: WorkflowDefinition,
    readonly id: string,
    private readonly history: History,
    historyVersion: number,
    start: { readonly input: unknown; readonly after: bigint },
  ) {
    this.stream = historyStream(definition.name, id);
    this.version = historyVersion;
    this.input = historyVersion === 0 ? start.input : history.input;
    this.after = historyVersion === 0 ? start.after : history.after!;
    if (historyVersion === 0) this.pending.push({ type: H.started, data: { workflow: definition.name, version: definition.version, input: start.input, after: String(start.after) } });
    if (history.cancelRequested) this.stopForCancel(false);
  }

  /** Asks a running instance to stop and compensate: new work is not started, steps are aborted. */
  cancel(): void {
    if (!this.cancelling) this.stopForCancel(true);
    this.controller.abort();
  }

  private stopForCancel(record: boolean): void {
    this.cancelling = true;
    this.stopped = true;
    if (record) this.pending.push({ type: H.cancelRequested, data: {} });
  }

  /** The engine is closing: no new work; what runs finishes, and the instance waits to be run again. */
  stop(): void {
    this.stopped = true;
    this.controller.abort();
  }

  /** Another engine holds the instance now (or the store failed: `error`). */
  abandon(error?: unknown): void {
    this.abandoned ??= error === undefined ? {} : { error };
    this.stopped = true;
    this.controller.abort();
    this.endBody({ kind: 'blocked' });
  }

  async run(): Promise<Outcome> {
    const body = new Promise<BodyEnd>((resolve) => (this.endBody = resolve));
    const context = this.context();
    void (async () => this.definition.run(context, this.input))().then(
      (value) => this.endBody({ kind: 'returned', value }),
      (error: unknown) => this.endBody({ kind: 'threw', error }),
    );
    const end = await body;
    this.finished = true;
    // Steps of other branches still running finish (and are recorded) before the ending.
    if (!this.abandoned && !this.stuck) await this.idle();
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
    if (unreached.length > 0 && !(end.kind === 'blocked' && this.stopped)) {
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
    if (end.kind === 'blocked' && !this.cancelling) {
      await this.flush();
      const waits = this.blocks.filter((b) => b.waitType !== undefined);
      const times = this.blocks.map((b) => b.wakeAt).filter((t): t is number => t !== null);
      return {
        kind: 'suspended',
        wakeAt: times.length > 0 ? Math.min(...times) : null,
        waitingFor: [...new Set(waits.map((b) => b.waitType!))],
        scannedTo: waits.reduce((min, b) => (b.scannedTo! < min ? b.scannedTo! : min), waits[0]?.scannedTo ?? 0n),
      };
    }
    const failure = end.kind === 'threw' ? errorRecord(end.error) : undefined;
    const compensationError = await this.compensate();
    if (this.stuck) return { kind: 'stuck', error: this.stuck };
    if (this.cancelling) return this.end({ status: 'cancelled', ...(compensationError ? { compensationError } : {}) });
    if (compensationError) return this.end({ status: 'failed', error: failure!, compensationError });
    return this.end(this.compensations.length > 0 ? { status: 'compensated', error: failure! } : { status: 'failed', error: failure! });
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
    this.stopped = true;
    this.endBody({ kind: 'blocked' });
    return this.stuck;
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
    if (this.finished) throw new ConfigurationError(`workflow "${this.definition.name}": an operation after the workflow's code returned`);
    const seq = this.seq++;
    const record = this.history.ops.get(seq);
    if (record && (record.kind !== kind || nameOf(record) !== name)) {
      throw this.nonDeterminism(`operation ${seq + 1} is ${describe(record.kind, nameOf(record))} in the history, but the code now does ${describe(kind, name)}`);
    }
    return { seq, record };
  }

  private step<T>(name: string, fn: (step: StepInfo) => Promise<T> | T, options: StepOptions | undefined): Promise<T> {
    try {
      if (typeof name !== 'string' || name === '') throw new ValidationError([{ path: ['name'], message: 'a step needs a name' }]);
      if (typeof fn !== 'function') throw new ValidationError([{ path: ['fn'], message: `step "${name}" needs a function` }]);
      const checked = checkStep(options);
      const { seq, record } = this.next('step', name);
      if (record?.kind === 'step' && record.done) return Promise.resolve(record.done.result as T);
      if (record?.kind === 'step' && record.failed) return fail(new StepFailedError(name, record.attempts, record.failed));
      if (this.stopped) return this.block({ wakeAt: 0 });
      const attempts = record?.kind === 'step' ? record.attempts : 0;
      return this.track(this.runStep(seq, name, fn, checked, attempts));
    } catch (error) {
      return fail(error);
    }
  }

  private async runStep<T>(seq: number, name: string, fn: (step: StepInfo) => Promise<T> | T, options: CheckedStep, attempts: number): Promise<T> {
    // What the step may depend on (earlier results, recorded values) is durable before it acts.
    if (this.pending.some((e) => e.type !== H.started)) await this.flush();
    const key = `${this.stream}/${seq}`;
    const value = await this.retrying(key, fn, options, attempts, (attempt, error, final) => ({
      type: H.stepFailed,
      data: { seq, step: name, attempt, error, final },
    }));
    if (!value.ok) throw new StepFailedError(name, value.attempts, value.error);
    this.pending.push({ type: H.stepCompleted, data: { seq, step: name, ...(value.result === undefined ? {} : { result: value.result }) } });
    return value.result;
  }

  /** Tries `fn` until it succeeds or its retries are spent, recording each failed try. */
  private async retrying<T>(
    key: string,
    fn: (step: StepInfo) => Promise<T> | T,
    options: CheckedStep,
    attempts: number,
    failed: (attempt: number, error: ErrorRecord, final: boolean) => NewEvent,
  ): Promise<{ ok: true; result: T } | { ok: false; attempts: number; error: ErrorRecord }> {
    for (let attempt = attempts + 1; ; attempt++) {
      if (this.abandoned) throw new Abandoned();
      let error: unknown;
      try {
        return { ok: true, result: asJson(await this.attempt(key, fn, attempt, options.timeout), "the step's result") as T };
      } catch (thrown) {
        error = thrown;
      }
      if (this.abandoned) throw new Abandoned();
      // Stopped by a closing engine, not failed: not recorded, and tried again on the next run.
      if (this.stopped && !this.cancelling) throw new Blocked({ wakeAt: 0 });
      const final = attempt > options.retries || this.cancelling || !options.retryIf(error);
      const record = errorRecord(error);
      await this.append([failed(attempt, record, final)]);
      if (final) return { ok: false, attempts: attempt, error: record };
      const wait = Math.min(options.backoff.max, options.backoff.initial * options.backoff.factor ** (attempt - 1));
      await delay(wait, this.controller.signal);
    }
  }

  private attempt<T>(idempotencyKey: string, fn: (step: StepInfo) => Promise<T> | T, attempt: number, timeout: number | undefined): Promise<T> {
    const controller = new AbortController();
    const stop = () => controller.abort();
    this.controller.signal.addEventListener('abort', stop, { once: true });
    const work = inStep(idempotencyKey, () => new Promise<T>((resolve) => resolve(fn({ idempotencyKey, attempt, signal: controller.signal }))));
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
      this.controller.signal.removeEventListener('abort', stop);
    });
  }

  private registerCompensation(name: string, fn: (step: StepInfo) => unknown, options: StepOptions | undefined): void {
    if (typeof name !== 'string' || name === '') throw new ValidationError([{ path: ['name'], message: 'a compensation needs a name' }]);
    if (typeof fn !== 'function') throw new ValidationError([{ path: ['fn'], message: `compensation "${name}" needs a function` }]);
    this.compensations.push({ name, fn, options: checkStep(options) });
  }

  /** Runs the compensations registered so far, last first, each recorded; the error of one that failed for good. */
  private async compensate(): Promise<ErrorRecord | undefined> {
    for (let index = this.compensations.length - 1; index >= 0; index--) {
      const { name, fn, options } = this.compensations[index]!;
      const record = this.history.compensations.get(index);
      if (record && record.name !== name) {
        this.nonDeterminism(`compensation ${index + 1} is "${record.name}" in the history, but the code now registers "${name}"`);
        return undefined;
      }
      if (record?.done) continue;
      if (record?.failed) return record.failed;
      const value = await this.retrying(`${this.stream}/compensate/${index}`, fn, { ...options, retries: options.retries }, record?.attempts ?? 0, (attempt, error, final) => ({
        type: H.compensationFailed,
        data: { index, name, attempt, error, final },
      }));
      if (!value.ok) return value.error;
      // Durable before the next one: a crash resumes after it.
      await this.append([{ type: H.compensationCompleted, data: { index, name } }]);
    }
    return undefined;
  }

  private sleep(duration: Duration): Promise<void> {
    try {
      const ms = toMs(duration, ['duration']);
      const { seq, record } = this.next('sleep', undefined);
      if (record?.kind === 'sleep' && record.fired) return Promise.resolve();
      if (this.stopped) return this.block({ wakeAt: 0 });
      const until = record?.kind === 'sleep' ? record.until : Date.now() + ms;
      if (!record) this.pending.push({ type: H.timerScheduled, data: { seq, until } });
      if (Date.now() < until) return this.block({ wakeAt: until });
      this.pending.push({ type: H.timerFired, data: { seq } });
      return Promise.resolve();
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
      if (record?.kind === 'wait' && record.received) return this.track(this.received(filter.type, record.received));
      if (record?.kind === 'wait' && record.timedOut) return Promise.resolve(undefined);
      if (this.stopped) return this.block({ wakeAt: 0 });
      return this.track(this.awaitEvent(seq, record?.kind === 'wait' ? record : undefined, filter, timeout));
    } catch (error) {
      return fail(error);
    }
  }

  private async received(type: string, received: { eventId: string; position: bigint }): Promise<RecordedEvent> {
    const [event] = await this.io(() => this.store.getEvents([received.eventId]));
    this.lastReceived.set(type, received.position);
    return event!;
  }

  private async awaitEvent(
    seq: number,
    record: Extract<OpRecord, { kind: 'wait' }> | undefined,
    filter: { type: string; match?: (event: RecordedEvent) => boolean },
    timeout: number | undefined,
  ): Promise<RecordedEvent | undefined> {
    let after = record?.after;
    let timeoutAt = record ? record.timeoutAt : null;
    if (after === undefined) {
      after = this.lastReceived.get(filter.type) ?? this.after;
      timeoutAt = timeout === undefined ? null : Date.now() + timeout;
      this.pending.push({ type: H.eventAwaited, data: { seq, type: filter.type, after: String(after), timeoutAt } });
    }
    const head = await this.io(() => this.headPosition());
    const found = await this.io(async () => {
      for await (const event of this.store.readAll({ after, types: [filter.type] })) {
        if (event.position > head) break;
        if (!filter.match || matches(filter.match, event)) return event;
      }
      return undefined;
    });
    if (found) {
      this.pending.push({ type: H.eventReceived, data: { seq, eventId: found.id, position: String(found.position) } });
      this.lastReceived.set(filter.type, found.position);
      return found;
    }
    if (timeoutAt !== null && Date.now() >= timeoutAt) {
      this.pending.push({ type: H.waitTimedOut, data: { seq } });
      return undefined;
    }
    throw new Blocked({ wakeAt: timeoutAt, waitType: filter.type, scannedTo: head });
  }

  private value(kind: 'now' | 'random', make: () => number): number {
    const { seq, record } = this.next(kind, undefined);
    if (record && (record.kind === 'now' || record.kind === 'random')) return record.value;
    const value = make();
    this.pending.push({ type: H.valueRecorded, data: { seq, kind, value } });
    return value;
  }

  // --- bookkeeping -----------------------------------------------------------------------------

  /** The code waits here; once nothing else runs, the instance is suspended. */
  private block<T>(block: Block): Promise<T> {
    this.blocks.push(block);
    this.checkIdle();
    return never();
  }

  /** Counts work in flight; an operation of an abandoned instance never settles. */
  private track<T>(work: Promise<T>): Promise<T> {
    this.inflight++;
    return handled(work.then(
      (value) => {
        this.done();
        return value;
      },
      (error: unknown) => {
        this.done();
        if (error instanceof Abandoned) return never<T>();
        if (error instanceof Blocked) return this.block<T>(error.block);
        throw error;
      },
    ));
  }

  private done(): void {
    this.inflight--;
    if (this.inflight === 0) {
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
    this.checkIdle();
  }

  private idle(): Promise<void> {
    return this.inflight === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Blocked with nothing in flight, after the microtasks that might still make progress. */
  private checkIdle(): void {
    if (this.checking || this.inflight > 0 || this.blocks.length === 0) return;
    this.checking = true;
    setImmediate(() => {
      this.checking = false;
      if (this.inflight === 0) this.endBody({ kind: 'blocked' });
    });
  }

  /** A read the code's run depends on: a failure of the store abandons the run (it is not the code's failure). */
  private async io<T>(read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (error) {
      if (error instanceof MatchError) throw error.cause;
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
        const result = await this.store.append(this.stream, batch, { expectedVersion: this.version === 0 ? 'no_stream' : this.version });
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
    initial: b.initial === undefined ? 1000 : toMs(b.initial, ['options', 'backoff', 'initial']),
    factor: b.factor ?? 2,
    max: b.max === undefined ? 60_000 : toMs(b.max, ['options', 'backoff', 'max']),
  };
  if (typeof backoff.factor !== 'number' || !(backoff.factor >= 1 && backoff.factor <= 100)) {
    throw new ValidationError([{ path: ['options', 'backoff', 'factor'], message: 'must be a number from 1 to 100' }]);
  }
  const retryIf = o.retryIf ?? (() => true);
  if (typeof retryIf !== 'function') throw new ValidationError([{ path: ['options', 'retryIf'], message: 'must be a function' }]);
  return { retries, retryIf, backoff, timeout: o.timeout === undefined ? undefined : toMs(o.timeout, ['options', 'timeout']) };
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
