import fc from 'fast-check';
import { afterAll, expect, it } from 'vitest';
import { isFactlineError, type EventStore } from '../../src/index.js';
import { closeAdmin } from '../support/postgres.js';
import { adapters } from './adapters.js';

// Hostile input, the same on every store: each call must succeed with the same result and read
// back the same, or fail with the same error code, on all of them.
const available = adapters.filter((a) => a.unavailable === undefined);
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups) await cleanup();
  await closeAdmin();
});

const hostile = [
  "'; DROP TABLE events; --",
  '"quoted" \\ back\\slash',
  '$$ dollar $$',
  '%_ like wildcards',
  'a\u0000b',
  'x\ud800',
  '\udfff',
  '😀\u200d👩',
  ' leading and trailing ',
  'x'.repeat(10_000),
  'y'.repeat(256),
  'z'.repeat(257),
  '',
  'tab\there',
  'ümlaut ß',
];
const name = fc.oneof(fc.constantFrom(...hostile), fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ unit: 'grapheme', maxLength: 20 }));
const number = fc.constantFrom(1e308, -1e308, Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53 + 1, -(2 ** 63), 0.1 + 0.2, -0, 1e21, 123456789.123456789);
const data = fc.oneof(
  fc.jsonValue(),
  fc.dictionary(fc.oneof(fc.constantFrom(...hostile), fc.string({ unit: 'binary', maxLength: 8 })), fc.oneof(fc.string({ unit: 'binary' }), number)),
  fc.array(number),
);

async function attempt(store: EventStore, stream: string, type: string, value: unknown) {
  try {
    const result = await store.append(stream, [{ type, data: value, metadata: { note: type } }]);
    const [stored] = await collectLast(store, stream);
    return { result, stream: stored!.stream, type: stored!.type, data: JSON.stringify(stored!.data), metadata: stored!.metadata };
  } catch (error) {
    if (!isFactlineError(error)) throw error;
    return { error: error.code };
  }
}

async function collectLast(store: EventStore, stream: string) {
  const out = [];
  for await (const e of store.readStream(stream, { direction: 'backward', limit: 1 })) out.push(e);
  return out;
}

it(`hostile names, types and data get the same answer on ${available.map((a) => a.name).join(', ')}`, { timeout: 120_000 }, async () => {
  const stores = await Promise.all(
    available.map(async (adapter) => {
      const { store, cleanup } = await adapter.open();
      cleanups.push(cleanup);
      return store;
    }),
  );
  let accepted = 0;
  let refused = 0;
  await fc.assert(
    fc.asyncProperty(name, name, data, async (stream, type, value) => {
      const answers = [];
      for (const store of stores) answers.push(await attempt(store, stream, type, value));
      for (const answer of answers.slice(1)) expect(answer).toEqual(answers[0]);
      if ('error' in answers[0]!) refused++;
      else {
        accepted++;
        expect(answers[0]!.data).toBe(JSON.stringify(value));
      }
    }),
    { numRuns: 300 },
  );
  console.log(`parity: ${accepted} hostile appends accepted alike, ${refused} refused alike, on ${available.map((a) => a.name).join(', ')}`);
  expect(accepted).toBeGreaterThan(30);
  expect(refused).toBeGreaterThan(30);
});
