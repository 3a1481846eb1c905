import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { RecordedEvent } from '../../src/index.js';
import Database from 'better-sqlite3';
import { sqliteStore } from '../../src/sqlite/index.js';
import { SCHEMA_VERSION } from '../../src/sqlite/migrations.js';
import { runTs } from '../support/child.js';

const dir = mkdtempSync(join(tmpdir(), 'factline-procs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('several processes append to one file; a subscriber in another process sees every event once, in order', { timeout: 120_000 }, async () => {
  const path = join(dir, 'shared.db');
  const store = sqliteStore({ path, pollInterval: 20 });
  const controller = new AbortController();
  const seen: RecordedEvent[] = [];
  let expectedTotal = Number.POSITIVE_INFINITY;
  const subscription = (async () => {
    for await (const e of store.subscribe({ signal: controller.signal })) {
      seen.push(e);
      if (seen.length >= expectedTotal) controller.abort();
    }
  })();

  const writers = [1, 2, 3].map((n) => runTs('test/support/writer.ts', [`sqlite:${path}`, String(n * 7919), `p${n}`, '25', '4']));
  const codes = await Promise.all(writers.map((w) => w.exited));
  expect(codes).toEqual([0, 0, 0]);

  const acks = writers.flatMap((w) => w.lines.filter((l) => l.startsWith('ack')).map((l) => l.split(' ')));
  expect(acks).toHaveLength(3 * 4 * 25);
  expectedTotal = acks.reduce((sum, [, , , size]) => sum + Number(size), 0);
  if (seen.length >= expectedTotal) controller.abort();
  await subscription;

  expect(seen).toHaveLength(expectedTotal);
  expect(seen.map((e) => e.position)).toEqual(seen.map((_, i) => BigInt(i + 1)));
  const versions = new Map<string, number>();
  for (const e of seen) {
    expect(e.version).toBe((versions.get(e.stream) ?? 0) + 1);
    versions.set(e.stream, e.version);
  }
  // The shared streams were written by all three processes and still have no gaps.
  expect(new Set(seen.filter((e) => e.stream.startsWith('shared-')).map((e) => (e.data as { batchId: string }).batchId.slice(0, 2)))).toEqual(
    new Set(['p1', 'p2', 'p3']),
  );
  for (const [, batchId, stream, size, version] of acks) {
    const last = seen.find((e) => e.stream === stream && e.version === Number(version));
    expect(last?.data).toMatchObject({ batchId, i: Number(size) - 1 });
  }
  await store.close();
});

it('processes that open a new file at the same moment migrate it once and all write', { timeout: 120_000 }, async () => {
  const path = join(dir, 'fresh.db');
  const writers = [1, 2, 3, 4].map((n) => runTs('test/support/writer.ts', [`sqlite:${path}`, String(n), `m${n}`, '5', '2']));
  expect(await Promise.all(writers.map((w) => w.exited))).toEqual([0, 0, 0, 0]);
  const store = sqliteStore({ path });
  let count = 0;
  for await (const _event of store.readAll()) count++;
  const acked = writers.flatMap((w) => w.lines.filter((l) => l.startsWith('ack'))).reduce((n, l) => n + Number(l.split(' ')[3]), 0);
  expect(count).toBe(acked);
  await store.close();
  const raw = new Database(path, { readonly: true });
  expect(raw.prepare('SELECT version FROM factline_schema').pluck().all()).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
  raw.close();
});
