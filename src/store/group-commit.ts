import { isStoreUnavailableError } from '../events/errors.js';
import type { AppendResult } from './event-store.js';
import type { Outcome, WriteRequest } from './backend.js';

interface Pending {
  readonly request: WriteRequest;
  readonly resolve: (result: AppendResult) => void;
  readonly reject: (error: unknown) => void;
}

/** Work that commits on its own, in the queue's order, while no batch is in flight. */
interface Exclusive {
  readonly run: () => Promise<void>;
}

export interface GroupCommitLimits {
  /** Most requests in one transaction. */
  readonly maxRequests: number;
  /** Most events in one transaction (a single larger append still goes alone). */
  readonly maxEvents: number;
}

const nextTurn: (fn: () => void) => void =
  typeof setImmediate === 'function' ? (fn) => setImmediate(fn) : (fn) => setTimeout(fn, 0);

/**
 * Group commit: writes that arrive while a transaction is in flight (or in the same turn of the
 * event loop) share the next transaction. Each keeps its own outcome; when a transaction fails as
 * a whole for a reason other than the database being unavailable, its requests are tried again
 * one by one so that one bad write fails only itself.
 */
export class GroupCommitter {
  private queue: (Pending | Exclusive)[] = [];
  private running = false;
  private idle: Promise<void> = Promise.resolve();
  private settleIdle: () => void = () => {};

  constructor(
    private readonly commit: (requests: readonly WriteRequest[]) => Promise<readonly Outcome[]>,
    private readonly limits: GroupCommitLimits,
  ) {}

  submit(request: WriteRequest): Promise<AppendResult> {
    return new Promise<AppendResult>((resolve, reject) => this.enqueue({ request, resolve, reject }));
  }

  /**
   * Runs `work` between batches, alone: for a transaction of its own that must not overlap the
   * batches' (a store with one write connection).
   */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => this.enqueue({ run: () => work().then(resolve, reject) }));
  }

  private enqueue(entry: Pending | Exclusive): void {
    this.queue.push(entry);
    if (!this.running) {
      this.running = true;
      this.idle = new Promise((settle) => (this.settleIdle = settle));
      nextTurn(() => void this.drain());
    }
  }

  /** Resolves when every write submitted so far has settled. */
  flushed(): Promise<void> {
    return this.idle;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      if ('run' in head) {
        this.queue.shift();
        await head.run();
      } else await this.run(this.take());
    }
    this.running = false;
    this.settleIdle();
  }

  /** The writes at the head of the queue, up to the limits or the next exclusive work. */
  private take(): Pending[] {
    let events = 0;
    let n = 0;
    while (n < this.queue.length && n < this.limits.maxRequests) {
      const entry = this.queue[n]!;
      if ('run' in entry) break;
      const request = entry.request;
      const size = request.kind === 'append' ? request.events.length : 0;
      if (n > 0 && events + size > this.limits.maxEvents) break;
      events += size;
      n++;
    }
    return this.queue.splice(0, n) as Pending[];
  }

  private async run(batch: Pending[]): Promise<void> {
    let outcomes: readonly Outcome[];
    try {
      outcomes = await this.commit(batch.map((p) => p.request));
    } catch (error) {
      // The database itself failed (locked, full, unreachable): every write of the batch shares
      // that fate, and trying each again would repeat the wait or, when the outcome is unknown,
      // write twice. Any other failure may be one write's fault: isolate it.
      if (batch.length === 1 || isStoreUnavailableError(error)) for (const pending of batch) pending.reject(error);
      else for (const pending of batch) await this.run([pending]);
      return;
    }
    const deferred: Pending[] = [];
    batch.forEach((pending, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok === 'deferred') deferred.push(pending);
      else if (outcome.ok) pending.resolve(outcome.result);
      else pending.reject(outcome.error);
    });
    this.queue.unshift(...deferred);
  }
}
