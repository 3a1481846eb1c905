import { describe, expect, it } from 'vitest';
import {
  ConcurrencyError,
  DuplicateEventIdError,
  ErrorCode,
  FactlineError,
  StoreUnavailableError,
  ValidationError,
  isConcurrencyError,
  isFactlineError,
  isStreamDeletedError,
  uuidv7,
} from '../../src/index.js';
import { findNonJson, utf8Length } from '../../src/events/json.js';

describe('uuidv7', () => {
  it('makes RFC 9562 version 7 ids that sort in the order they were made', () => {
    const ids = Array.from({ length: 10_000 }, () => uuidv7());
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    const ms = parseInt(ids[0]!.replace(/-/g, '').slice(0, 12), 16);
    expect(Math.abs(ms - Date.now())).toBeLessThan(5000);
  });
});

describe('errors', () => {
  it('carry a stable code and structured fields', () => {
    const e = new ConcurrencyError('s', 3, 4);
    expect(e).toBeInstanceOf(FactlineError);
    expect(e).toMatchObject({ name: 'ConcurrencyError', code: 'CONCURRENCY', stream: 's', expected: 3, actual: 4, retryable: true });
    expect(new DuplicateEventIdError('id', 's', 't').message).toContain('"t"');
    expect(new StoreUnavailableError('x', 'unknown', new Error('cause')).cause).toBeInstanceOf(Error);
    expect(new ValidationError([{ path: ['events', 0, 'data', 'a'], message: 'bad' }]).message).toBe('events[0].data.a: bad');
  });

  it('guards check the code, so they work across copies of the package', () => {
    const foreign = Object.assign(new Error('from another copy'), { code: ErrorCode.concurrency });
    expect(isConcurrencyError(foreign)).toBe(true);
    expect(isFactlineError(foreign)).toBe(true);
    expect(isStreamDeletedError(foreign)).toBe(false);
    expect(isFactlineError(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBe(false);
    expect(isFactlineError({ code: 'CONCURRENCY' })).toBe(false);
  });
});

describe('JSON checks', () => {
  it('names the path of the first non-JSON value', () => {
    expect(findNonJson({ a: [1, { b: NaN }] }, ['data'])).toEqual({ path: ['data', 'a', 1, 'b'], message: 'NaN is not a JSON number' });
    expect(findNonJson({ a: 1, b: 'x', c: [null, true] }, [])).toBeUndefined();
    const shared = { x: 1 };
    expect(findNonJson({ a: shared, b: shared }, [])).toBeUndefined(); // shared, not circular
  });

  it('counts UTF-8 bytes as the databases store them', () => {
    for (const s of ['', 'abc', 'é', '€', '😀', 'a\ud800', '\udc00z', 'x'.repeat(100)]) {
      expect(utf8Length(s)).toBe(Buffer.byteLength(s, 'utf8'));
    }
  });
});

describe('store options and snapshot input', () => {
  it('refuses events that do not come from defineEvents, a logger without its methods, and a malformed snapshot', async () => {
    const { memoryStore, ConfigurationError, ValidationError } = await import('../../src/index.js');
    expect(() => memoryStore({ events: { definitions: {} } as never })).toThrow(ConfigurationError);
    expect(() => memoryStore({ logger: { info: () => {} } as never })).toThrow(/pino-like/);
    const store = memoryStore();
    await expect(store.writeSnapshot({ stream: 's', name: 'n', version: -1, schemaVersion: 1, state: '{}', eventTime: new Date() })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(store.writeSnapshot({ stream: 's', name: 'n', version: 1, schemaVersion: 1, state: {} as never, eventTime: new Date() })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(store.writeSnapshot({ stream: '', name: 'n', version: 1, schemaVersion: 1, state: '{}', eventTime: new Date() })).rejects.toMatchObject({
      code: 'INVALID_STREAM_NAME',
    });
    await store.close();
  });
});
