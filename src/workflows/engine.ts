import { hostname } from 'node:os';
import { currentContext, type MessageContext } from '../context/message-context.js';
import { ConfigurationError, NonDeterminismError, TimeoutError, ValidationError, WorkflowFailedError, isFactlineError } from '../events/errors.js';
import { findNonJson } from '../events/json.js';
import type { RecordedEvent } from '../events/types.js';
import { uuidv7 } from '../events/uuid.js';
import { checkOptions, checkStreamName } from '../events/validate.js';
import type { Logger } from '../observability/logger.js';
import { reportWorkflows, traceCarrier, type TraceCarrier } from '../observability/telemetry.js';
import { startProjections, type ProjectionDaemon } from '../projections/daemon.js';
import { defineReactor } from '../projections/define.js';
import { internalsOf, type StoreInternals } from '../projections/internals.js';
import type { EventStore } from '../store/event-store.js';
import { ANY_TYPE, FINAL_STATUSES, kindOf, type WorkflowBackend, type WorkflowRow, type WorkflowStatus } from './backend.js';
import { isWorkflow, type AnyWorkflow, type WorkflowDefinition } from './define.js';
import type { Duration } from './duration.js';
import { Batcher } from './batcher.js';
import { toMs } from './duration.js';
import { Execution, type Outcome } from './execution.js';
import { historyStream, readHistory, type Ending, type ErrorRecord } from './history.js';
import { isActive } from './rows.js';

export interface WorkflowEngineOptions {
  /** Instances this engine runs at once. Default 50. */
  readonly concurrency?: number;
  /** A lease not renewed for this long (ms) lets another engine take the instance over. Default 30,000. */
  readonly leaseTtl?: number;
  /** How often to look for due instances besides being told (ms). Default 1,000. */
  readonly pollInterval?: number;
  /** Run the process managers (`startOn`) of these workflows. Default true. */
  readonly processManagers?: boolean;
}

/** An instance as the engine reports it. */
export interface WorkflowInfo {
  readonly id: string;
  readonly workflow: string;
  readonly version: number;
  readonly status: WorkflowStatus;
  /** The result, once completed. */
  readonly result?: unknown;
  /** Why it failed, was compensated or stopped. */
  readonly error?: ErrorRecord & { readonly compensationError?: ErrorRecord };
  /** When it next has something to do (a timer, a wait's timeout). */
  readonly wakeAt?: Date;
  /** The event type it waits for (`*` for several). */
  readonly waitingFor?: string;
  /** The engine running it now, if any. */
  readonly owner?: string;
  readonly cancelRequested: boolean;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface WorkflowHandle<O = unknown> {
  readonly id: string;
  readonly workflow: string;
  status(): Promise<WorkflowInfo>;
  /**
   * The result once it completes. Rejects with `WorkflowFailedError` when it failed, was
   * compensated or cancelled, `NonDeterminismError` when its code no longer replays, and
   * `TimeoutError` after `timeout` (ms, or text such as `'30s'`).
   */
  result(options?: { readonly timeout?: Duration }): Promise<O>;
}

export interface ListOptions {
  readonly status?: WorkflowStatus;
  readonly workflow?: string;
  /** Default 100, at most 1,000. */
  readonly limit?: number;
  /** The id of the last instance of the previous page. */
  readonly after?: string;
}

export interface WorkflowEngine {
  /** Starts an instance, or returns the one with this id: the same id is the same instance. */
  start<I, O>(workflow: AnyWorkflow<I, O>, input: I, options?: { readonly id?: string }): Promise<WorkflowHandle<O>>;
  get(id: string): Promise<WorkflowHandle | undefined>;
  list(options?: ListOptions): Promise<WorkflowInfo[]>;
  /** The instance's history stream, oldest first. */
  history(id: string): Promise<RecordedEvent[]>;
  /** Stops an instance: what it started is compensated, and it ends `cancelled`. */
  cancel(id: string): Promise<WorkflowInfo | undefined>;
  /** Stops taking work, lets running steps finish, and hands its instances back. */
  close(): Promise<void>;
}

const MAX_ID = 200;
const WATCH_PAGE = 1000;

/**
 * Runs workflows on a store: starts instances, claims due ones (its own and those of engines that
 * died), renews their leases, fires timers and wakes waits. Engines in several processes share
 * the work through the store.
 */
export async function startWorkflows(store: EventStore, workflows: readonly AnyWorkflow[], options?: WorkflowEngineOptions): Promise<WorkflowEngine> {
  const internals = internalsOf(store);
  if (!Array.isArray(workflows) || workflows.length === 0 || !workflows.every(isWorkflow)) {
    throw new ConfigurationError('startWorkflows takes an array of defineWorkflow(...) results');
  }
  const engine = new Engine(internals, store, workflows, settings(options));
  await engine.open();
  return engine;
}

interface Settings {
  concurrency: number;
  leaseTtl: number;
  pollInterval: number;
  processManagers: boolean;
}

function settings(options: WorkflowEngineOptions | undefined): Settings {
  const o = checkOptions(options) as WorkflowEngineOptions;
  const int = (value: unknown, name: string, min: number, max: number, fallback: number) => {
    if (value === undefined) return fallback;
    if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max) throw new ConfigurationError(`${name} must be an integer from ${min} to ${max}`);
    return value as number;
  };
  const leaseTtl = int(o.leaseTtl, 'leaseTtl', 100, 3_600_000, 30_000);
  return {
    concurrency: int(o.concurrency, 'concurrency', 1, 10_000, 50),
    leaseTtl,
    pollInterval: int(o.pollInterval, 'pollInterval', 10, 60_000, 1000),
    processManagers: o.processManagers ?? true,
  };
}

interface Running {
  row: WorkflowRow;
  exec?: Execution;
  /** A cancel asked for here before the run existed. */
  cancel?: boolean;
}

class Engine implements WorkflowEngine {
  private readonly backend: WorkflowBackend;
  private readonly logger: Logger;
  private readonly owner = `${hostname()}:${process.pid}:${uuidv7().slice(-12)}`;
  private readonly definitions = new Map<string, WorkflowDefinition>();
  private readonly latest = new Map<string, WorkflowDefinition>();
  private readonly running = new Map<string, Running>();
  /** Slots taken by starts on their way to running here. */
  private reserved = 0;
  private readonly listeners = new Map<string, Set<() => void>>();
  private readonly wakes: number[] = [];
  private readonly stopping = new AbortController();
  private poke: () => void = () => {};
  private poked = false;
  /** The last claim filled every free slot: more may be due. */
  private backlog = false;
  private loops: Promise<void>[] = [];
  private renewer: NodeJS.Timeout | undefined;
  private daemon: ProjectionDaemon | undefined;
  private closing: Promise<void> | undefined;
  /** Stops counting this store's instances for the `factline.workflows` gauge. */
  private unreport: () => void = () => {};
  /** Row writes of many instances share a transaction. */
  private readonly inserts: Batcher<WorkflowRow, { row: WorkflowRow; inserted: boolean }>;
  private readonly updates: Batcher<WorkflowRow, boolean>;
  /** The head position, read once for the starts of a turn. */
  private readonly heads: Batcher<undefined, bigint>;

  constructor(
    private readonly internals: StoreInternals,
    private readonly store: EventStore,
    workflows: readonly WorkflowDefinition[],
    private readonly settings: Settings,
  ) {
    this.backend = internals.backend.workflows;
    this.inserts = new Batcher((rows) => this.backend.insert(rows));
    this.heads = new Batcher(async (asks) => {
      const head = await internals.backend.headPosition();
      return asks.map(() => head);
    });
    this.updates = new Batcher((rows) => this.backend.update(this.owner, rows));
    this.logger = internals.logger;
    for (const w of workflows) {
      const kind = kindOf(w.name, w.version);
      if (this.definitions.has(kind)) throw new ConfigurationError(`workflow "${w.name}" version ${w.version} is given twice`);
      this.definitions.set(kind, w);
      if ((this.latest.get(w.name)?.version ?? 0) < w.version) this.latest.set(w.name, w);
    }
  }

  async open(): Promise<void> {
    const managers = [...this.latest.values()].filter((w) => w.startOn);
    if (this.settings.processManagers && managers.length > 0) {
      this.daemon = await startProjections(
        this.store,
        managers.map((w) =>
          defineReactor({
            name: `workflow:${w.name}`,
            types: [w.startOn!.type],
            onFailure: 'dead-letter',
            handle: async (event) => {
              const id = w.startOn!.id(event);
              const input = w.startOn!.input ? w.startOn!.input(event) : event.data;
              await this.create(w, input, id, false, event.position);
            },
          }),
        ),
        { leaseTtl: this.settings.leaseTtl },
      );
    }
    const after = await this.internals.backend.headPosition();
    // Events may have come while no engine ran: every waiting instance looks once.
    const waited = await this.backend.waitedTypes();
    if (waited.length > 0) await this.backend.wake(waited, Date.now());
    this.renewer = setInterval(() => void this.renew(), Math.max(50, Math.floor(this.settings.leaseTtl / 3)));
    this.renewer.unref();
    this.unreport = reportWorkflows(this.backend, () => this.backend.countByStatus());
    this.loops = [this.claimLoop(), this.watchLoop(after)];
  }

  // --- public surface --------------------------------------------------------------------------

  async start<I, O>(workflow: AnyWorkflow<I, O>, input: I, options?: { readonly id?: string }): Promise<WorkflowHandle<O>> {
    this.checkOpen();
    if (!isWorkflow(workflow)) throw new ConfigurationError('start takes a defineWorkflow(...) result');
    const definition = this.latest.get(workflow.name);
    if (!definition) throw new ConfigurationError(`workflow "${workflow.name}" is not one this engine runs: pass it to startWorkflows`);
    const id = checkOptions(options).id ?? uuidv7();
    checkId(id);
    const issue = input === undefined ? undefined : findNonJson(input, ['input']);
    if (issue) throw new ValidationError([issue]);
    await this.create(definition, input, id, true);
    return this.handle(id, workflow.name) as WorkflowHandle<O>;
  }

  /** Inserts the instance's row; runs it here at once when asked and there is room, else it waits for a claim. */
  private async create(definition: WorkflowDefinition, input: unknown, id: string, runHere: boolean, after?: bigint): Promise<void> {
    checkId(id);
    const now = Date.now();
    // The slot is taken at once: starts made side by side do not all find room.
    const here = runHere && this.busy() < this.settings.concurrency && !this.closing;
    if (here) this.reserved++;
    try {
      await this.insertAndRun(definition, input, id, here, now, after);
    } finally {
      if (here) this.reserved--;
    }
  }

  private async insertAndRun(definition: WorkflowDefinition, input: unknown, id: string, here: boolean, now: number, after: bigint | undefined): Promise<void> {
    const context = currentContext();
    // The trace it was started in: its steps continue it, on whichever engine runs them.
    const trace = traceCarrier();
    const row: WorkflowRow = {
      id,
      name: definition.name,
      version: definition.version,
      status: here ? 'running' : 'pending',
      // Its waits see events committed after this: the head now, or the event that started it.
      // And the context it was started in (a process manager's: its starting event's).
      input: JSON.stringify({
        ...(input === undefined ? {} : { value: input }),
        after: String(after ?? (await this.heads.submit(undefined))),
        ...(context && Object.keys(context).length > 0 ? { context } : {}),
        ...(trace ? { trace } : {}),
      }),
      result: null,
      error: null,
      wakeAt: now,
      waitingFor: null,
      owner: here ? this.owner : '',
      token: 1,
      leaseUntil: here ? now + this.settings.leaseTtl : 0,
      cancelRequested: false,
      createdAt: now,
      updatedAt: now,
    };
    const { row: stored, inserted } = await this.inserts.submit(row);
    if (stored.name !== definition.name) {
      throw new ValidationError([{ path: ['options', 'id'], message: `"${id}" is already the id of a "${stored.name}" workflow` }]);
    }
    if (!inserted) return;
    if (here) this.launch(stored, true);
    else {
      this.backlog = true;
      this.wakeUp();
    }
  }

  async get(id: string): Promise<WorkflowHandle | undefined> {
    this.checkOpen();
    if (typeof id !== 'string') throw new ValidationError([{ path: ['id'], message: 'must be a string' }]);
    const row = await this.backend.get(id);
    return row && this.handle(row.id, row.name);
  }

  async list(options?: ListOptions): Promise<WorkflowInfo[]> {
    this.checkOpen();
    const o = checkOptions(options) as ListOptions;
    const limit = o.limit ?? 100;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000) throw new ValidationError([{ path: ['options', 'limit'], message: 'must be an integer from 1 to 1000' }]);
    if (o.status !== undefined && !STATUSES.has(o.status)) throw new ValidationError([{ path: ['options', 'status'], message: `must be one of ${[...STATUSES].join(', ')}` }]);
    let after: { createdAt: number; id: string } | undefined;
    if (o.after !== undefined) {
      const row = typeof o.after === 'string' ? await this.backend.get(o.after) : undefined;
      if (!row) throw new ValidationError([{ path: ['options', 'after'], message: 'must be the id of an instance' }]);
      after = { createdAt: row.createdAt, id: row.id };
    }
    const rows = await this.backend.list({ limit, ...(o.status ? { status: o.status } : {}), ...(o.workflow ? { name: o.workflow } : {}), ...(after ? { after } : {}) });
    return rows.map(info);
  }

  async history(id: string): Promise<RecordedEvent[]> {
    this.checkOpen();
    const row = typeof id === 'string' ? await this.backend.get(id) : undefined;
    if (!row) return [];
    const events: RecordedEvent[] = [];
    for await (const event of this.store.readStream(historyStream(row.name, row.id))) events.push(event);
    return events;
  }

  async cancel(id: string): Promise<WorkflowInfo | undefined> {
    this.checkOpen();
    if (typeof id !== 'string') throw new ValidationError([{ path: ['id'], message: 'must be a string' }]);
    const row = await this.backend.requestCancel(id, Date.now());
    if (!row) return undefined;
    const here = this.running.get(id);
    if (here && isActive(row)) {
      // Still loading its history: the run is told as soon as it exists.
      here.cancel = true;
      here.exec?.cancel();
    } else this.wakeUp();
    return info(row);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopping.abort();
      this.unreport();
      this.poke();
      for (const { exec } of this.running.values()) exec?.stop();
      await Promise.allSettled(this.loops);
      await this.daemon?.close();
      // Leases are renewed until the last running step has finished and its instance is handed back.
      while (this.running.size > 0) await new Promise<void>((resolve) => this.listen([...this.running.keys()][0]!, resolve));
      clearInterval(this.renewer);
    })();
    return this.closing;
  }

  private checkOpen(): void {
    if (this.closing) throw new ConfigurationError('the workflow engine is closed');
  }

  private handle(id: string, workflow: string): WorkflowHandle {
    return {
      id,
      workflow,
      status: async () => info((await this.backend.get(id))!),
      result: async (options) => {
        const given = checkOptions(options).timeout;
        return this.result(id, given === undefined ? undefined : toMs(given, ['options', 'timeout']));
      },
    };
  }

  private async result(id: string, timeout: number | undefined): Promise<unknown> {
    const deadline = timeout === undefined ? Infinity : Date.now() + timeout;
    for (;;) {
      // Listening before looking: an end between the look and the wait is not missed.
      let changed = false;
      let wake = () => {};
      const stop = this.listen(id, () => {
        changed = true;
        wake();
      });
      try {
        const row = await this.backend.get(id);
        if (!row) throw new ValidationError([{ path: ['id'], message: `no workflow instance "${id}"` }]);
        if (row.status === 'completed') return (JSON.parse(row.result!) as { value?: unknown }).value;
        if (FINAL_STATUSES.includes(row.status)) {
          const error = row.error === null ? undefined : (JSON.parse(row.error) as ErrorRecord);
          if (error?.code === 'NON_DETERMINISM') throw new NonDeterminismError(row.name, row.id, error.message);
          throw new WorkflowFailedError(row.name, row.id, row.status as 'failed', error);
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new TimeoutError(`workflow instance "${id}" did not end within ${timeout} ms (it is ${row.status})`);
        // Told at once when it ends here; another engine's progress is seen by looking again.
        if (!changed) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, Math.min(left, this.settings.pollInterval));
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
      } finally {
        stop();
      }
    }
  }

  private listen(id: string, fn: () => void): () => void {
    let set = this.listeners.get(id);
    if (!set) this.listeners.set(id, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0 && this.listeners.get(id) === set) this.listeners.delete(id);
    };
  }

  private notify(id: string): void {
    for (const fn of this.listeners.get(id) ?? []) fn();
  }

  // --- running instances -----------------------------------------------------------------------

  private busy(): number {
    return this.running.size + this.reserved;
  }

  private launch(row: WorkflowRow, fresh: boolean): void {
    const entry: Running = { row };
    this.running.set(row.id, entry);
    void this.runInstance(entry, fresh)
      .catch((error: unknown) => this.logger.error({ workflow: row.name, id: row.id, error: String(error) }, 'workflow instance run failed'))
      .finally(() => {
        this.running.delete(row.id);
        this.notify(row.id);
        if (this.backlog) this.wakeUp();
      });
  }

  private async runInstance(entry: Running, fresh: boolean): Promise<void> {
    const { row } = entry;
    const definition = this.definitions.get(kindOf(row.name, row.version))!;
    const events: RecordedEvent[] = [];
    try {
      if (!fresh) for await (const event of this.store.readStream(historyStream(row.name, row.id))) events.push(event);
    } catch (error) {
      await this.release(row, error);
      return;
    }
    const history = readHistory(events);
    if (history.ending) {
      await this.write(ended(row, history.ending));
      return;
    }
    const start = JSON.parse(row.input) as { value?: unknown; after: string; context?: MessageContext; trace?: TraceCarrier };
    const exec = new Execution(this.store, () => this.internals.backend.headPosition(), definition, row.id, history, events.length, {
      input: start.value,
      after: BigInt(start.after),
      ...(start.context ? { context: start.context } : {}),
      ...(start.trace ? { trace: start.trace } : {}),
    });
    entry.exec = exec;
    if (row.cancelRequested || entry.cancel) exec.cancel();
    if (this.closing) exec.stop();
    await this.settle(row, await exec.run());
  }

  /** Writes what the run came to into the instance's row and hands the row back. */
  private async settle(row: WorkflowRow, outcome: Outcome): Promise<void> {
    switch (outcome.kind) {
      case 'ended':
        await this.write(ended(row, outcome.ending));
        return;
      case 'stuck':
        this.logger.error({ workflow: row.name, id: row.id, error: outcome.error.message }, 'workflow instance stopped: its code does not replay its history');
        await this.write({
          ...row,
          status: 'failed',
          error: JSON.stringify({ name: outcome.error.name, message: outcome.error.detail, code: outcome.error.code }),
          wakeAt: null,
          waitingFor: null,
        });
        return;
      case 'abandoned':
        if (outcome.error !== undefined) await this.release(row, outcome.error);
        return;
      case 'suspended': {
        const { wakeAt, waitingFor, scannedTo } = outcome;
        const waits = waitingFor.length > 0;
        const due = wakeAt !== null && wakeAt <= Date.now();
        await this.write({
          ...row,
          status: due ? 'pending' : waits ? 'waiting' : 'sleeping',
          wakeAt,
          waitingFor: waits ? (waitingFor.length === 1 ? waitingFor[0]! : ANY_TYPE) : null,
        });
        if (wakeAt !== null) this.scheduleWake(wakeAt);
        // An event committed between the look and the row saying what it waits for: look again.
        if (waits && (await this.internals.backend.readAll({ after: scannedTo, limit: 1, types: waitingFor })).length > 0) {
          await this.backend.wake(waitingFor, Date.now());
          this.wakeUp();
        }
      }
    }
  }

  /** Writes a row this engine holds and hands it back (owner ''). */
  private async write(row: WorkflowRow): Promise<void> {
    const written = await this.updates.submit({ ...row, owner: '', leaseUntil: 0, updatedAt: Date.now() });
    if (!written) this.logger.warn({ workflow: row.name, id: row.id }, 'workflow instance was taken over before its row was written');
  }

  /** The store failed under a run: hand the instance back, due again in a moment. */
  private async release(row: WorkflowRow, error: unknown): Promise<void> {
    this.logger.warn({ workflow: row.name, id: row.id, error: String(error) }, 'workflow instance run stopped by a store error: it will run again');
    try {
      await this.write({ ...row, wakeAt: Date.now() + this.settings.pollInterval });
    } catch {
      // The lease runs out instead.
    }
  }

  private async renew(): Promise<void> {
    const ids = [...this.running.keys()];
    if (ids.length === 0) return;
    try {
      const held = await this.backend.renew(this.owner, ids, this.settings.leaseTtl);
      const byId = new Map(held.map((h) => [h.id, h]));
      for (const id of ids) {
        const entry = this.running.get(id);
        const h = byId.get(id);
        if (!h) entry?.exec?.abandon();
        else if (h.cancelRequested && entry) {
          entry.cancel = true;
          entry.exec?.cancel();
        }
      }
    } catch (error) {
      this.logger.warn({ error: String(error) }, 'workflow leases not renewed');
    }
  }

  // --- finding work ----------------------------------------------------------------------------

  private wakeUp(): void {
    this.poked = true;
    this.poke();
  }

  private scheduleWake(at: number): void {
    this.wakes.push(at);
    if (at <= Date.now() + this.settings.pollInterval) this.wakeUp();
  }

  private async claimLoop(): Promise<void> {
    const kinds = [...this.definitions.keys()];
    // A store closed under a running engine ends its claims: an instance run there fails at once
    // and is handed back, and claiming it again at once would spin without end.
    while (!this.stopping.signal.aborted && !this.internals.closed()) {
      this.poked = false;
      const free = this.settings.concurrency - this.busy();
      // Full: when a slot frees, look again at once.
      if (free <= 0) this.backlog = true;
      if (free > 0) {
        try {
          const claimed = await this.backend.claim(this.owner, kinds, free, this.settings.leaseTtl, Date.now());
          this.backlog = claimed.length === free;
          for (const row of claimed) {
            if (this.stopping.signal.aborted) await this.write(row);
            else this.launch(row, false);
          }
        } catch (error) {
          if (!this.stopping.signal.aborted) this.logger.warn({ error: String(error) }, 'workflow claim failed');
        }
      }
      if (this.poked) continue;
      await this.nap();
    }
  }

  /** Until poked, the next local timer, or the poll interval. */
  private nap(): Promise<void> {
    const now = Date.now();
    let next = now + this.settings.pollInterval;
    for (let i = this.wakes.length - 1; i >= 0; i--) {
      if (this.wakes[i]! <= now) this.wakes.splice(i, 1);
      else next = Math.min(next, this.wakes[i]!);
    }
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined = undefined;
      const done = () => {
        clearTimeout(timer);
        this.poke = () => {};
        resolve();
      };
      timer = setTimeout(done, Math.max(0, next - now));
      this.poke = done;
      if (this.poked || this.stopping.signal.aborted) done();
    });
  }

  /** Commits after `after`: instances waiting for their types are made due. */
  private async watchLoop(after: bigint): Promise<void> {
    const signal = this.stopping.signal;
    // A closed store answers waitForCommit at once: following it further would spin.
    while (!signal.aborted && !this.internals.closed()) {
      try {
        const page = await this.internals.backend.readAll({ after, limit: WATCH_PAGE });
        if (page.length === 0) {
          await this.internals.waitForCommit(after, signal, this.settings.pollInterval);
          continue;
        }
        after = page.at(-1)!.position;
        const types = new Set(page.map((e) => e.type));
        for (const { exec } of this.running.values()) exec?.eventsCommitted(types);
        await this.backend.wake([...types], Date.now());
        this.wakeUp();
      } catch (error) {
        if (signal.aborted || this.internals.closed()) return;
        this.logger.warn({ error: String(error) }, 'workflow event watch failed');
        await new Promise((resolve) => setTimeout(resolve, this.settings.pollInterval));
      }
    }
  }
}

const STATUSES = new Set<string>(['pending', 'running', 'sleeping', 'waiting', 'completed', 'failed', 'compensated', 'cancelled']);

function checkId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID) {
    throw new ValidationError([{ path: ['options', 'id'], message: `must be a string of 1 to ${MAX_ID} characters` }]);
  }
  try {
    checkStreamName(id);
  } catch (error) {
    if (isFactlineError(error)) throw new ValidationError([{ path: ['options', 'id'], message: error.message }]);
    throw error;
  }
}

function ended(row: WorkflowRow, ending: Ending): WorkflowRow {
  const error = ending.status === 'completed' ? undefined : 'error' in ending ? { ...ending.error, ...pick(ending) } : ending.compensationError && { ...ending.compensationError };
  return {
    ...row,
    status: ending.status,
    result: ending.status === 'completed' ? JSON.stringify(ending.result === undefined ? {} : { value: ending.result }) : null,
    error: error === undefined ? null : JSON.stringify(error),
    wakeAt: null,
    waitingFor: null,
  };
}

function pick(ending: Ending): { compensationError?: ErrorRecord } {
  return 'compensationError' in ending && ending.compensationError ? { compensationError: ending.compensationError } : {};
}

/** An instance's row as the engine (and the CLI) reports it. */
export function info(row: WorkflowRow): WorkflowInfo {
  return {
    id: row.id,
    workflow: row.name,
    version: row.version,
    status: row.status,
    ...(row.result !== null ? { result: (JSON.parse(row.result) as { value?: unknown }).value } : {}),
    ...(row.error !== null ? { error: JSON.parse(row.error) as ErrorRecord } : {}),
    ...(row.wakeAt !== null && isActive(row) ? { wakeAt: new Date(row.wakeAt) } : {}),
    ...(row.waitingFor !== null ? { waitingFor: row.waitingFor } : {}),
    ...(row.owner !== '' ? { owner: row.owner } : {}),
    cancelRequested: row.cancelRequested,
    createdAt: new Date(row.createdAt),
    updatedAt: new Date(row.updatedAt),
  };
}
