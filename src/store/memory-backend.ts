import { compareCodePoints, type AllPage, type CorrelationPage, type InlineHook, type KnownEvent, type Outcome, type StoreBackend, type StoredEvent, type StoredSnapshot, type StreamHead, type StreamPage, type StreamsPage, type WriteRequest } from './backend.js';
import { MemoryProjections } from './memory-projections.js';
import { MemoryWorkflows } from './memory-workflows.js';
import { Mutex } from './mutex.js';
import { batchKeys, planBatch } from './plan.js';

/** Rows in arrays and maps; a batch is planned first and applied whole, so it is atomic. */
export class MemoryBackend implements StoreBackend {
  readonly shared = false;
  private readonly events: StoredEvent[] = [];
  private readonly byId = new Map<string, StoredEvent>();
  private readonly heads = new Map<string, StreamHead>();
  private readonly streams = new Map<string, StoredEvent[]>();
  /** Rows by correlation and by causation id, each list in position order: the SQL indexes. */
  private readonly correlations = new Map<string, StoredEvent[]>();
  private readonly causations = new Map<string, StoredEvent[]>();
  private readonly snapshots = new Map<string, StoredSnapshot[]>();
  private readonly mutex = new Mutex();
  readonly projections = new MemoryProjections(this.mutex, (page) => this.readAll(page));
  readonly workflows = new MemoryWorkflows();

  commit(requests: readonly WriteRequest[], inline?: InlineHook): Promise<readonly Outcome[]> {
    return this.mutex.run(async () => {
      const plan = this.plan(requests);
      // Inline projections run first, on a draft of the documents: if one throws, no event is kept either.
      if (inline && plan.rows.length > 0) await this.projections.within((tx) => inline(plan.rows, tx, plan.outcomes));
      this.apply(plan);
      return plan.outcomes;
    });
  }

  private plan(requests: readonly WriteRequest[]) {
    const { ids } = batchKeys(requests);
    const known = new Map<string, KnownEvent>();
    for (const id of ids) {
      const event = this.byId.get(id);
      if (event) known.set(id, event);
    }
    return planBatch(requests, this.heads, known, BigInt(this.events.length + 1), Date.now());
  }

  private apply(plan: ReturnType<typeof planBatch>): void {
    for (const row of plan.rows) {
      this.events.push(row);
      this.byId.set(row.id, row);
      listIn(this.streams, row.stream).push(row);
      if (row.correlationId !== null) listIn(this.correlations, row.correlationId).push(row);
      if (row.causationId !== null) listIn(this.causations, row.causationId).push(row);
    }
    for (const head of plan.heads) this.heads.set(head.stream, head);
  }

  streamHead(stream: string): Promise<StreamHead | undefined> {
    return Promise.resolve(this.heads.get(stream));
  }

  listStreams(page: StreamsPage): Promise<readonly StreamHead[]> {
    const names = [...this.streams.keys()].filter((name) => name.startsWith(page.prefix) && compareCodePoints(name, page.after) > 0);
    names.sort(compareCodePoints);
    return Promise.resolve(names.slice(0, page.limit).map((name) => this.heads.get(name)!));
  }

  readStream(stream: string, page: StreamPage): Promise<readonly StoredEvent[]> {
    const events = this.streams.get(stream) ?? [];
    const out: StoredEvent[] = [];
    const step = page.direction === 'forward' ? 1 : -1;
    for (let v = page.direction === 'forward' ? page.from : page.to; v >= page.from && v <= page.to && out.length < page.limit; v += step) {
      const event = events[v - 1];
      if (event && (page.until === undefined || event.recordedAt <= page.until)) out.push(event);
    }
    return Promise.resolve(out);
  }

  readAll(page: AllPage): Promise<readonly StoredEvent[]> {
    const out: StoredEvent[] = [];
    const types = page.types && new Set(page.types);
    for (let i = Number(page.after); i < this.events.length && out.length < page.limit; i++) {
      const event = this.events[i]!;
      if (types && !types.has(event.type)) continue;
      if (page.streamPrefix !== undefined && !event.stream.startsWith(page.streamPrefix)) continue;
      out.push(event);
    }
    return Promise.resolve(out);
  }

  eventsById(ids: readonly string[]): Promise<readonly StoredEvent[]> {
    return Promise.resolve(ids.flatMap((id) => this.byId.get(id) ?? []));
  }

  byCorrelation(id: string, page: CorrelationPage): Promise<readonly StoredEvent[]> {
    const rows = this.correlations.get(id) ?? [];
    // The list is in position order: a binary search finds the first row after `after`.
    let low = 0;
    let high = rows.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (rows[mid]!.position <= page.after) low = mid + 1;
      else high = mid;
    }
    return Promise.resolve(rows.slice(low, low + page.limit));
  }

  byCausation(ids: readonly string[], limit: number): Promise<readonly StoredEvent[]> {
    const rows = [...new Set(ids)].flatMap((id) => this.causations.get(id) ?? []);
    rows.sort((a, b) => (a.position < b.position ? -1 : 1));
    return Promise.resolve(rows.slice(0, limit));
  }

  writeSnapshot(snapshot: StoredSnapshot): Promise<void> {
    const key = `${snapshot.stream}\u0000${snapshot.name}`;
    const list = (this.snapshots.get(key) ?? []).filter((s) => s.version !== snapshot.version);
    list.push(snapshot);
    list.sort((a, b) => a.version - b.version);
    this.snapshots.set(key, list);
    return Promise.resolve();
  }

  readSnapshot(stream: string, name: string, upTo: number, until: number): Promise<StoredSnapshot | undefined> {
    const list = this.snapshots.get(`${stream}\u0000${name}`) ?? [];
    return Promise.resolve(list.findLast((s) => s.version <= upTo && s.eventTime <= until));
  }

  headPosition(): Promise<bigint> {
    return Promise.resolve(BigInt(this.events.length));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

function listIn<T>(map: Map<string, T[]>, key: string): T[] {
  let list = map.get(key);
  if (!list) map.set(key, (list = []));
  return list;
}
