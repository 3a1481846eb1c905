import { delay } from '../events/delay.js';
import { ProjectionFailedError } from '../events/errors.js';
import type { RecordedEvent } from '../events/types.js';
import { inEventContext } from '../context/message-context.js';
import { tracedBatch, tracedReaction } from '../observability/spans.js';
import type { StoredEvent } from '../store/backend.js';
import { HandlerFailure, applyEvents, newGeneration, pickGeneration, projectionContext, swapIn } from './apply.js';
import type { ProjectionRow, Transaction } from './backend.js';
import { BatchFailure, batchHandlerOf, type Runnable } from './define.js';
import type { StoreInternals } from './internals.js';

export type RunnerState = 'starting' | 'standby' | 'catching-up' | 'rebuilding' | 'live' | 'failed' | 'superseded' | 'stopped';

export interface RunnerSettings {
  readonly batchSize: number;
  /** How long a lease lasts without renewal, in ms. */
  readonly leaseTtl: number;
  /** First and longest wait between tries of a failing event, in ms. */
  readonly backoff: { readonly initial: number; readonly max: number };
  /** This daemon's identity in lease rows. */
  readonly owner: string;
}

export interface FailureInfo {
  readonly message: string;
  readonly eventId: string;
  readonly position: bigint;
  readonly attempts: number;
  readonly at: Date;
}

/** The lease was taken over, or the generation was replaced: stop writing and claim afresh. */
class LeaseLost extends Error {}
class Superseded extends Error {}

const DEFAULT_RETRIES = 5;

/**
 * Runs one projection or reactor: claims a generation and its lease, then reads batches after its
 * checkpoint and commits each batch's effects with the new checkpoint in one transaction. A batch
 * transaction first locks the generation's row and checks the lease's owner, token and checkpoint,
 * so a stale owner's writes are refused (fencing), and renews the lease.
 */
export class Runner {
  state: RunnerState = 'starting';
  generation: ProjectionRow | undefined;
  head = 0n;
  /** How long the oldest event not yet applied has waited, as of the last look. */
  lagMs = 0;
  lastError: FailureInfo | undefined;
  private attempts = 0;
  /** Database failures in a row: the wait before the next try doubles with each. */
  private outages = 0;
  private registered = new Set<string>();
  private renewedAt = 0;
  private readonly stop = new AbortController();
  private readonly version: number;

  constructor(
    private readonly core: StoreInternals,
    readonly definition: Runnable,
    private readonly settings: RunnerSettings,
    private readonly onProgress: () => void,
    /** Build a new generation (a rebuild) instead of joining the current one. */
    private readonly fresh = false,
  ) {
    this.version = definition.kind === 'projection' ? definition.version : 1;
  }

  get name(): string {
    return this.definition.name;
  }

  /** Closed, or its store closed under it. */
  get stopped(): boolean {
    if (this.core.closed()) this.stop.abort();
    return this.stop.signal.aborted;
  }

  /** Runs until closed, superseded, or (for a rebuild) until its generation is live. */
  async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (!this.generation && !(await this.claim())) {
          this.state = 'standby';
          await this.sleep(this.settings.leaseTtl / 3);
          continue;
        }
        if (this.fresh && this.generation?.status === 'live') return;
        if (this.state === 'failed') {
          // A rebuild gives up (rebuildProjection rejects); a daemon holds on to its lease, so
          // that no other process tries the event again until this one is restarted.
          if (this.fresh) return;
          await this.heartbeat();
          await this.sleep(this.settings.leaseTtl / 3);
          continue;
        }
        // Between batches, a turn of the event loop: on SQLite every call answers at once, and a
        // long catch-up or rebuild would otherwise hold the process (its HTTP server too) until done.
        if (await this.step()) await new Promise((resolve) => setImmediate(resolve));
        else await this.idle();
        this.outages = 0;
      } catch (error) {
        if (error instanceof LeaseLost) {
          const lost = this.generation;
          this.generation = undefined;
          // A rebuild's generation may have been swapped in by someone else (an inline append):
          // then the rebuild is done.
          if (this.fresh && lost && (await this.isLive(lost.generation))) return;
          continue;
        }
        if (error instanceof Superseded) {
          this.state = 'superseded';
          this.core.logger.warn({ projection: this.name }, 'a newer version of this projection is live or being built: this one stops');
          return;
        }
        if (this.stopped) return;
        // The database failed (or something unforeseen): the batch wrote nothing; try again later.
        this.core.logger.error({ projection: this.name, err: error }, 'projection batch failed; trying again');
        this.lastError = { message: String((error as Error).message ?? error), eventId: '', position: this.generation?.checkpoint ?? 0n, attempts: 0, at: new Date() };
        await this.sleep(this.backoff(++this.outages));
      }
    }
  }

  /** Stops after the current batch; `release` then gives up the lease. */
  close(): void {
    this.stop.abort();
  }

  async release(): Promise<void> {
    const held = this.generation;
    if (!held) return;
    this.generation = undefined;
    await this.core.backend.projections.transaction(async (tx) => {
      const row = await tx.lockProjection(held.name, held.generation);
      if (row?.owner === this.settings.owner && row.token === held.token) await tx.updateProjection({ ...row, owner: '', leaseUntil: 0 });
    });
  }

  private async isLive(generation: number): Promise<boolean> {
    const rows = await this.core.backend.projections.projections();
    const row = rows.find((r) => r.name === this.name && r.generation === generation && r.status === 'live');
    if (row) this.generation = row;
    return row !== undefined;
  }

  private async claim(): Promise<boolean> {
    const p = this.core.backend.projections;
    const claimed = await p.transaction(async (tx) => {
      const now = await tx.now();
      const rows = await tx.rowsOf(this.name);
      let picked = this.fresh ? undefined : pickGeneration(rows, this.version);
      if (picked === 'superseded') throw new Superseded();
      if (!picked) {
        picked = newGeneration(rows, this.name, this.version, now);
        if (this.fresh && picked.status === 'live') picked = { ...picked, status: 'building' };
        if (!(await tx.insertProjection(picked))) return undefined;
      }
      const row = await tx.lockProjection(this.name, picked.generation);
      // Gone since it was read (a swap dropped it), or leased by another process.
      if (!row) return undefined;
      if (row.owner !== '' && row.owner !== this.settings.owner && row.leaseUntil > now) return undefined;
      const mine: ProjectionRow = { ...row, owner: this.settings.owner, token: row.token + 1, leaseUntil: now + this.settings.leaseTtl, error: null, updatedAt: now };
      await tx.updateProjection(mine);
      return mine;
    });
    if (!claimed) return false;
    this.generation = claimed;
    this.registered = new Set();
    this.renewedAt = Date.now();
    this.attempts = 0;
    this.state = claimed.status === 'building' ? 'rebuilding' : 'catching-up';
    this.core.logger.info?.({ projection: this.name, generation: claimed.generation, checkpoint: String(claimed.checkpoint) }, 'projection claimed');
    return true;
  }

  /** Locks the row and checks the lease is still ours, where we left it. */
  private async verify(tx: Transaction): Promise<ProjectionRow> {
    const held = this.generation!;
    const row = await tx.lockProjection(held.name, held.generation);
    if (!row || row.owner !== this.settings.owner || row.token !== held.token || row.checkpoint !== held.checkpoint) {
      throw new LeaseLost();
    }
    return row;
  }

  private async heartbeat(): Promise<void> {
    if (Date.now() - this.renewedAt < this.settings.leaseTtl / 3) return;
    await this.commit((_tx, row) => Promise.resolve(row));
  }

  /**
   * Runs `work` in a transaction after verifying the lease, then saves the row it returns with a
   * renewed lease. Keeps the saved row as ours.
   */
  private async commit(work: (tx: Transaction, row: ProjectionRow) => Promise<ProjectionRow>, appendsFirst = false): Promise<ProjectionRow> {
    const saved = await this.core.backend.projections.transaction(async (tx) => {
      // The append lock before the row, as an append with inline projections takes them: never
      // the other way round, which could deadlock with one.
      if (appendsFirst) await tx.lockAppends();
      const row = await this.verify(tx);
      const next = await work(tx, row);
      const now = await tx.now();
      const out = { ...next, leaseUntil: now + this.settings.leaseTtl, updatedAt: now };
      await tx.updateProjection(out);
      return out;
    });
    this.generation = saved;
    this.renewedAt = Date.now();
    return saved;
  }

  /** One batch; false when there was nothing to do. */
  private async step(): Promise<boolean> {
    const held = this.generation!;
    const types = this.definition.types;
    const page = { limit: this.settings.batchSize, ...(types ? { types } : {}) };
    // Positions become visible in commit order: everything up to the head read first is in the
    // read that follows, so a short page has seen all there is up to the head.
    const head = await this.core.backend.headPosition();
    this.head = head > this.head ? head : this.head;
    const rows = await this.core.backend.readAll({ ...page, after: held.checkpoint });
    if (rows.length === 0 && head <= held.checkpoint) {
      this.lagMs = 0;
      // A generation being built whose last page was full has caught up without a short page:
      // swap it in now.
      if (held.status === 'building' && this.definition.kind === 'projection') {
        await this.apply([], held.checkpoint, true);
        return true;
      }
      if (held.status === 'live') this.state = 'live';
      await this.heartbeat();
      return false;
    }
    this.lagMs = rows.length > 0 ? Math.max(0, Date.now() - rows[0]!.recordedAt) : 0;
    const last = rows.at(-1)?.position ?? 0n;
    const through = rows.length < this.settings.batchSize && head > last ? head : last;
    await this.apply(rows, through, rows.length < this.settings.batchSize);
    return true;
  }

  private async apply(rows: readonly StoredEvent[], through: bigint, short: boolean): Promise<void> {
    let events: RecordedEvent[];
    try {
      events = this.decodeAll(rows);
    } catch (failure) {
      return this.failed(failure as HandlerFailure, rows);
    }
    try {
      await this.traced(events, through, () => (this.definition.kind === 'reactor' ? this.react(events, through) : this.project(events, through, short)));
      this.attempts = 0;
      if (this.state === 'catching-up' && short) this.state = 'live';
      this.onProgress();
    } catch (error) {
      if (!(error instanceof HandlerFailure)) throw error;
      await this.failed(error, rows);
    }
  }

  /** A batch of events in its span; one that only moves the checkpoint (no events) has none. */
  private traced(events: readonly RecordedEvent[], through: bigint, work: () => Promise<void>): Promise<void> {
    if (events.length === 0) return work();
    const { name, definition, generation } = this;
    return tracedBatch({ name, kind: definition.kind, generation: generation?.generation }, events, through, work);
  }

  /** Upcasting may throw (an event too new for this code): that is the event's failure. */
  private decodeAll(rows: readonly StoredEvent[]): RecordedEvent[] {
    return rows.map((row, i) => {
      try {
        return this.core.decode(row);
      } catch (error) {
        throw new HandlerFailure(i, { id: row.id, position: row.position } as RecordedEvent, error);
      }
    });
  }

  private async project(events: readonly RecordedEvent[], through: bigint, short: boolean): Promise<void> {
    const definition = this.definition;
    if (definition.kind !== 'projection') return;
    if (events.length > 0 || this.generation!.checkpoint !== through) {
      const registered = new Set(this.registered);
      await this.commit(async (tx, row) => {
        await applyEvents(this.core.store, definition, projectionContext(tx, this.name, row.generation, registered), events);
        return { ...row, checkpoint: through, error: null };
      });
      this.registered = registered;
    }
    if (this.generation!.status === 'building' && short) await this.swap();
  }

  /**
   * A generation being built has caught up: under the append lock, apply what came since the last
   * read and swap in, so that no append falls between. If a handler fails there, everything rolls
   * back and the swap waits: the event comes in the next batch, under the failure policy.
   */
  private async swap(): Promise<void> {
    const registered = new Set(this.registered);
    try {
      await this.commit(async (tx, row) => {
        const context = projectionContext(tx, this.name, row.generation, registered);
        const checkpoint = await this.drain(tx, context, row.checkpoint);
        const swapped = await swapIn(tx, { ...row, checkpoint, error: null });
        if (!swapped) throw new Superseded();
        return swapped;
      }, true);
    } catch (error) {
      if (error instanceof HandlerFailure) return;
      throw error;
    }
    this.registered = registered;
    this.core.logger.info?.({ projection: this.name, generation: this.generation!.generation }, 'projection rebuilt and swapped in');
    if (this.state === 'rebuilding') this.state = 'live';
  }

  /** Applies every event after `after` inside the transaction; returns the last position seen. */
  private async drain(tx: Transaction, context: ReturnType<typeof projectionContext>, after: bigint): Promise<bigint> {
    const definition = this.definition;
    if (definition.kind !== 'projection') return after;
    let checkpoint = after;
    for (;;) {
      const rows = await tx.readAll({ after: checkpoint, limit: this.settings.batchSize, ...(definition.types ? { types: definition.types } : {}) });
      if (rows.length === 0) return checkpoint;
      await applyEvents(this.core.store, definition, context, this.decodeAll(rows));
      checkpoint = rows.at(-1)!.position;
    }
  }

  /** Reactors act outside the store: handle each event, then record how far they got. */
  private async react(events: readonly RecordedEvent[], through: bigint): Promise<void> {
    const definition = this.definition;
    if (definition.kind !== 'reactor') return;
    const context = { reactor: this.name, signal: this.stop.signal };
    const batch = batchHandlerOf(definition);
    let failure: HandlerFailure | undefined;
    if (batch && events.length > 0) {
      try {
        await batch(events, context);
      } catch (error) {
        const at = error instanceof BatchFailure && error.index < events.length ? error.index : 0;
        failure = new HandlerFailure(at, events[at]!, error instanceof BatchFailure ? error.cause : error);
      }
    }
    for (const [i, event] of (batch ? [] : events).entries()) {
      try {
        await tracedReaction(this.name, event, () => inEventContext(event, () => definition.handle(event, context)));
      } catch (error) {
        failure = new HandlerFailure(i, event, error);
        break;
      }
    }
    const done = failure?.index ?? events.length;
    const checkpoint = failure ? (done > 0 ? events[done - 1]!.position : undefined) : through;
    if (checkpoint !== undefined) await this.commit((_tx, row) => Promise.resolve({ ...row, checkpoint, error: null }));
    if (failure) throw new HandlerFailure(0, failure.event, failure.cause);
  }

  /**
   * A handler threw on an event. The events before it are applied at once; the event itself is
   * tried again with backoff, then stops the projection or goes to the dead letters.
   */
  private async failed(failure: HandlerFailure, rows: readonly StoredEvent[]): Promise<void> {
    if (failure.index > 0) {
      // The events before it are delivered first (a reactor's too, when decoding failed).
      const before = rows.slice(0, failure.index);
      return this.apply(before, before.at(-1)!.position, false);
    }
    const event = failure.event;
    const retries = this.definition.retries ?? DEFAULT_RETRIES;
    this.attempts++;
    const message = failure.cause instanceof Error ? failure.cause.message : String(failure.cause);
    this.lastError = { message, eventId: event.id, position: event.position, attempts: this.attempts, at: new Date() };
    this.core.logger.warn({ projection: this.name, eventId: event.id, position: String(event.position), attempt: this.attempts, err: failure.cause }, 'projection handler failed');
    if (this.attempts < retries) {
      await this.sleep(this.backoff(this.attempts));
      return;
    }
    this.attempts = 0;
    const error = new ProjectionFailedError(this.name, event.id, event.position, failure.cause);
    if (this.definition.onFailure === 'dead-letter') {
      await this.commit(async (tx, row) => {
        await tx.deadLetter({ projection: this.name, eventId: event.id, position: event.position, error: message, failedAt: await tx.now() });
        return { ...row, checkpoint: event.position };
      });
      this.core.logger.error({ projection: this.name, eventId: event.id, err: failure.cause }, 'event sent to the dead letters');
      return;
    }
    await this.commit((_tx, row) => Promise.resolve({ ...row, error: error.message }));
    this.state = 'failed';
    this.core.logger.error({ projection: this.name, eventId: event.id, err: failure.cause }, 'projection stopped: it failed on an event');
  }

  /** The wait before try `n + 1`: from `initial`, doubling, at most `max`. */
  private backoff(n: number): number {
    return Math.min(this.settings.backoff.max, this.settings.backoff.initial * 2 ** Math.min(n - 1, 30));
  }

  private async idle(): Promise<void> {
    const held = this.generation;
    if (!held) return;
    await this.core.waitForCommit(held.checkpoint, this.stop.signal, this.settings.leaseTtl / 3);
  }

  private sleep(ms: number): Promise<void> {
    return this.stopped ? Promise.resolve() : delay(ms, this.stop.signal);
  }

  /** The failure that stopped it, as an error. */
  failure(): ProjectionFailedError | undefined {
    if (this.state !== 'failed' || !this.lastError) return undefined;
    return new ProjectionFailedError(this.name, this.lastError.eventId, this.lastError.position, new Error(this.lastError.message));
  }
}
