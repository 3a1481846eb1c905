import fc from 'fast-check';
import { expect } from 'vitest';
import { isFactlineError, uuidv7, type EventStore, type ExpectedVersion, type NewEvent } from '../../src/index.js';
import { collect, conformance } from './harness.js';

/**
 * A model of the contract, written as plainly as possible, and random sequences of operations
 * run against both: every outcome, every read and the whole log must agree.
 */
interface ModelEvent {
  id: string;
  stream: string;
  version: number;
  position: bigint;
  type: string;
  data: unknown;
}

class Model {
  events: ModelEvent[] = [];
  deleted = new Set<string>();

  version(stream: string): number {
    return this.events.filter((e) => e.stream === stream).length;
  }

  append(stream: string, events: Required<Pick<NewEvent, 'id' | 'type' | 'data'>>[], expected: ExpectedVersion) {
    const known = events.map((e) => this.events.find((k) => k.id === e.id));
    if (known.some(Boolean)) {
      const same = known.every(
        (k, i) => k && k.stream === stream && k.type === events[i]!.type && JSON.stringify(k.data) === JSON.stringify(events[i]!.data),
      );
      const consecutive = known.every((k, i) => i === 0 || k!.version === known[i - 1]!.version + 1);
      if (!same || !consecutive) return { error: 'DUPLICATE_EVENT_ID' };
      const last = known.at(-1)!;
      return { result: { version: last.version, position: last.position } };
    }
    if (this.deleted.has(stream)) return { error: 'STREAM_DELETED' };
    const actual = this.version(stream);
    if (!this.matches(expected, actual)) return { error: 'CONCURRENCY' };
    let version = actual;
    for (const e of events) {
      this.events.push({ ...e, stream, version: ++version, position: BigInt(this.events.length + 1) });
    }
    const position = [...this.events].reverse().find((e) => e.stream === stream)?.position ?? 0n;
    return { result: { version, position } };
  }

  delete(stream: string, expected: ExpectedVersion) {
    if (this.deleted.has(stream)) return { result: undefined };
    if (!this.matches(expected, this.version(stream))) return { error: 'CONCURRENCY' };
    this.deleted.add(stream);
    return { result: undefined };
  }

  private matches(expected: ExpectedVersion, actual: number): boolean {
    if (expected === 'any') return true;
    if (expected === 'no_stream') return actual === 0;
    if (expected === 'stream_exists') return actual > 0;
    return expected === actual;
  }
}

type Op =
  | { kind: 'append'; stream: string; count: number; expected: ExpectedVersion; types: string[] }
  | { kind: 'replay'; pick: number; mutate: boolean }
  | { kind: 'delete'; stream: string; expected: ExpectedVersion }
  | { kind: 'readStream'; stream: string; from: number; to: number; backward: boolean; limit: number }
  | { kind: 'readAll'; after: number; limit: number; type?: string; prefix?: string };

const stream = fc.constantFrom('a-1', 'a-2', 'b-1');
const expected = fc.oneof(
  fc.constantFrom<ExpectedVersion>('any', 'no_stream', 'stream_exists'),
  fc.integer({ min: 0, max: 6 }),
);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('append' as const), stream, count: fc.integer({ min: 0, max: 3 }), expected, types: fc.array(fc.constantFrom('X', 'Y'), { minLength: 3, maxLength: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('replay' as const), pick: fc.nat(), mutate: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), stream, expected }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('readStream' as const), stream, from: fc.integer({ min: 0, max: 8 }), to: fc.integer({ min: 0, max: 8 }), backward: fc.boolean(), limit: fc.integer({ min: 0, max: 8 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('readAll' as const), after: fc.integer({ min: 0, max: 20 }), limit: fc.integer({ min: 0, max: 30 }), type: fc.option(fc.constantFrom('X', 'Y'), { nil: undefined }), prefix: fc.option(fc.constantFrom('a-', 'b-', 'a-1'), { nil: undefined }) }) },
);

async function outcome<T>(work: Promise<T>): Promise<{ result?: T; error?: string }> {
  try {
    return { result: await work };
  } catch (error) {
    if (!isFactlineError(error)) throw error;
    return { error: error.code };
  }
}

const view = (e: { id: string; stream: string; version: number; position: bigint; type: string; data: unknown }) => ({
  id: e.id,
  stream: e.stream,
  version: e.version,
  position: e.position,
  type: e.type,
  data: e.data,
});

async function run(store: EventStore, ops: Op[]): Promise<void> {
  const model = new Model();
  const appended: { stream: string; events: { id: string; type: string; data: unknown }[] }[] = [];
  for (const o of ops) {
    if (o.kind === 'append') {
      const events = Array.from({ length: o.count }, (_, i) => ({ id: uuidv7(), type: o.types[i]!, data: { n: appended.length, i } }));
      appended.push({ stream: o.stream, events });
      expect(await outcome(store.append(o.stream, events, { expectedVersion: o.expected }))).toEqual(model.append(o.stream, events, o.expected));
    } else if (o.kind === 'replay') {
      const previous = appended.filter((a) => a.events.length > 0)[o.pick % Math.max(1, appended.length)];
      if (!previous) continue;
      const events = o.mutate ? previous.events.map((e, i) => (i === 0 ? { ...e, data: { changed: true } } : e)) : previous.events;
      expect(await outcome(store.append(previous.stream, events, { expectedVersion: 'no_stream' }))).toEqual(
        model.append(previous.stream, events, 'no_stream'),
      );
    } else if (o.kind === 'delete') {
      expect(await outcome(store.deleteStream(o.stream, { expectedVersion: o.expected }))).toEqual(model.delete(o.stream, o.expected));
    } else if (o.kind === 'readStream') {
      const read = await outcome(collect(store.readStream(o.stream, { from: o.from, to: o.to, limit: o.limit, direction: o.backward ? 'backward' : 'forward' })));
      if (model.deleted.has(o.stream)) {
        expect(read.error).toBe('STREAM_DELETED');
        continue;
      }
      let wanted = model.events.filter((e) => e.stream === o.stream && e.version >= o.from && e.version <= o.to);
      if (o.backward) wanted = wanted.reverse();
      expect(read.result!.map(view)).toEqual(wanted.slice(0, o.limit));
    } else {
      const read = await collect(store.readAll({ after: BigInt(o.after), limit: o.limit, ...(o.type ? { types: [o.type] } : {}), ...(o.prefix ? { streamPrefix: o.prefix } : {}) }));
      const wanted = model.events.filter(
        (e) => e.position > BigInt(o.after) && (!o.type || e.type === o.type) && (!o.prefix || e.stream.startsWith(o.prefix)),
      );
      expect(read.map(view)).toEqual(wanted.slice(0, o.limit));
    }
  }
  expect((await collect(store.readAll())).map(view)).toEqual(model.events);
  for (const s of ['a-1', 'a-2', 'b-1']) {
    expect(await store.streamInfo(s)).toMatchObject({ version: model.version(s), deleted: model.deleted.has(s) });
  }
}

conformance('random operations agree with a model of the contract', ({ open, test }) => {
  test('sequential operations (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), fc.integer({ min: 2, max: 6 }), async (ops, pageSize) => {
        const store = await open({ pageSize });
        await run(store, ops);
        await store.close(); // release its connections now: a property runs many times
      }),
      { numRuns: 60 },
    );
  });
});
