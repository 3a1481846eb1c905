import { describe, expect, it } from 'vitest';
import { openStore, type RecordedEvent } from '../../src/index.js';
import { runTs } from '../support/child.js';
import { crashSeed, processTargets } from '../support/process-targets.js';
import { between, seeded } from '../support/random.js';

// A writer process is killed with SIGKILL at random moments; after each kill the store must hold
// every batch it acknowledged, whole, and no batch in part. Runs on each store other processes
// can open: SQLite and PostgreSQL.
const KILLS = 24;
const seed = crashSeed;
const targets = processTargets('crash');

interface Batch {
  stream: string;
  size: number;
  version: number;
}

for (const target of targets) {
  describe.skipIf(target.unavailable !== undefined)(`crash [${target.name}]${target.unavailable ? ` (skipped: ${target.unavailable})` : ''}`, () => {
    it(`a writer killed at random moments leaves every acknowledged batch whole and no batch partial (seed ${seed})`, { timeout: 240_000 }, async () => {
      console.log(`crash test [${target.name}] seed ${seed} (replay with FACTLINE_CRASH_SEED=${seed})`);
      const random = seeded(seed);
      const url = target.url();
      const acknowledged = new Map<string, Batch>();
      let killedWhileWriting = 0;

      for (let round = 0; round < KILLS; round++) {
        const child = runTs('test/support/writer.ts', [url, String(between(random, 1, 1e9)), `r${round}`, '0', '4']);
        await child.waitForLine((l) => l.startsWith('ack'));
        await new Promise((r) => setTimeout(r, between(random, 0, 150)));
        child.process.kill('SIGKILL');
        expect(await child.exited).toBe('SIGKILL');
        for (const line of child.lines) {
          const [word, batchId, stream, size, version] = line.split(' ');
          if (word === 'ack') acknowledged.set(batchId!, { stream: stream!, size: Number(size), version: Number(version) });
        }
        killedWhileWriting += child.lines.length > 1 ? 1 : 0;
        await checkStore(url, acknowledged);
      }
      expect(killedWhileWriting).toBeGreaterThanOrEqual(KILLS / 2);
    });
  });
}

async function checkStore(url: string, acknowledged: Map<string, Batch>): Promise<void> {
  const store = await openStore(url);
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
