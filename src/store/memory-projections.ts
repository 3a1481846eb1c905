import { ConfigurationError } from '../events/errors.js';
import type { DeadLetter, DocumentQuery, DocumentReader, DocumentRow, ProjectionBackend, ProjectionRow, Transaction } from '../projections/backend.js';
import { runQuery } from '../projections/query.js';
import type { AllPage, StoredEvent } from './backend.js';
import type { Mutex } from './mutex.js';

interface State {
  docs: Map<string, Map<string, string>>;
  rows: Map<string, ProjectionRow>;
  /** physical collection name → owner */
  collections: Map<string, { collection: string; projection: string; generation: number }>;
  deadLetters: DeadLetter[];
}

const rowKey = (name: string, generation: number) => `${name}\u0000${generation}`;
export const physicalName = (collection: string, generation: number) => `${collection}@${generation}`;

/**
 * Documents and projection rows in maps. A transaction works on a copy of what it touches and
 * swaps it in at the end, so a failed one leaves nothing behind.
 */
export class MemoryProjections implements ProjectionBackend {
  private state: State = { docs: new Map(), rows: new Map(), collections: new Map(), deadLetters: [] };
  readonly documents: DocumentReader;

  constructor(
    private readonly mutex: Mutex,
    private readonly readAllEvents: (page: AllPage) => Promise<readonly StoredEvent[]>,
  ) {
    this.documents = {
      get: (collection, id) => Promise.resolve(this.state.docs.get(resolve(this.state, collection))?.get(id)),
      find: (collection, query) => Promise.resolve(find(this.state.docs.get(resolve(this.state, collection)), query)),
    };
  }

  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    return this.mutex.run(() => this.within(work));
  }

  /** A transaction for a caller that holds the mutex already (an append with inline projections). */
  async within<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    const draft = new Draft(this.state, this.readAllEvents);
    const result = await work(draft);
    this.state = draft.result();
    return result;
  }

  projections(): Promise<ProjectionRow[]> {
    return Promise.resolve([...this.state.rows.values()]);
  }

  ensureIndexes(): Promise<void> {
    return Promise.resolve();
  }

  now(): Promise<number> {
    return Promise.resolve(Date.now());
  }

  deadLetters(projection: string): Promise<DeadLetter[]> {
    return Promise.resolve(this.state.deadLetters.filter((d) => d.projection === projection));
  }
}

function resolve(state: State, collection: string): string {
  for (const [physical, owner] of state.collections) {
    if (owner.collection !== collection) continue;
    if (state.rows.get(rowKey(owner.projection, owner.generation))?.status === 'live') return physical;
  }
  return collection;
}

function find(docs: Map<string, string> | undefined, query: DocumentQuery): DocumentRow[] {
  if (!docs) return [];
  const rows = [...docs].map(([id, data]) => ({ id, data, doc: JSON.parse(data) as Record<string, unknown> }));
  return runQuery(rows, query).map(({ id, data }) => ({ id, data }));
}

/** Copy-on-write view of the state: a collection is copied the first time the transaction writes it. */
class Draft implements Transaction {
  private readonly docs: Map<string, Map<string, string>>;
  private readonly copied = new Set<string>();
  private readonly rows: Map<string, ProjectionRow>;
  private readonly collections: State['collections'];
  private readonly deadLetters: DeadLetter[];
  readonly documents: DocumentReader;

  constructor(
    base: State,
    private readonly readAllEvents: (page: AllPage) => Promise<readonly StoredEvent[]>,
  ) {
    this.docs = new Map(base.docs);
    this.rows = new Map(base.rows);
    this.collections = new Map(base.collections);
    this.deadLetters = [...base.deadLetters];
    this.documents = {
      get: (collection, id) => Promise.resolve(this.docs.get(collection)?.get(id)),
      find: (collection, query) => Promise.resolve(find(this.docs.get(collection), query)),
    };
  }

  result(): State {
    return { docs: this.docs, rows: this.rows, collections: this.collections, deadLetters: this.deadLetters };
  }

  private writable(collection: string): Map<string, string> {
    let docs = this.docs.get(collection);
    if (!this.copied.has(collection)) {
      docs = new Map(docs);
      this.docs.set(collection, docs);
      this.copied.add(collection);
    }
    return docs!;
  }

  put(collection: string, id: string, data: string): Promise<void> {
    this.writable(collection).set(id, data);
    return Promise.resolve();
  }

  delete(collection: string, id: string): Promise<boolean> {
    return Promise.resolve(this.docs.get(collection)?.has(id) === true && this.writable(collection).delete(id));
  }

  resolve(collection: string): Promise<string> {
    return Promise.resolve(resolve(this.result(), collection));
  }

  sql(): Promise<Record<string, unknown>[]> {
    return Promise.reject(new ConfigurationError('the memory store has no SQL: use documents, or a SQLite or PostgreSQL store'));
  }

  rowsOf(name: string): Promise<ProjectionRow[]> {
    return Promise.resolve([...this.rows.values()].filter((r) => r.name === name).sort((a, b) => a.generation - b.generation));
  }

  lockProjection(name: string, generation: number): Promise<ProjectionRow | undefined> {
    return Promise.resolve(this.rows.get(rowKey(name, generation)));
  }

  insertProjection(row: ProjectionRow): Promise<boolean> {
    const key = rowKey(row.name, row.generation);
    if (this.rows.has(key)) return Promise.resolve(false);
    this.rows.set(key, row);
    return Promise.resolve(true);
  }

  updateProjection(row: ProjectionRow): Promise<void> {
    this.rows.set(rowKey(row.name, row.generation), row);
    return Promise.resolve();
  }

  registerCollection(collection: string, projection: string, generation: number): Promise<void> {
    this.collections.set(physicalName(collection, generation), { collection, projection, generation });
    return Promise.resolve();
  }

  collectionOwner(collection: string, projection: string): Promise<string | undefined> {
    for (const owner of this.collections.values()) {
      if (owner.collection === collection && owner.projection !== projection) return Promise.resolve(owner.projection);
    }
    return Promise.resolve(undefined);
  }

  dropGeneration(projection: string, generation: number): Promise<void> {
    for (const [physical, owner] of [...this.collections]) {
      if (owner.projection !== projection || owner.generation !== generation) continue;
      this.collections.delete(physical);
      this.docs.delete(physical);
    }
    this.rows.delete(rowKey(projection, generation));
    return Promise.resolve();
  }

  deadLetter(entry: DeadLetter): Promise<void> {
    this.deadLetters.push(entry);
    return Promise.resolve();
  }

  lockAppends(): Promise<void> {
    return Promise.resolve();
  }

  readAll(page: AllPage): Promise<readonly StoredEvent[]> {
    return this.readAllEvents(page);
  }

  now(): Promise<number> {
    return Promise.resolve(Date.now());
  }
}
