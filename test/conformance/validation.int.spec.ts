import { expect } from 'vitest';
import {
  EventTooLargeError,
  InvalidStreamNameError,
  ValidationError,
  type EventStore,
  type NewEvent,
} from '../../src/index.js';
import { collect, conformance } from './harness.js';

class Money {
  constructor(readonly cents: number) {}
}
const cycle: Record<string, unknown> = { a: 1 };
cycle.self = cycle;
const sparse = [1, , 3];

const badStreams: [string, unknown][] = [
  ['empty', ''],
  ['over 256 characters', 'x'.repeat(257)],
  ['a newline', 'a\nb'],
  ['a NUL', 'a\u0000b'],
  ['a DEL', 'a\u007fb'],
  ['a lone surrogate', 'a\ud800b'],
  ['not a string', 42],
  ['undefined', undefined],
];

const badData: [string, unknown, (string | number)[]][] = [
  ['undefined', undefined, ['events', 0, 'data']],
  ['a function', () => 1, ['events', 0, 'data']],
  ['a symbol', Symbol('s'), ['events', 0, 'data']],
  ['a bigint', 10n, ['events', 0, 'data']],
  ['NaN', { price: NaN }, ['events', 0, 'data', 'price']],
  ['Infinity', [1, Infinity], ['events', 0, 'data', 1]],
  ['a cycle', cycle, ['events', 0, 'data', 'self']],
  ['a Date', { at: new Date() }, ['events', 0, 'data', 'at']],
  ['a Map', new Map(), ['events', 0, 'data']],
  ['a class instance', { total: new Money(5) }, ['events', 0, 'data', 'total']],
  ['undefined in an array', [1, undefined], ['events', 0, 'data', 1]],
  ['a hole in an array', sparse, ['events', 0, 'data', 1]],
  ['a nested function', { a: { b: [{ c: () => 1 }] } }, ['events', 0, 'data', 'a', 'b', 0, 'c']],
  ['an array with a toJSON method', Object.assign([1, 2], { toJSON: () => 'replaced' }), ['events', 0, 'data']],
  ['an object with a hidden toJSON method', Object.defineProperty({ x: 1 }, 'toJSON', { value: () => ({}), enumerable: false }), ['events', 0, 'data']],
  ['nesting past 256 levels', deep(300), ['events', 0, 'data', ...Array<string>(256).fill('v')]],
];

function deep(levels: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) value = { v: value };
  return value;
}

async function expectNothingWritten(store: EventStore): Promise<void> {
  expect(await collect(store.readAll())).toEqual([]);
  expect(await store.streamInfo('s')).toEqual({ version: 0, deleted: false });
}

conformance('bad input is refused before anything is written', ({ open, test }) => {
  for (const [name, stream] of badStreams) {
    test(`stream name: ${name}`, async () => {
      const store = await open();
      await expect(store.append(stream as string, [{ type: 'T', data: 1 }])).rejects.toBeInstanceOf(InvalidStreamNameError);
      await expect(store.deleteStream(stream as string)).rejects.toMatchObject({ code: 'INVALID_STREAM_NAME' });
      expect(() => store.readStream(stream as string)).toThrow(InvalidStreamNameError);
      await expect(store.streamInfo(stream as string)).rejects.toBeInstanceOf(InvalidStreamNameError);
      await expectNothingWritten(store);
    });
  }

  test('stream names up to 256 characters, in any script, are accepted and round-trip', async () => {
    const store = await open();
    const names = ['x'.repeat(256), 'заказ-42', '注文-😀', 'a b/c:d', '$all-ish'];
    for (const name of names) await store.append(name, [{ type: 'T', data: name }]);
    for (const name of names) expect((await collect(store.readStream(name)))[0]!.stream).toBe(name);
  });

  for (const [name, data, path] of badData) {
    test(`data: ${name}`, async () => {
      const store = await open();
      const error = await store.append('s', [{ type: 'T', data }]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).issues[0]!.path).toEqual(path);
      await expectNothingWritten(store);
    });
  }

  const badEvents: [string, unknown, string][] = [
    ['an empty type', { type: '', data: 1 }, 'type'],
    ['a type that is not a string', { type: 7, data: 1 }, 'type'],
    ['a type with a control character', { type: 'A\tB', data: 1 }, 'type'],
    ['an id that is not a UUID', { id: 'abc', type: 'T', data: 1 }, 'id'],
    ['metadata that is not an object', { type: 'T', data: 1, metadata: 'm' }, 'metadata'],
    ['a correlationId that is not a string', { type: 'T', data: 1, metadata: { correlationId: 5 } }, 'metadata'],
    ['metadata with a function', { type: 'T', data: 1, metadata: { f: () => 1 } }, 'metadata'],
    ['an event that is not an object', 'Placed', ''],
    ['null', null, ''],
  ];
  for (const [name, event, field] of badEvents) {
    test(`event: ${name}`, async () => {
      const store = await open();
      const error = await store.append('s', [{ type: 'Good', data: 1 }, event as NewEvent]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      const issue = (error as ValidationError).issues[0]!;
      expect(issue.path.slice(0, 2)).toEqual(['events', 1]);
      if (field) expect(issue.path[2]).toBe(field);
      await expectNothingWritten(store);
    });
  }

  test('every bad event of an append is named in one error', async () => {
    const store = await open();
    const error = await store
      .append('s', [{ type: '', data: 1 }, { type: 'T', data: 1 }, { type: 'T', data: NaN }])
      .catch((e: unknown) => e);
    expect((error as ValidationError).issues.map((i) => i.path.slice(0, 2))).toEqual([
      ['events', 0],
      ['events', 2],
    ]);
    expect((error as ValidationError).message).toContain('events[2].data');
  });

  test('the same id twice in one append', async () => {
    const store = await open();
    const id = '01900000-0000-7000-8000-000000000001';
    await expect(store.append('s', [{ id, type: 'T', data: 1 }, { id, type: 'T', data: 2 }])).rejects.toBeInstanceOf(ValidationError);
    await expectNothingWritten(store);
  });

  test('options that are not an object', async () => {
    const store = await open();
    await expect(store.append('s', [{ type: 'T', data: 1 }], 3 as never)).rejects.toBeInstanceOf(ValidationError);
    await expect(store.deleteStream('s', 'any' as never)).rejects.toBeInstanceOf(ValidationError);
    await expectNothingWritten(store);
  });

  test('events that are not an array', async () => {
    const store = await open();
    await expect(store.append('s', { type: 'T', data: 1 } as unknown as NewEvent[])).rejects.toBeInstanceOf(ValidationError);
    await expectNothingWritten(store);
  });

  for (const expectedVersion of [-1, 1.5, 'latest', null, Number.NaN]) {
    test(`expectedVersion ${String(expectedVersion)}`, async () => {
      const store = await open();
      const options = { expectedVersion } as unknown as { expectedVersion: number };
      await expect(store.append('s', [{ type: 'T', data: 1 }], options)).rejects.toBeInstanceOf(ValidationError);
      await expect(store.deleteStream('s', options)).rejects.toBeInstanceOf(ValidationError);
      await expectNothingWritten(store);
    });
  }

  test('an event over the size limit (1 MiB by default) throws EventTooLargeError', async () => {
    const store = await open();
    const big = 'é'.repeat(600 * 1024); // 1.2 MB in UTF-8, 0.6 M characters
    const error = await store.append('s', [{ type: 'T', data: 1 }, { type: 'T', data: big }]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EventTooLargeError);
    expect(error).toMatchObject({ code: 'EVENT_TOO_LARGE', stream: 's', index: 1, limit: 1024 * 1024 });
    expect((error as EventTooLargeError).size).toBe(600 * 1024 * 2 + 2);
    await expectNothingWritten(store);
    // Just under the limit is fine.
    await store.append('s', [{ type: 'T', data: 'x'.repeat(1024 * 1024 - 2) }]);
  });

  test('maxEventSize is configurable and counts metadata', async () => {
    const store = await open({ maxEventSize: 100 });
    await store.append('ok', [{ type: 'T', data: 'x'.repeat(50) }]);
    await expect(store.append('s', [{ type: 'T', data: 1, metadata: { note: 'y'.repeat(100) } }])).rejects.toBeInstanceOf(
      EventTooLargeError,
    );
    expect((await store.streamInfo('s')).version).toBe(0);
  });

  test('bad store options are a ConfigurationError', async () => {
    await expect(open({ maxEventSize: 0 })).rejects.toMatchObject({ code: 'CONFIGURATION' });
    await expect(open({ pageSize: 1.5 })).rejects.toMatchObject({ code: 'CONFIGURATION' });
    await expect(open({ pollInterval: 2 ** 31 })).rejects.toMatchObject({ code: 'CONFIGURATION' });
  });
});

conformance('what is accepted round-trips exactly', ({ open, test }) => {
  const values: [string, unknown][] = [
    ['NUL and control characters in strings', { s: 'a\u0000b\u0001\u001f\u007f' }],
    ['lone surrogates', { hi: 'x\ud800', lo: '\udfffy', pair: '😀', reversed: '\ude00\ud83d' }],
    ['numbers', [0, 1, -1, 0.1, 1e21, 1e-7, 1.7976931348623157e308, 5e-324, Number.MAX_SAFE_INTEGER, -123.456]],
    ['key order', { z: 1, a: 2, m: { y: 1, b: 2 }, '': 3 }],
    ['nesting', { a: [[{ b: [[[]]] }], {}], c: { d: { e: { f: null } } } }],
    ['unicode keys', { 'ключ': 1, '🔑': 2, 'a\u0000': 3 }],
    ['plain values', 'just a string'],
    ['null', null],
    ['booleans', [true, false]],
    ['an object without prototype', Object.assign(Object.create(null) as object, { a: 1 })],
  ];
  for (const [name, data] of values) {
    test(name, async () => {
      const store = await open();
      await store.append('s', [{ type: 'T', data, metadata: { note: data as string } }]);
      const [stream] = await collect(store.readStream('s'));
      const [all] = await collect(store.readAll());
      for (const e of [stream!, all!]) {
        expect(JSON.stringify(e.data)).toBe(JSON.stringify(data));
        expect(e.data).toEqual(data);
        expect(Object.keys(e.data ?? {})).toEqual(Object.keys(data ?? {}));
        expect(e.metadata.note).toEqual(data);
      }
    });
  }

  test('undefined object properties are left out, as JSON does', async () => {
    const store = await open();
    await store.append('s', [{ type: 'T', data: { a: 1, b: undefined }, metadata: { correlationId: undefined } }]);
    const [e] = await collect(store.readStream('s'));
    expect(e!.data).toStrictEqual({ a: 1 });
    expect(e!.metadata).toStrictEqual({});
  });
});
