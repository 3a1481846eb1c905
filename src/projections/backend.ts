import type { AllPage, StoredEvent } from '../store/backend.js';

/**
 * What an adapter supplies for documents and projections. The rules (validation, queries'
 * meaning, checkpoints, leases, rebuilds) live in the core; an adapter keeps rows.
 *
 * Collections have a logical name (what users write) and a physical one (where the rows are).
 * A projection's generation `g` writes collection `c` into `c@g`; reads outside a transaction
 * resolve `c` to the physical name of the live generation that registered it, or to `c` itself.
 */
export interface ProjectionBackend {
  /** Committed reads by logical name. */
  readonly documents: DocumentReader;
  /**
   * Runs `work` in one write transaction: everything it writes commits together or not at all.
   * On memory and SQLite transactions and appends run one at a time; on PostgreSQL side by side,
   * ordered by the projection rows they lock.
   */
  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T>;
  /** Every projection generation's row (committed state). */
  projections(): Promise<ProjectionRow[]>;
  /** Creates the expression indexes that make `find` on these top-level fields fast. */
  ensureIndexes(fields: readonly string[]): Promise<void>;
  /** The database's clock in epoch ms: leases compare times from one clock. */
  now(): Promise<number>;
  /** Dead letters of a projection, oldest first. */
  deadLetters(projection: string): Promise<DeadLetter[]>;
}

export interface DocumentReader {
  get(collection: string, id: string): Promise<string | undefined>;
  find(collection: string, query: DocumentQuery): Promise<DocumentRow[]>;
}

/** One write transaction. Collections here are physical names. */
export interface Transaction {
  readonly documents: DocumentReader;
  put(collection: string, id: string, data: string): Promise<void>;
  delete(collection: string, id: string): Promise<boolean>;
  /** The physical name that writes to a logical collection go to now. */
  resolve(collection: string): Promise<string>;
  /** Plain SQL in this transaction: `?` placeholders on SQLite, `$1` on PostgreSQL. */
  sql(text: string, params: readonly unknown[]): Promise<Record<string, unknown>[]>;
  /** Every generation of a projection. */
  rowsOf(name: string): Promise<ProjectionRow[]>;
  /** The generation's row, locked until the transaction ends. */
  lockProjection(name: string, generation: number): Promise<ProjectionRow | undefined>;
  /** Adds a row; false when the (name, generation) exists already. */
  insertProjection(row: ProjectionRow): Promise<boolean>;
  updateProjection(row: ProjectionRow): Promise<void>;
  /** Records that generation `generation` of `projection` writes `collection`. */
  registerCollection(collection: string, projection: string, generation: number): Promise<void>;
  /** The projection (other than `projection`) that owns a collection, if any. */
  collectionOwner(collection: string, projection: string): Promise<string | undefined>;
  /** Removes a generation: its documents, its collections and its row. */
  dropGeneration(projection: string, generation: number): Promise<void>;
  deadLetter(entry: DeadLetter): Promise<void>;
  /** Holds appends (of every process) off until this transaction ends. */
  lockAppends(): Promise<void>;
  /** Committed events, as `StoreBackend.readAll`, seen from inside the transaction. */
  readAll(page: AllPage): Promise<readonly StoredEvent[]>;
  now(): Promise<number>;
}

/** A swap drops the generation it replaces: there is no third status. */
export type ProjectionStatus = 'live' | 'building';

/** One generation of a projection (or a reactor, which has one generation). */
export interface ProjectionRow {
  readonly name: string;
  readonly generation: number;
  /** The definition's `version` this generation was built with. */
  readonly version: number;
  readonly status: ProjectionStatus;
  /** Everything at or below this position is applied. */
  readonly checkpoint: bigint;
  /** Who holds the lease ('' for none), its fencing token and when it lapses (epoch ms). */
  readonly owner: string;
  readonly token: number;
  readonly leaseUntil: number;
  /** The last failure, while the projection is stopped by it. */
  readonly error: string | null;
  readonly updatedAt: number;
}

export interface DeadLetter {
  readonly projection: string;
  readonly eventId: string;
  readonly position: bigint;
  readonly error: string;
  readonly failedAt: number;
}

export interface DocumentRow {
  readonly id: string;
  /** JSON text. */
  readonly data: string;
}

export type Scalar = string | number | boolean | null;

/** What a condition or a sort compares: the field's JSON kind first, then its value. */
export const Rank = { missing: 0, false: 1, true: 2, number: 3, string: 4, other: 5 } as const;

export interface Condition {
  readonly field: string;
  readonly op: 'eq' | 'gt' | 'gte' | 'lt' | 'lte';
  readonly value: Scalar;
}

export interface SortKey {
  readonly field: string;
  readonly descending: boolean;
}

/** Where a page ended: each sort key's rank and value, and the last id. */
export interface Cursor {
  readonly keys: readonly (readonly [rank: number, value: string | number | null])[];
  readonly id: string;
}

/**
 * A validated query: `where` holds groups that are ANDed; each group's conditions are ORed (an
 * `in` becomes a group of equalities). Sorting is by `orderBy`, then by id.
 */
export interface DocumentQuery {
  readonly where: readonly (readonly Condition[])[];
  readonly orderBy: readonly SortKey[];
  readonly limit: number;
  readonly after?: Cursor;
}
