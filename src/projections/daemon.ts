import { ConfigurationError, ProjectionFailedError, TimeoutError, ValidationError } from '../events/errors.js';
import { uuidv7 } from '../events/uuid.js';
import { reportLag } from '../observability/telemetry.js';
import { indexedFields, isRunnable, type Runnable } from './define.js';
import { internalsOf, type StoreInternals } from './internals.js';
import { Runner, type FailureInfo, type RunnerSettings, type RunnerState } from './runner.js';

export interface ProjectionDaemonOptions {
  /** Events per transaction. Default 500. */
  readonly batchSize?: number;
  /** A lease not renewed for this long (ms) may be taken over by another process. Default 10,000. */
  readonly leaseTtl?: number;
  /** Waits between tries of a failing event: from `initial` ms, doubling up to `max`. Default 100 → 5,000. */
  readonly backoff?: { readonly initial?: number; readonly max?: number };
}

export interface ProjectionStatus {
  readonly name: string;
  readonly kind: 'projection' | 'reactor';
  readonly version: number;
  /**
   * `live`: following new events. `catching-up` / `rebuilding`: working through history (a
   * rebuild builds a new generation while the previous one serves). `standby`: another process
   * holds the lease. `failed`: stopped on an event (see `lastError`). `superseded`: a newer
   * version is live. `stopped`: closed.
   */
  readonly state: RunnerState;
  /** Whether this process holds the lease. */
  readonly owner: boolean;
  readonly generation: number | undefined;
  readonly checkpoint: bigint | undefined;
  readonly head: bigint;
  readonly lag: { readonly events: bigint; readonly ms: number };
  readonly lastError: FailureInfo | undefined;
}

export interface WaitForOptions {
  /** Give up after this many ms with a TimeoutError. Default 30,000. */
  readonly timeout?: number;
  /** Only these projections. Default: every projection and reactor the daemon runs. */
  readonly projections?: readonly string[];
}

export interface ProjectionDaemon {
  status(): ProjectionStatus[];
  /**
   * Resolves once every projection (or the named ones) has applied everything up to `position`
   * (an append's `position`): read-your-writes. Checks the checkpoints in the database, so it
   * works whichever process runs the projections.
   */
  waitFor(position: bigint, options?: WaitForOptions): Promise<void>;
  /** Stops after the current batches and releases the leases. */
  close(): Promise<void>;
}

const DEFAULTS = { batchSize: 500, leaseTtl: 10_000, backoff: { initial: 100, max: 5000 } };

function positive(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || (value as number) < 1 || (value as number) > 2 ** 31 - 1) throw new ConfigurationError(`${name} must be a positive integer (ms or count)`);
  return value as number;
}

export function runnerSettings(options: ProjectionDaemonOptions | undefined): RunnerSettings {
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw new ConfigurationError('options must be an object');
  const o = options ?? {};
  const initial = positive(o.backoff?.initial, 'backoff.initial', DEFAULTS.backoff.initial);
  return {
    batchSize: positive(o.batchSize, 'batchSize', DEFAULTS.batchSize),
    leaseTtl: positive(o.leaseTtl, 'leaseTtl', DEFAULTS.leaseTtl),
    backoff: { initial, max: Math.max(initial, positive(o.backoff?.max, 'backoff.max', DEFAULTS.backoff.max)) },
    owner: uuidv7(),
  };
}

/**
 * Runs projections and reactors: each catches up from its checkpoint, then follows new events.
 * Across processes each has one owner at a time (a lease in the database); the others stand by
 * and take over when the owner's lease lapses.
 */
export async function startProjections(store: unknown, definitions: readonly Runnable[], options?: ProjectionDaemonOptions): Promise<ProjectionDaemon> {
  const core = internalsOf(store);
  if (!Array.isArray(definitions) || !definitions.every(isRunnable)) {
    throw new ConfigurationError('startProjections takes an array of defineProjection(...) and defineReactor(...) results');
  }
  const names = new Set<string>();
  for (const d of definitions) {
    if (names.has(d.name)) throw new ConfigurationError(`two projections are named "${d.name}"`);
    names.add(d.name);
  }
  const settings = runnerSettings(options);
  await core.backend.projections.ensureIndexes(indexedFields(definitions));
  const progress = new Progress();
  const runners = definitions.map((d) => new Runner(core, d, settings, () => progress.notify()));
  const done = runners.map((r) => r.run());
  const unreport = reportLag(() => runners.map(statusOf));
  let closing: Promise<void> | undefined;
  return {
    status: () => runners.map(statusOf),
    waitFor: (position, waitOptions) => waitForPositions(core, position, waitOptions, [...names], runners, progress),
    close() {
      closing ??= (async () => {
        unreport();
        for (const r of runners) r.close();
        progress.notify();
        await Promise.all(done);
        for (const r of runners) {
          await r.release().catch((error: unknown) => core.logger.warn({ projection: r.name, err: error }, 'could not release the lease'));
          r.state = r.state === 'superseded' ? r.state : 'stopped';
        }
      })();
      return closing;
    },
  };
}

function statusOf(r: Runner): ProjectionStatus {
  const g = r.generation;
  const checkpoint = g?.checkpoint;
  const behind = checkpoint !== undefined && r.head > checkpoint ? r.head - checkpoint : 0n;
  return {
    name: r.name,
    kind: r.definition.kind,
    version: r.definition.kind === 'projection' ? r.definition.version : 1,
    state: r.state,
    owner: g !== undefined && !r.stopped,
    generation: g?.generation,
    checkpoint,
    head: r.head,
    lag: { events: behind, ms: behind === 0n ? 0 : r.lagMs },
    lastError: r.lastError,
  };
}

/** Wakes waiters when a runner of this process commits. */
class Progress {
  private waiters = new Set<() => void>();
  notify(): void {
    for (const w of this.waiters) w();
    this.waiters.clear();
  }
  next(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(wake, ms);
      const waiters = this.waiters;
      function wake() {
        clearTimeout(timer);
        waiters.delete(wake);
        resolve();
      }
      waiters.add(wake);
    });
  }
}

const POLL = 20;

async function waitForPositions(
  core: StoreInternals,
  position: unknown,
  options: WaitForOptions | undefined,
  all: readonly string[],
  runners: readonly Runner[],
  progress: Progress,
): Promise<void> {
  if (typeof position !== 'bigint' || position < 0n) throw new ValidationError([{ path: ['position'], message: 'must be a bigint position (an append’s result.position)' }]);
  const timeout = positive(options?.timeout, 'timeout', 30_000);
  const wanted = options?.projections ?? all;
  if (!Array.isArray(wanted) || !wanted.every((n) => typeof n === 'string')) throw new ConfigurationError('projections must be an array of names');
  const deadline = Date.now() + timeout;
  for (;;) {
    for (const r of runners) {
      const failure = wanted.includes(r.name) ? r.failure() : undefined;
      if (failure) throw failure;
    }
    // A live generation this process holds knows its checkpoint: no need to ask the database.
    const unknown = wanted.filter((name) => {
      const held = runners.find((r) => r.name === name)?.generation;
      return !(held?.status === 'live' && held.checkpoint >= position);
    });
    if (unknown.length === 0) return;
    const rows = await core.backend.projections.projections();
    const pending = unknown.filter((name) => {
      const live = rows.find((r) => r.name === name && r.status === 'live');
      // A projection this process runs reports its own state (starting, it clears the stored
      // error); one on standby, held elsewhere, reports what the database says.
      if (live?.error && !runners.some((r) => r.name === name && r.state !== 'standby')) throw new ProjectionFailedError(name, '', live.checkpoint, new Error(live.error));
      return !live || live.checkpoint < position;
    });
    if (pending.length === 0) return;
    const left = deadline - Date.now();
    if (left <= 0) throw new TimeoutError(`projections ${pending.map((p) => `"${p}"`).join(', ')} did not reach position ${position} within ${timeout} ms`);
    if (core.closed()) throw new ConfigurationError('the store is closed');
    await progress.next(Math.min(POLL, left));
  }
}

/** `waitFor` for a process that runs no daemon: polls the checkpoints in the database. */
export function waitForProjections(store: unknown, position: bigint, options: WaitForOptions & { readonly projections: readonly string[] }): Promise<void> {
  const core = internalsOf(store);
  if (!Array.isArray(options?.projections)) throw new ConfigurationError('waitForProjections needs { projections: [names] }');
  return waitForPositions(core, position, options, options.projections, [], new Progress());
}
