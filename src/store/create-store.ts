import { ConfigurationError, StoreClosedError, StreamDeletedError, ValidationError, isStoreUnavailableError } from '../events/errors.js';
import { isUuid } from '../events/uuid.js';
import type { DefinedEvents, EventOf, NewEventOf } from '../events/definitions.js';
import type { ExpectedVersion, NewEvent, RecordedEvent } from '../events/types.js';
import { checkExpectedVersion, checkOptions, checkStreamName, prepareEvents } from '../events/validate.js';
import { MAX_POSITION, type Outcome, type StoreBackend, type StoredEvent, type WriteRequest } from './backend.js';
import { ChangeFeed } from './change-feed.js';
import { currentContext, inheritContext } from '../context/message-context.js';
import { decodeEvent } from './decode.js';
import { silentLogger, type Logger } from '../observability/logger.js';
import { tracedAppend, tracedPage } from '../observability/spans.js';
import { position, traceCarrier } from '../observability/telemetry.js';
import type {
  AppendOptions,
  AppendResult,
  CausationChain,
  CausationChainOptions,
  CorrelatedOptions,
  DeleteStreamOptions,
  EventStore,
  ListStreamsOptions,
  ReadAllOptions,
  ReadStreamOptions,
  Snapshot,
  StreamInfo,
  StreamSummary,
  SubscribeOptions,
} from './event-store.js';
import { GroupCommitter } from './group-commit.js';
import { allReadOptions, chainReadOptions, correlatedReadOptions, streamReadOptions, streamsReadOptions } from './read-options.js';
import { causationChain } from './causation.js';
import type { InlineHook } from './backend.js';
import { indexedFields, type ProjectionDefinition } from '../projections/define.js';
import { storeCollection, type DocumentCollection, type DocumentData } from '../projections/documents.js';
import { checkInline, inlineHook } from '../projections/inline.js';
import { registerInternals, type AtomicAppend, type ImportedEvent } from '../projections/internals.js';
import type { Transaction } from '../projections/backend.js';
import { refuseInHandler } from '../projections/handler-scope.js';

/** Options every store takes, whatever its adapter. */
export interface StoreOptions {
  /** Event definitions: data is validated on append and upcast on every read. */
  readonly events?: DefinedEvents;
  /** A pino-compatible logger. Default: silent. */
  readonly logger?: Logger;
  /** Largest event accepted, in bytes of serialized data plus metadata. Default 1 MiB. */
  readonly maxEventSize?: number;
  /** Events held in memory per page while reading. Default 500. */
  readonly pageSize?: number;
  /**
   * How often a live subscription looks for events written by other processes, in ms. Default 50
   * on SQLite; 500 on PostgreSQL, where LISTEN/NOTIFY wakes subscriptions and polling is a fallback.
   */
  readonly pollInterval?: number;
  /** Group commit: most appends in one transaction. Default 1,000. */
  readonly maxBatchAppends?: number;
  /** Group commit: most events in one transaction. Default 10,000. */
  readonly maxBatchEvents?: number;
  /** Projections applied in each append's own transaction: `{ inline: [orders] }`. */
  readonly projections?: { readonly inline?: readonly Pick<ProjectionDefinition, 'kind' | 'name' | 'version'>[] };
}

const DEFAULT_POLL_INTERVAL = 50;
/** No later version or time: versions are 32-bit in the databases; the last instant a Date holds. */
const MAX_VERSION = 2 ** 31 - 1;
const MAX_TIME = 8.64e15;
/** A subscription whose database is unavailable tries again after 100 ms, doubling up to this. */
const MAX_RETRY_WAIT = 5000;

const DEFAULTS = {
  maxEventSize: 1024 * 1024,
  pageSize: 500,
  maxBatchAppends: 1000,
  maxBatchEvents: 10_000,
} as const;

// Timers take at most 2^31 - 1 ms; no option has a use beyond that.
const MAX_SETTING = 2 ** 31 - 1;

type Settings = Required<Omit<StoreOptions, 'pollInterval' | 'events' | 'logger' | 'projections'>> & Pick<StoreOptions, 'pollInterval'>;
const SETTING_KEYS = ['maxEventSize', 'pageSize', 'pollInterval', 'maxBatchAppends', 'maxBatchEvents'] as const;

function settings(options: StoreOptions): Settings {
  if (typeof options !== 'object' || options === null) throw new ConfigurationError('store options must be an object');
  const given: Partial<Record<(typeof SETTING_KEYS)[number], number>> = {};
  for (const key of SETTING_KEYS) {
    const value = options[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 1 || value > MAX_SETTING) {
      throw new ConfigurationError(`option ${key} must be an integer from 1 to ${MAX_SETTING}, got ${String(value)}`);
    }
    given[key] = value;
  }
  return { ...DEFAULTS, ...given };
}

/** The events of a store opened with these options: the defined union, or any event. */
export type EventsOf<O> = O extends { readonly events: infer D } ? (D extends DefinedEvents ? EventOf<D> : RecordedEvent) : RecordedEvent;

/** The events a store opened with these options takes. */
export type NewEventsOf<O> = O extends { readonly events: infer D } ? (D extends DefinedEvents ? NewEventOf<D> : NewEvent) : NewEvent;

/** The store that these options open. */
export type StoreFor<O> = EventStore<EventsOf<O>, NewEventsOf<O>>;

/** Builds the public store on an adapter's backend: every rule of the contract lives here, once. */
export function createStore<O extends StoreOptions>(backend: StoreBackend, options?: O): StoreFor<O> {
  const events = options?.events;
  if (events !== undefined && typeof events.upcast !== 'function') {
    throw new ConfigurationError('events must come from defineEvents(...)');
  }
  const logger = options?.logger ?? silentLogger;
  if (typeof logger.warn !== 'function' || typeof logger.error !== 'function') throw new ConfigurationError('logger must have pino-like methods');
  const given = options?.projections;
  if (given !== undefined && (typeof given !== 'object' || given === null)) throw new ConfigurationError('projections must be { inline: [...] }');
  const inline = given?.inline === undefined ? [] : checkInline(given.inline);
  return new CoreStore(backend, settings(options === undefined ? {} : options), events, logger, inline) as unknown as StoreFor<O>;
}

class CoreStore implements EventStore {
  private readonly committer: GroupCommitter;
  private readonly feed: ChangeFeed;
  private closing: Promise<void> | undefined;
  private readonly untracked = new Set<Promise<unknown>>();

  private readonly decode: (row: StoredEvent) => RecordedEvent;
  private readonly inline: InlineHook | undefined;
  /** Indexes of the inline projections, made before the first append. */
  private ready: Promise<void> | undefined;

  constructor(
    private readonly backend: StoreBackend,
    private readonly settings: Settings,
    private readonly events: DefinedEvents | undefined,
    readonly logger: Logger,
    inline: readonly ProjectionDefinition[],
  ) {
    this.decode = events ? (row) => events.upcast(decodeEvent(row)) : decodeEvent;
    this.inline = inline.length > 0 ? inlineHook(this, inline, this.decode) : undefined;
    const fields = indexedFields(inline);
    if (fields.length > 0) {
      this.ready = backend.projections.ensureIndexes(fields);
      // Appends wait for it and fail with its error; until one does, nobody else is listening.
      this.ready.catch(() => {});
    }
    registerInternals(this, {
      store: this,
      backend,
      decode: this.decode,
      waitForCommit: (seen, signal, timeout) => this.feed.wait(seen, signal, timeout),
      logger,
      closed: () => this.closing !== undefined,
      importAppend: (stream, events, expectedVersion) => this.importAppend(stream, events, expectedVersion),
      appendAtomically: (appends, work) => this.track(this.appendAtomically(appends, work)),
    });
    this.committer = new GroupCommitter((requests) => this.commit(requests), {
      maxRequests: settings.maxBatchAppends,
      maxEvents: settings.maxBatchEvents,
    });
    this.feed = new ChangeFeed({
      pollInterval: settings.pollInterval ?? backend.pollInterval ?? DEFAULT_POLL_INTERVAL,
      ...(backend.shared ? { poll: () => backend.headPosition() } : {}),
      ...(backend.watch ? { watch: (onCommit) => backend.watch!(onCommit) } : {}),
    });
  }

  private async commit(requests: Parameters<StoreBackend['commit']>[0]) {
    if (this.ready) await this.ready;
    const outcomes = await this.backend.commit(requests, this.inline);
    for (const outcome of outcomes) if (outcome.ok === true) this.feed.advance(outcome.result.position);
    return outcomes;
  }

  append(stream: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult> {
    // A span per call; the events get its trace context in their metadata (observability/spans.ts).
    return tracedAppend(stream, events, (traced) => this.appendTraced(stream, traced, options));
  }

  private async appendTraced(stream: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult> {
    this.checkOpen();
    refuseInHandler(this, 'append');
    checkStreamName(stream);
    const expectedVersion = checkExpectedVersion(checkOptions(options).expectedVersion);
    // Taken now: the append keeps the context it was called in, whatever batch it commits with.
    const inherited = inheritContext(events, currentContext());
    const input = this.events && Array.isArray(inherited) ? await this.events.validate(inherited) : inherited;
    const prepared = prepareEvents(stream, input, this.settings.maxEventSize, this.events?.versionOf);
    this.checkOpen(); // schemas may validate asynchronously: the store may have closed meanwhile
    return this.committer.submit({ kind: 'append', stream, events: prepared, expectedVersion });
  }

  /** See `StoreInternals.appendAtomically`. Between group commits: its transaction is its own. */
  private async appendAtomically(appends: readonly AtomicAppend[], work: (tx: Transaction) => Promise<void>): Promise<void> {
    this.checkOpen();
    const requests: WriteRequest[] = [];
    const ids = new Set<string>();
    const trace = traceCarrier();
    for (const [i, append] of appends.entries()) {
      checkStreamName(append.stream);
      const expectedVersion = checkExpectedVersion(checkOptions(append.options).expectedVersion);
      const inherited = inheritContext(trace ? inheritContext(append.events, trace) : append.events, currentContext());
      const input = this.events && Array.isArray(inherited) ? await this.events.validate(inherited) : inherited;
      const events = prepareEvents(append.stream, input, this.settings.maxEventSize, this.events?.versionOf);
      for (const e of events) {
        if (ids.has(e.id)) throw new ValidationError([{ path: ['appends', i, 'events'], message: `id ${e.id} appears in two appends` }]);
        ids.add(e.id);
      }
      requests.push({ kind: 'append', stream: append.stream, events, expectedVersion });
    }
    this.checkOpen();
    if (requests.length === 0) return this.backend.projections.transaction(work);
    if (this.ready) await this.ready;
    let done = false;
    const outcomes = await this.committer.exclusive(() =>
      this.backend.commit(requests, async (rows, tx, outcomes) => {
        throwRefused(outcomes);
        if (this.inline) await this.inline(rows, tx, outcomes);
        await work(tx);
        done = true;
      }),
    );
    throwRefused(outcomes);
    for (const outcome of outcomes) if (outcome.ok === true) this.feed.advance(outcome.result.position);
    // Nothing new to write (no events, or all stored before): the work commits on its own.
    if (!done) await this.backend.projections.transaction(work);
  }

  /** Keeps `close` waiting for work that does not go through group commit. */
  private track<T>(work: Promise<T>): Promise<T> {
    this.untracked.add(work);
    const untrack = () => this.untracked.delete(work);
    work.then(untrack, untrack);
    return work;
  }

  /** See `StoreInternals.importAppend`: the checks of an append, with the given versions and times. */
  private importAppend(stream: string, events: readonly ImportedEvent[], expectedVersion: ExpectedVersion): Promise<AppendResult> {
    this.checkOpen();
    checkStreamName(stream);
    // Moved events keep their metadata even when it predates the checks on correlation ids.
    const prepared = prepareEvents(stream, events.map((e) => ({ id: e.id, type: e.type, data: e.data, ...(e.metadata ? { metadata: e.metadata } : {}) })), this.settings.maxEventSize, undefined, 'keep');
    const issues = events.flatMap((e, i) => [
      ...(Number.isSafeInteger(e.schemaVersion) && e.schemaVersion >= 1 ? [] : [{ path: ['events', i, 'schemaVersion'], message: 'must be an integer ≥ 1' }]),
      ...(Number.isSafeInteger(e.recordedAt) && e.recordedAt >= 0 ? [] : [{ path: ['events', i, 'recordedAt'], message: 'must be a time' }]),
    ]);
    if (issues.length > 0) throw new ValidationError(issues);
    const moved = prepared.map((p, i) => ({ ...p, schemaVersion: events[i]!.schemaVersion, recordedAt: events[i]!.recordedAt }));
    return this.committer.submit({ kind: 'append', stream, events: moved, expectedVersion: checkExpectedVersion(expectedVersion) });
  }

  async deleteStream(stream: string, options?: DeleteStreamOptions): Promise<void> {
    this.checkOpen();
    refuseInHandler(this, 'deleteStream');
    checkStreamName(stream);
    const expectedVersion = checkExpectedVersion(checkOptions(options).expectedVersion);
    await this.committer.submit({ kind: 'delete', stream, expectedVersion });
  }

  async streamInfo(stream: string): Promise<StreamInfo> {
    this.checkOpen();
    checkStreamName(stream);
    const head = await this.backend.streamHead(stream);
    if (!head) return { version: 0, deleted: false };
    return { version: head.version, deleted: head.deleted, createdAt: new Date(head.createdAt), updatedAt: new Date(head.updatedAt) };
  }

  listStreams(options?: ListStreamsOptions): AsyncIterable<StreamSummary> {
    this.checkOpen();
    return this.streamListPages(streamsReadOptions(options));
  }

  private async *streamListPages(read: ReturnType<typeof streamsReadOptions>): AsyncGenerator<StreamSummary> {
    let { after, limit: left } = read;
    while (left > 0) {
      const limit = Math.min(left, this.settings.pageSize);
      this.checkOpen();
      const page = await this.backend.listStreams({ after, prefix: read.prefix, limit });
      for (const h of page) {
        this.checkOpen();
        yield { stream: h.stream, version: h.version, position: h.position, deleted: h.deleted, createdAt: new Date(h.createdAt), updatedAt: new Date(h.updatedAt) };
      }
      left -= page.length;
      if (page.length < limit) return;
      after = page.at(-1)!.stream;
    }
  }

  async getEvents(ids: readonly string[]): Promise<RecordedEvent[]> {
    this.checkOpen();
    const given: unknown = ids;
    if (!Array.isArray(given) || !given.every((id): id is string => typeof id === 'string')) {
      throw new ValidationError([{ path: ['ids'], message: 'must be an array of strings' }]);
    }
    // A string that is not a UUID cannot be an id: no need to ask the database (which may refuse it).
    const wanted = [...new Set(given.filter(isUuid).map((id) => id.toLowerCase()))];
    if (wanted.length === 0) return [];
    const rows = await this.backend.eventsById(wanted);
    return [...rows].sort((a, b) => (a.position < b.position ? -1 : 1)).map(this.decode);
  }

  correlated(correlationId: string, options?: CorrelatedOptions): AsyncIterable<RecordedEvent> {
    this.checkOpen();
    const read = correlatedReadOptions(correlationId, options);
    return this.pagesAfter(read, (after, limit) => this.backend.byCorrelation(correlationId, { after, limit }));
  }

  async causationChain(eventId: string, options?: CausationChainOptions): Promise<CausationChain | undefined> {
    this.checkOpen();
    const { limit } = chainReadOptions(eventId, options);
    // Like getEvents: a string that is not a UUID is no event's id.
    if (!isUuid(eventId)) return undefined;
    return causationChain(this.backend, this.decode, eventId.toLowerCase(), limit);
  }

  async writeSnapshot(snapshot: Snapshot): Promise<void> {
    this.checkOpen();
    refuseInHandler(this, 'writeSnapshot');
    checkStreamName(snapshot.stream);
    const ok = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;
    if (typeof snapshot.name !== 'string' || !ok(snapshot.version) || !ok(snapshot.schemaVersion) || typeof snapshot.state !== 'string' || !(snapshot.eventTime instanceof Date)) {
      throw new ValidationError([{ path: ['snapshot'], message: 'needs stream, name, version, schemaVersion, state (JSON text) and eventTime' }]);
    }
    await this.backend.writeSnapshot({ ...snapshot, eventTime: snapshot.eventTime.getTime() });
  }

  documents<T extends object = DocumentData>(collection: string): DocumentCollection<T> {
    this.checkOpen();
    return storeCollection<T>(this.backend.projections, collection, () => this.checkOpen(), () => refuseInHandler(this, 'a write through store.documents'));
  }

  async readSnapshot(stream: string, name: string, options?: { readonly version?: number; readonly at?: Date }): Promise<Snapshot | undefined> {
    this.checkOpen();
    checkStreamName(stream);
    const o = checkOptions(options);
    const found = await this.backend.readSnapshot(
      stream,
      String(name),
      typeof o.version === 'number' ? Math.min(o.version, MAX_VERSION) : MAX_VERSION,
      o.at instanceof Date ? o.at.getTime() : MAX_TIME,
    );
    return found && { ...found, eventTime: new Date(found.eventTime) };
  }

  readStream(stream: string, options?: ReadStreamOptions): AsyncIterable<RecordedEvent> {
    this.checkOpen();
    checkStreamName(stream);
    const read = streamReadOptions(options);
    return this.streamPages(stream, read);
  }

  private async *streamPages(stream: string, read: ReturnType<typeof streamReadOptions>): AsyncGenerator<RecordedEvent> {
    this.checkOpen();
    const head = await this.backend.streamHead(stream);
    if (head?.deleted) throw new StreamDeletedError(stream);
    if (!head) return;
    const forward = read.direction === 'forward';
    let low = Math.max(read.from, 1);
    let high = Math.min(read.to, head.version);
    let left = read.limit;
    // Versions have no gaps, so each page asks for a version range no wider than a page: the
    // database never looks at more rows than it returns, whatever plan it picks.
    const size = this.settings.pageSize;
    while (low <= high && left > 0) {
      const from = forward ? low : Math.max(low, high - size + 1);
      const to = forward ? Math.min(high, low + size - 1) : high;
      this.checkOpen();
      const page = await tracedPage('factline.read_stream', { 'factline.stream.name': stream, 'factline.read.from': from, 'factline.read.to': to }, () =>
        this.backend.readStream(stream, { ...read, from, to, limit: Math.min(left, size) }),
      );
      for (const row of page) {
        this.checkOpen();
        yield this.decode(row);
      }
      left -= page.length;
      if (forward) low = to + 1;
      else high = from - 1;
    }
  }

  readAll(options?: ReadAllOptions): AsyncIterable<RecordedEvent> {
    this.checkOpen();
    return this.allPages(allReadOptions(options));
  }

  private allPages(read: ReturnType<typeof allReadOptions>): AsyncGenerator<RecordedEvent> {
    return this.pagesAfter(read, (after, limit) =>
      tracedPage('factline.read_all', { 'factline.read.after': position(after), 'factline.read.limit': limit }, () => this.backend.readAll({ ...read, after, limit })),
    );
  }

  /** Events after `read.after`, at most `read.limit`, fetched `pageSize` at a time in position order. */
  private async *pagesAfter(
    read: { readonly after: bigint; readonly limit: number },
    fetch: (after: bigint, limit: number) => Promise<readonly StoredEvent[]>,
  ): AsyncGenerator<RecordedEvent> {
    let { after, limit: left } = read;
    while (left > 0) {
      const limit = Math.min(left, this.settings.pageSize);
      this.checkOpen();
      const page = await fetch(after, limit);
      for (const row of page) {
        this.checkOpen();
        yield this.decode(row);
      }
      left -= page.length;
      if (page.length < limit) return;
      after = page.at(-1)!.position;
    }
  }


  subscribe(options?: SubscribeOptions): AsyncIterable<RecordedEvent> {
    this.checkOpen();
    const read = allReadOptions(options);
    return this.live(read, options?.signal);
  }

  /**
   * A subscription: reads the committed log up to its head, again and again, sleeping in between
   * until the head moves. When the database is unavailable (a dropped connection, say) it waits
   * and reads again from the last position it delivered: nothing is lost and nothing repeated.
   */
  private async *live(read: ReturnType<typeof allReadOptions>, signal: AbortSignal | undefined): AsyncGenerator<RecordedEvent> {
    const stopped = () => this.closing !== undefined || signal?.aborted === true;
    let after = read.after;
    let failures = 0;
    while (!stopped()) {
      try {
        // Positions become visible in order, so a read from `after` skips nothing. The head, read
        // first, tells how far a short page has looked when the filters matched nothing there.
        const head = await this.backend.headPosition();
        while (after < head && !stopped()) {
          const page = await this.backend.readAll({ ...read, after, limit: this.settings.pageSize });
          for (const row of page) {
            if (stopped()) return;
            yield this.decode(row);
            after = row.position;
          }
          if (page.length < this.settings.pageSize && after < head) after = head;
          // A turn of the event loop between pages: on SQLite reads answer at once, and a long
          // catch-up would otherwise hold the process until it is done.
          else await new Promise((resolve) => setImmediate(resolve));
        }
        failures = 0;
      } catch (error) {
        if (!isStoreUnavailableError(error)) throw error;
        failures++;
        await this.feed.wait(MAX_POSITION, signal, Math.min(MAX_RETRY_WAIT, 50 * 2 ** failures));
        continue;
      }
      await this.feed.wait(after, signal);
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.feed.close();
      await this.committer.flushed();
      await Promise.allSettled(this.untracked);
      await this.backend.close();
    })();
    return this.closing;
  }

  private checkOpen(): void {
    if (this.closing) throw new StoreClosedError();
  }
}

/** The error of the first append a batch refused. */
function throwRefused(outcomes: readonly Outcome[]): void {
  for (const outcome of outcomes) {
    if (outcome.ok === false) throw outcome.error;
    // Only an id given twice defers a request, and the appends were checked for that.
    if (outcome.ok === 'deferred') throw new ConfigurationError('an append was deferred in an atomic commit');
  }
}
