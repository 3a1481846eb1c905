import { ValidationError, isConcurrencyError } from '../events/errors.js';
import type { ExpectedVersion, Metadata, RecordedEvent } from '../events/types.js';
import { findNonJson } from '../events/json.js';
import { checkOptions } from '../events/validate.js';
import type { NewEventFor } from '../store/event-store.js';
import { nextCommandKey } from '../workflows/step-scope.js';
import { currentContext, withContext } from '../context/message-context.js';
import { uuidv7 } from '../events/uuid.js';
import type { Span } from '@opentelemetry/api';
import { tracedHandle } from '../observability/spans.js';
import { commandEventId, commandEventIds } from './command-ids.js';
import { snapshotName, type Decider } from './decider.js';
import { load, type DeciderStore, type StoreOf } from './load.js';

export interface HandleOptions {
  /** Default: the version `handle` loaded. Given explicitly, a conflict is not retried. */
  readonly expectedVersion?: ExpectedVersion;
  /** Added to every appended event's metadata (an event's own metadata wins). */
  readonly metadata?: Metadata;
  /** How often to load and decide again after a `ConcurrencyError`. Default 3. */
  readonly retries?: number;
  /**
   * Makes the command idempotent: its events get ids derived from the key, and a command whose
   * events are already in the stream returns its original result without deciding again. Inside a
   * workflow step, a key derived from the step's `idempotencyKey` is used when none is given.
   */
  readonly idempotencyKey?: string;
}

export interface Handled<S, E extends RecordedEvent = RecordedEvent> {
  /** The state right after the command's events. */
  readonly state: S;
  /** The events the command appended, as recorded. */
  readonly events: readonly E[];
  readonly version: number;
  readonly position: bigint;
}

const DEFAULT_RETRIES = 3;

/**
 * Runs a command: loads the stream's state, decides, appends with the loaded version as expected
 * version, and on a conflict loads and decides again, up to `retries` times. A domain error thrown
 * by `decide` reaches the caller unchanged, and nothing is appended.
 */
export async function handle<S, C, E extends RecordedEvent>(
  untyped: StoreOf<E>,
  stream: string,
  decider: Decider<S, C, E>,
  command: C,
  options?: HandleOptions,
): Promise<Handled<S, E>> {
  const store = untyped as DeciderStore<E>;
  const { expectedVersion, metadata, retries, idempotencyKey } = checkHandleOptions(options);
  // Inside a workflow step, a command without a key of its own gets one from the step's.
  const key = idempotencyKey ?? nextCommandKey();
  return tracedHandle(stream, async (span) => {
    // A command handled where no message is being handled starts a correlation of its own, and is
    // the cause of its events. Its id comes from its key when it has one: a run again appends the
    // same events, metadata and all.
    const outer = currentContext();
    if (outer?.causationId !== undefined) return run(store, stream, decider, command, { expectedVersion, metadata, retries, key, span });
    const commandId = key === undefined ? uuidv7() : (await commandEventIds(stream, `${key}#command`, 1))[0]!;
    span.setAttribute('factline.command.id', commandId);
    return withContext({ correlationId: outer?.correlationId ?? commandId, causationId: commandId }, () =>
      run(store, stream, decider, command, { expectedVersion, metadata, retries, key, span }),
    );
  });
}

async function run<S, C, E extends RecordedEvent>(
  store: DeciderStore<E>,
  stream: string,
  decider: Decider<S, C, E>,
  command: C,
  { expectedVersion, metadata, retries, key, span }: { expectedVersion: ExpectedVersion | undefined; metadata: Metadata | undefined; retries: number; key: string | undefined; span: Span },
): Promise<Handled<S, E>> {
  if (key !== undefined) {
    const done = await alreadyHandled(store, stream, decider, key);
    if (done) return handled(span, done, 0);
  }
  for (let attempt = 0; ; attempt++) {
    span.setAttribute('factline.handle.attempts', attempt + 1);
    const loaded = await load(store, stream, decider);
    try {
      const decided = toArray(decider.decide(command, loaded.state));
      const ids = key === undefined ? undefined : await commandEventIds(stream, key, decided.length);
      const events = decided.map((e, i) => ({
        ...e,
        ...(ids ? { id: ids[i] } : {}),
        ...(metadata || e.metadata ? { metadata: { ...metadata, ...e.metadata } } : {}),
      })) as NewEventFor<E>[];
      const result = await store.append(stream, events, { expectedVersion: expectedVersion ?? loaded.version });
      const first = result.version - events.length + 1;
      const recorded = await readRange(store, stream, first, result.version);
      // The events follow the loaded state, unless the store answered a replay of events stored
      // earlier (same ids): then the state is the one right after them.
      const extended = first === loaded.version + 1;
      const state = extended ? recorded.reduce(decider.evolve, loaded.state) : (await load(store, stream, decider, { version: result.version })).state;
      if (extended && recorded.length > 0) await saveSnapshot(store, stream, decider, loaded.version, state, recorded.at(-1)!);
      return handled(span, { state, events: recorded, version: result.version, position: result.position }, recorded.length);
    } catch (error) {
      // Another run of the same command may have landed since the first look: a refusal, a
      // conflict or a duplicate id then only says so. Its result is the answer.
      if (key !== undefined) {
        const done = await alreadyHandled(store, stream, decider, key);
        if (done) return handled(span, done, 0);
      }
      if (!isConcurrencyError(error) || expectedVersion !== undefined || attempt >= retries) throw error;
    }
  }
}

/** The result, its figures on the span: the events this call appended (none for a replay), the version. */
function handled<T extends { readonly version: number }>(span: Span, result: T, appended: number): T {
  span.setAttributes({ 'factline.event.count': appended, 'factline.stream.version': result.version });
  return result;
}

/** The original result of a command whose events (ids derived from its key) are already stored. */
async function alreadyHandled<S, C, E extends RecordedEvent>(
  store: DeciderStore<E>,
  stream: string,
  decider: Decider<S, C, E>,
  key: string,
): Promise<Handled<S, E> | undefined> {
  const [first] = await store.getEvents([await commandEventId(stream, key, 0)]);
  if (!first) return undefined;
  const events: E[] = [];
  for await (const event of store.readStream(stream, { from: first.version })) {
    if (event.id !== (await commandEventId(stream, key, events.length))) break;
    events.push(event);
  }
  const last = events.at(-1)!;
  const { state } = await load(store, stream, decider, { version: last.version });
  return { state, events, version: last.version, position: last.position };
}

/**
 * Saves the state when the command's events cross a multiple of `snapshot.every`. Best effort,
 * after the append: a failure is logged, and the next crossing tries again.
 */
async function saveSnapshot<S, C, E extends RecordedEvent>(
  store: DeciderStore<E>,
  stream: string,
  decider: Decider<S, C, E>,
  before: number,
  state: S,
  last: E,
): Promise<void> {
  const every = decider.snapshot?.every;
  if (every === undefined || Math.floor(before / every) === Math.floor(last.version / every)) return;
  const name = snapshotName(decider);
  const issue = findNonJson(state, ['state']);
  if (issue) {
    store.logger.warn({ stream, name, version: last.version, issue: issue.message }, 'state is not JSON: no snapshot taken');
    return;
  }
  try {
    await store.writeSnapshot({
      stream,
      name,
      version: last.version,
      schemaVersion: decider.snapshot!.version,
      state: JSON.stringify(state),
      eventTime: last.recordedAt,
    });
  } catch (error) {
    store.logger.warn({ stream, name, version: last.version, error: String(error) }, 'snapshot not saved');
  }
}

async function readRange<E extends RecordedEvent>(store: DeciderStore<E>, stream: string, from: number, to: number): Promise<E[]> {
  const events: E[] = [];
  if (from > to) return events;
  for await (const event of store.readStream(stream, { from, to })) events.push(event);
  return events;
}

function toArray<T>(value: T | readonly T[]): readonly T[] {
  return Array.isArray(value) ? (value as readonly T[]) : [value as T];
}

function checkHandleOptions(options: HandleOptions | undefined) {
  const o = checkOptions(options) as HandleOptions;
  const retries = o.retries ?? DEFAULT_RETRIES;
  if (!Number.isSafeInteger(retries) || retries < 0) throw new ValidationError([{ path: ['options', 'retries'], message: 'must be an integer ≥ 0' }]);
  const key = o.idempotencyKey;
  if (key !== undefined && (typeof key !== 'string' || key.length === 0 || key.length > 1024)) {
    throw new ValidationError([{ path: ['options', 'idempotencyKey'], message: 'must be a string of 1 to 1,024 characters' }]);
  }
  return { ...o, retries };
}
