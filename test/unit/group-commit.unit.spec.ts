import { describe, expect, it } from 'vitest';
import { ConcurrencyError, StoreUnavailableError } from '../../src/index.js';
import type { Outcome, WriteRequest } from '../../src/store/backend.js';
import { GroupCommitter } from '../../src/store/group-commit.js';

const append = (stream: string, events = 1): WriteRequest => ({
  kind: 'append',
  stream,
  expectedVersion: 'any',
  events: Array.from({ length: events }, (_, i) => ({ id: `${stream}-${i}`, type: 'T', data: '1', metadata: null, correlationId: null, causationId: null, schemaVersion: 1, idGiven: true })),
});
const ok = (version: number): Outcome => ({ ok: true, result: { version, position: BigInt(version) } });

describe('GroupCommitter', () => {
  it('puts writes submitted in one turn into one transaction, each with its own outcome', async () => {
    const batches: string[][] = [];
    const committer = new GroupCommitter(
      (requests) => {
        batches.push(requests.map((r) => r.stream));
        return Promise.resolve(requests.map((r, i) => (r.stream === 'bad' ? { ok: false, error: new ConcurrencyError('bad', 1, 0) } : ok(i + 1))));
      },
      { maxRequests: 100, maxEvents: 1000 },
    );
    const results = await Promise.allSettled(['a', 'bad', 'c'].map((s) => committer.submit(append(s))));
    expect(batches).toEqual([['a', 'bad', 'c']]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(results[2]).toEqual({ status: 'fulfilled', value: { version: 3, position: 3n } });
  });

  it('gathers writes that arrive while a transaction is in flight into the next one', async () => {
    const batches: string[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const committer = new GroupCommitter(
      async (requests) => {
        batches.push(requests.map((r) => r.stream));
        if (batches.length === 1) await gate;
        return requests.map(() => ok(1));
      },
      { maxRequests: 100, maxEvents: 1000 },
    );
    const first = committer.submit(append('a'));
    await new Promise((r) => setImmediate(r));
    const later = ['b', 'c', 'd'].map((s) => committer.submit(append(s)));
    release();
    await Promise.all([first, ...later]);
    expect(batches).toEqual([['a'], ['b', 'c', 'd']]);
  });

  it('keeps batches within maxRequests and maxEvents; a larger single write goes alone', async () => {
    const batches: number[][] = [];
    const committer = new GroupCommitter(
      (requests) => {
        batches.push(requests.map((r) => (r.kind === 'append' ? r.events.length : 0)));
        return Promise.resolve(requests.map(() => ok(1)));
      },
      { maxRequests: 3, maxEvents: 10 },
    );
    await Promise.all([1, 1, 1, 1, 4, 4, 4, 25, 1].map((n, i) => committer.submit(append(`s${i}`, n))));
    expect(batches).toEqual([[1, 1, 1], [1, 4, 4], [4], [25], [1]]);
  });

  it('when a transaction fails whole, retries its writes one by one so that only the bad one fails', async () => {
    const calls: string[][] = [];
    const poison = new Error('a bug in one write');
    const committer = new GroupCommitter(
      (requests) => {
        calls.push(requests.map((r) => r.stream));
        if (requests.some((r) => r.stream === 'poison')) return Promise.reject(poison);
        return Promise.resolve(requests.map(() => ok(1)));
      },
      { maxRequests: 100, maxEvents: 1000 },
    );
    const results = await Promise.allSettled(['a', 'poison', 'b'].map((s) => committer.submit(append(s))));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toBe(poison);
    expect(calls).toEqual([['a', 'poison', 'b'], ['a'], ['poison'], ['b']]);
  });

  it('when the database is unavailable, fails the whole batch at once: no second wait, no second write', async () => {
    let calls = 0;
    const down = new StoreUnavailableError('disk full', 'unknown');
    const committer = new GroupCommitter(
      () => {
        calls++;
        return Promise.reject(down);
      },
      { maxRequests: 100, maxEvents: 1000 },
    );
    const results = await Promise.allSettled(['a', 'b', 'c'].map((s) => committer.submit(append(s))));
    expect(results.map((r) => (r as PromiseRejectedResult).reason as unknown)).toEqual([down, down, down]);
    expect(calls).toBe(1);
  });

  it('sends deferred writes to the next transaction, ahead of newer ones', async () => {
    const calls: string[][] = [];
    const committer = new GroupCommitter(
      (requests) => {
        calls.push(requests.map((r) => r.stream));
        return Promise.resolve(requests.map((r, i): Outcome => (calls.length === 1 && i === 1 ? { ok: 'deferred' } : ok(1))));
      },
      { maxRequests: 2, maxEvents: 1000 },
    );
    await Promise.all(['a', 'b', 'c'].map((s) => committer.submit(append(s))));
    expect(calls).toEqual([['a', 'b'], ['b', 'c']]);
  });

  it('flushed() resolves once every submitted write has settled', async () => {
    let settled = 0;
    const committer = new GroupCommitter(
      async (requests) => {
        await new Promise((r) => setTimeout(r, 5));
        return requests.map(() => ok(1));
      },
      { maxRequests: 1, maxEvents: 1000 },
    );
    for (const s of ['a', 'b', 'c']) void committer.submit(append(s)).then(() => settled++);
    await committer.flushed();
    expect(settled).toBe(3);
  });
});
