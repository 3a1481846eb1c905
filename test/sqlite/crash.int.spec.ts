import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { RecordedEvent } from '../../src/index.js';
import { sqliteStore } from '../../src/sqlite/index.js';
import { runTs } from '../support/child.js';
import { between, seeded } from '../support/random.js';

const KILLS = 24;
const seed = Number(process.env.FACTLINE_CRASH_SEED ?? Date.now() % 1_000_000);
const dir = mkdtempSync(join(tmpdir(), 'factline-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Batch {
  stream: string;
  size: number;
  version: number;
}

it(`a writer killed at random moments leaves every acknowledged batch whole and no batch partial (seed ${seed})`, { timeout: 180_000 }, async () => {
  console.log(`crash test seed ${seed} (replay with FACTLINE_CRASH_SEED=${seed})`);
  const random = seeded(seed);
  const path = join(dir, 'crash.db');
  const acknowledged = new Map<string, Batch>();
  let killedWhileWriting = 0;

  for (let round = 0; round < KILLS; round++) {
    const child = runTs('test/sqlite/fixtures/writer.ts', [path, String(between(random, 1, 1e9)), `r${round}`, '0', '4']);
    await child.waitForLine((l) => l.startsWith('ack'));
    await new Promise((r) => setTimeout(r, between(random, 0, 150)));
    child.process.kill('SIGKILL');
    expect(await child.exited).toBe('SIGKILL');
    for (const line of child.lines) {
      const [word, batchId, stream, size, version] = line.split(' ');
      if (word === 'ack') acknowledged.set(batchId!, { stream: stream!, size: Number(size), version: Number(version) });
    }
    killedWhileWriting += child.lines.length > 1 ? 1 : 0;
    await checkStore(path, acknowledged);
  }
  expect(killedWhileWriting).toBeGreaterThanOrEqual(KILLS / 2);
});

async function checkStore(path: string, acknowledged: Map<string, Batch>): Promise<void> {
  const store = sqliteStore({ path });
  const found = new Map<string, RecordedEvent[]>();
  const streamVersions = new Map<string, number>();
  let lastPosition = 0n;
  for await (const e of store.readAll()) {
    expect(e.position).toBeGreaterThan(lastPosition);
    lastPosition = e.position;
    expect(e.version).toBe((streamVersions.get(e.stream) ?? 0) + 1);
    streamVersions.set(e.stream, e.version);
    const { batchId } = e.data as { batchId: string };
    found.set(batchId, [...(found.get(batchId) ?? []), e]);
  }
  for (const [batchId, events] of found) {
    const { size } = events[0]!.data as { size: number };
    expect(events.map((e) => (e.data as { i: number }).i), `batch ${batchId} is partial`).toEqual(Array.from({ length: size }, (_, i) => i));
    expect(new Set(events.map((e) => e.stream)).size).toBe(1);
  }
  for (const [batchId, batch] of acknowledged) {
    const events = found.get(batchId);
    expect(events, `acknowledged batch ${batchId} is missing`).toBeDefined();
    expect(events!.at(-1)!.version).toBe(batch.version);
    expect(events!.at(-1)!.stream).toBe(batch.stream);
  }
  await store.close();
}
