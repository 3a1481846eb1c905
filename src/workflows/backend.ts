/**
 * What an adapter supplies for workflows: one row per instance, the index of its history stream.
 * The history (`workflow-<name>-<id>`) is the truth; the row says who runs the instance now (a
 * lease with a fencing token), when it next has something to do (`wakeAt`: a timer, a wait's
 * timeout, or "now"), and what it ended with. A row that lags its history (a crash between the
 * history append and the row write) is mended by the next engine that claims it and replays.
 */
export interface WorkflowBackend {
  /** Adds instances, in one transaction; where an id exists, changes nothing and returns the stored row. */
  insert(rows: readonly WorkflowRow[]): Promise<{ readonly row: WorkflowRow; readonly inserted: boolean }[]>;
  get(id: string): Promise<WorkflowRow | undefined>;
  /** Rows in `(createdAt, id)` order after the cursor, at most `limit`. */
  list(query: WorkflowListQuery): Promise<WorkflowRow[]>;
  /**
   * Takes up to `limit` instances that are due (`wakeAt <= now`), not held by a live lease, and of
   * a (name, version) in `kinds`: sets owner, a new token and the lease. Never two engines the
   * same row (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the single writer on SQLite).
   *
   * Two clocks: `now` is the engine's, which set the times instances are due at (so an engine
   * whose clock is off from the database's does not run an instance before the code thinks it is
   * due); leases are timed by the database's clock, the one every engine shares.
   */
  claim(owner: string, kinds: readonly string[], limit: number, leaseMs: number, now: number): Promise<WorkflowRow[]>;
  /** Extends the lease of these rows where `owner` still holds them; returns those it holds. */
  renew(owner: string, ids: readonly string[], leaseMs: number): Promise<{ readonly id: string; readonly cancelRequested: boolean }[]>;
  /**
   * Writes rows that `holder` holds with the row's token, in one transaction (the row's own
   * `owner` is who holds it after: '' to hand it back); false for a row no longer held.
   */
  update(holder: string, rows: readonly WorkflowRow[]): Promise<boolean[]>;
  /** Makes instances waiting for events of these types (or any type) due at `now` (the engine's clock). */
  wake(types: readonly string[], now: number): Promise<void>;
  /** The event types instances wait for. */
  waitedTypes(): Promise<string[]>;
  /** Marks an active instance for cancelling and makes it due at `now`; the row as it is after. */
  requestCancel(id: string, now: number): Promise<WorkflowRow | undefined>;
  /** How many instances have each status (statuses with none left out): the `factline.workflows` gauge. */
  countByStatus(): Promise<{ readonly status: WorkflowStatus; readonly count: number }[]>;
}

export type WorkflowStatus = 'pending' | 'running' | 'sleeping' | 'waiting' | 'completed' | 'failed' | 'compensated' | 'cancelled';

export const ACTIVE_STATUSES: readonly WorkflowStatus[] = ['pending', 'running', 'sleeping', 'waiting'];
export const FINAL_STATUSES: readonly WorkflowStatus[] = ['completed', 'failed', 'compensated', 'cancelled'];

/** A row waiting for events of several types waits for `ANY_TYPE`: any event wakes it to look. */
export const ANY_TYPE = '*';

export interface WorkflowRow {
  readonly id: string;
  readonly name: string;
  readonly version: number;
  readonly status: WorkflowStatus;
  /** JSON text: the input it was started with (also in its history once it ran). */
  readonly input: string;
  /** JSON text of the result (completed) or of the error (failed, compensated, cancelled). */
  readonly result: string | null;
  readonly error: string | null;
  /** When an engine should run it next (epoch ms, the engine's clock); null when only an event (or nothing) will. */
  readonly wakeAt: number | null;
  /** The event type it waits for (`ANY_TYPE` for several), else null. */
  readonly waitingFor: string | null;
  readonly owner: string;
  readonly token: number;
  /** When the owner's lease runs out: epoch ms by the database's clock (on SQLite and memory, the process's). */
  readonly leaseUntil: number;
  readonly cancelRequested: boolean;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface WorkflowListQuery {
  readonly status?: WorkflowStatus;
  readonly name?: string;
  readonly after?: { readonly createdAt: number; readonly id: string };
  readonly limit: number;
}

/** `name@version`: how `claim` is told which definitions an engine runs. */
export const kindOf = (name: string, version: number) => `${name}@${version}`;
