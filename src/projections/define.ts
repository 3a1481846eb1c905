import { ConfigurationError } from '../events/errors.js';
import type { RecordedEvent } from '../events/types.js';
import type { DocumentCollection, DocumentData } from './documents.js';
import { checkCollection } from './documents.js';
import { checkField } from './query.js';

/** What a projection's handler works with: all of it inside the batch's (or the append's) transaction. */
export interface ProjectionContext {
  /** A collection of this projection's documents. */
  readonly documents: <T extends object = DocumentData>(collection: string) => DocumentCollection<T>;
  /**
   * Plain SQL in the same transaction, for tables of your own: `?` placeholders on SQLite, `$1` on
   * PostgreSQL. Returns the rows of a query (none for other statements). The memory store has none.
   */
  readonly sql: (text: string, params?: readonly unknown[]) => Promise<Record<string, unknown>[]>;
  /** The projection's name. */
  readonly projection: string;
}

/** What a reactor's handler gets besides the event. */
export interface ReactorContext {
  readonly reactor: string;
  /** Aborted when the daemon closes: stop long work early (the event comes again). */
  readonly signal: AbortSignal;
}

/** When a handler keeps failing. */
export interface FailurePolicy {
  /** Tries per event before giving up. Default 5. */
  readonly retries?: number;
  /**
   * `'stop'` (default): the projection stops in state `failed`, naming the event, until restarted.
   * `'dead-letter'`: the event is recorded in the dead letters and the projection goes on.
   */
  readonly onFailure?: 'stop' | 'dead-letter';
}

export interface ProjectionDefinition<E extends RecordedEvent = RecordedEvent> extends FailurePolicy {
  readonly kind: 'projection';
  readonly name: string;
  /** Change it when `handle` changes what it writes: the projection is rebuilt, blue/green. */
  readonly version: number;
  /** The event types it handles; others are never read for it. Default: every event. */
  readonly types?: readonly E['type'][];
  /** Top-level fields `find` filters or sorts on, per collection: indexed on SQL stores. */
  readonly indexes?: Readonly<Record<string, readonly string[]>>;
  handle(event: E, context: ProjectionContext): Promise<void> | void;
}

export interface ReactorDefinition<E extends RecordedEvent = RecordedEvent> extends FailurePolicy {
  readonly kind: 'reactor';
  readonly name: string;
  readonly types?: readonly E['type'][];
  /** Side effects outside the store, at least once per event: use `event.id` as the idempotency key. */
  handle(event: E, context: ReactorContext): Promise<void> | void;
}

export type Runnable<E extends RecordedEvent = RecordedEvent> = ProjectionDefinition<E> | ReactorDefinition<E>;

const NAME = /^[A-Za-z0-9_.:-]{1,100}$/;

function checkCommon(input: { name?: unknown; types?: unknown; retries?: unknown; onFailure?: unknown; handle?: unknown }, what: string): void {
  if (typeof input.name !== 'string' || !NAME.test(input.name)) throw new ConfigurationError(`a ${what} needs a name of 1–100 letters, digits, _ . : -`);
  if (typeof input.handle !== 'function') throw new ConfigurationError(`${what} "${input.name}" needs a handle(event, context) function`);
  if (input.types !== undefined && (!Array.isArray(input.types) || !input.types.every((t) => typeof t === 'string' && t !== ''))) {
    throw new ConfigurationError(`${what} "${input.name}": types must be an array of event type names`);
  }
  if (input.retries !== undefined && (!Number.isSafeInteger(input.retries) || (input.retries as number) < 1 || (input.retries as number) > 1000)) {
    throw new ConfigurationError(`${what} "${input.name}": retries must be an integer from 1 to 1000`);
  }
  if (input.onFailure !== undefined && input.onFailure !== 'stop' && input.onFailure !== 'dead-letter') {
    throw new ConfigurationError(`${what} "${input.name}": onFailure must be 'stop' or 'dead-letter'`);
  }
}

/** A read model kept from events: inline (in the append's transaction) or by `startProjections`. */
export function defineProjection<E extends RecordedEvent = RecordedEvent>(definition: Omit<ProjectionDefinition<E>, 'kind'>): ProjectionDefinition<E> {
  checkCommon(definition, 'projection');
  const { version, indexes } = definition;
  if (!Number.isSafeInteger(version) || version < 1 || version > 2 ** 31 - 1) throw new ConfigurationError(`projection "${definition.name}": version must be a positive integer`);
  if (indexes !== undefined) {
    if (typeof indexes !== 'object' || indexes === null) throw new ConfigurationError(`projection "${definition.name}": indexes must be { collection: [fields] }`);
    for (const [name, fields] of Object.entries(indexes)) {
      checkCollection(name);
      if (!Array.isArray(fields)) throw new ConfigurationError(`projection "${definition.name}": indexes.${name} must be an array of field names`);
      for (const f of fields) checkField(String(f), ['indexes', name]);
    }
  }
  return Object.freeze({ ...definition, kind: 'projection' as const });
}

/** Side effects from events (emails, calls to other services): at least once, with the same failure policy. */
export function defineReactor<E extends RecordedEvent = RecordedEvent>(definition: Omit<ReactorDefinition<E>, 'kind'>): ReactorDefinition<E> {
  checkCommon(definition, 'reactor');
  return Object.freeze({ ...definition, kind: 'reactor' as const });
}

export function isRunnable(value: unknown): value is Runnable {
  const kind = (value as { kind?: unknown } | null)?.kind;
  return typeof value === 'object' && value !== null && (kind === 'projection' || kind === 'reactor');
}

/** Every field named in the definitions' indexes. */
export function indexedFields(definitions: readonly Runnable[]): string[] {
  const fields = new Set<string>();
  for (const d of definitions) if (d.kind === 'projection') for (const list of Object.values(d.indexes ?? {})) for (const f of list) fields.add(f);
  return [...fields];
}

/** Takes a reactor's whole batch at once, for work that pipelines (a relay awaiting broker acks). */
export type BatchHandler = (events: readonly RecordedEvent[], context: ReactorContext) => Promise<void>;

const batchHandlers = new WeakMap<object, BatchHandler>();

/** A reactor whose batches go to `handler` in one call instead of to `handle` one by one. */
export function withBatchHandler<E extends RecordedEvent>(definition: ReactorDefinition<E>, handler: BatchHandler): ReactorDefinition<E> {
  const copy = Object.freeze({ ...definition });
  batchHandlers.set(copy, handler);
  return copy;
}

export function batchHandlerOf(definition: Runnable): BatchHandler | undefined {
  return batchHandlers.get(definition);
}

/** Thrown by a batch handler: event `index` failed, and every event before it is done. */
export class BatchFailure extends Error {
  constructor(
    readonly index: number,
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}
