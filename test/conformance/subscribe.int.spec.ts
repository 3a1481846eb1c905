import { expect } from 'vitest';
import type { EventStore, RecordedEvent, SubscribeOptions } from '../../src/index.js';
import { conformance, positions } from './harness.js';

/** Runs a subscription in the background, collecting events until `count` arrive (then aborts). */
function follow(store: EventStore, count: number, options: Omit<SubscribeOptions, 'signal'> = {}) {
  const controller = new AbortController();
  const events: RecordedEvent[] = [];
  const done = (async () => {
    for await (const e of store.subscribe({ ...options, signal: controller.signal })) {
      events.push(e);
      if (events.length === count) controller.abort();
    }
  })();
  return { events, done, stop: () => controller.abort() };
}

const withTimeout = <T>(promise: Promise<T>, ms = 5000) =>
  Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no result in ${ms} ms`)), ms))]);

conformance('subscribe', ({ open, test }) => {
  test('catches up, then delivers live events exactly once, in position order', async () => {
    const store = await open({ pageSize: 7 });
    for (let i = 0; i < 30; i++) await store.append(`s-${i % 4}`, [{ type: 'T', data: i }]);
    const sub = follow(store, 100);
    // Appends race the catch-up: some land while it pages through history.
    for (let i = 30; i < 100; i++) {
      await store.append(`s-${i % 4}`, [{ type: 'T', data: i }]);
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    await withTimeout(sub.done);
    expect(positions(sub.events)).toEqual(Array.from({ length: 100 }, (_, i) => BigInt(i + 1)));
    expect(sub.events.map((e) => e.data)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  test('starts after a given position', async () => {
    const store = await open();
    for (let i = 0; i < 10; i++) await store.append('s', [{ type: 'T', data: i }]);
    const sub = follow(store, 3, { after: 7n });
    await withTimeout(sub.done);
    expect(positions(sub.events)).toEqual([8n, 9n, 10n]);
  });

  test('filters by type and stream prefix, live and in catch-up', async () => {
    const store = await open({ pageSize: 2 });
    const write = async (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        await store.append(i % 2 ? 'order-1' : 'cart-1', [{ type: i % 3 ? 'Seen' : 'Wanted', data: i }]);
      }
    };
    await write(0, 20);
    const sub = follow(store, 6, { types: ['Wanted'], streamPrefix: 'order-' });
    await write(20, 40);
    await withTimeout(sub.done);
    expect(sub.events.map((e) => e.data)).toEqual([3, 9, 15, 21, 27, 33]);
  });

  test('a live subscription is woken by an append in this process, not by polling', async () => {
    // With polling an hour apart, only the append's own wake-up can deliver in time.
    const store = await open({ pollInterval: 3_600_000 });
    const sub = follow(store, 1);
    await new Promise((r) => setTimeout(r, 20));
    await store.append('s', [{ type: 'T', data: 1 }]);
    await withTimeout(sub.done, 2000);
    expect(sub.events).toHaveLength(1);
  });

  test('several subscribers each see every event once', async () => {
    const store = await open();
    const subs = [follow(store, 50), follow(store, 50, { after: 10n }), follow(store, 25, { types: ['Even'] })];
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.append(`s-${i % 5}`, [{ type: i % 2 ? 'Odd' : 'Even', data: i }])));
    for (let i = 50; i < 60; i++) await store.append('t', [{ type: 'Odd', data: i }]);
    await withTimeout(Promise.all(subs.map((s) => s.done)));
    expect(positions(subs[0]!.events)).toEqual(Array.from({ length: 50 }, (_, i) => BigInt(i + 1)));
    expect(positions(subs[1]!.events)).toEqual(Array.from({ length: 50 }, (_, i) => BigInt(i + 11)));
    expect(subs[2]!.events.every((e) => e.type === 'Even')).toBe(true);
    expect(new Set(positions(subs[2]!.events)).size).toBe(25);
  });

  test('a stream is never seen at version v+1 before v', async () => {
    const store = await open();
    const sub = follow(store, 200);
    await Promise.all(Array.from({ length: 100 }, (_, i) => store.append(`s-${i % 3}`, [{ type: 'T', data: i }, { type: 'T', data: i }])));
    await withTimeout(sub.done);
    const seen = new Map<string, number>();
    for (const e of sub.events) {
      expect(e.version).toBe((seen.get(e.stream) ?? 0) + 1);
      seen.set(e.stream, e.version);
    }
  });

  test('aborting ends a waiting subscription', async () => {
    const store = await open();
    await store.append('s', [{ type: 'T', data: 1 }]);
    const sub = follow(store, 1000);
    await new Promise((r) => setTimeout(r, 20));
    sub.stop();
    await withTimeout(sub.done);
    expect(sub.events).toHaveLength(1);
  });

  test('an already aborted signal yields nothing', async () => {
    const store = await open();
    await store.append('s', [{ type: 'T', data: 1 }]);
    const seen: RecordedEvent[] = [];
    for await (const e of store.subscribe({ signal: AbortSignal.abort() })) seen.push(e);
    expect(seen).toEqual([]);
  });

  test('breaking out of the loop releases the subscription', async () => {
    const store = await open();
    for (let i = 0; i < 5; i++) await store.append('s', [{ type: 'T', data: i }]);
    const seen: RecordedEvent[] = [];
    for await (const e of store.subscribe()) {
      seen.push(e);
      if (seen.length === 3) break;
    }
    expect(seen).toHaveLength(3);
    // Nothing is left waiting: closing the store returns promptly.
    await withTimeout(store.close(), 1000);
  });

  test('closing the store ends live subscriptions', async () => {
    const store = await open();
    const sub = follow(store, 1000);
    await store.append('s', [{ type: 'T', data: 1 }]);
    await new Promise((r) => setTimeout(r, 20));
    await store.close();
    await withTimeout(sub.done);
    expect(sub.events).toHaveLength(1);
  });
});
