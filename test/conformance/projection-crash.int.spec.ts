import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore, rebuildProjection, waitForProjections, type EventStore } from '../../src/index.js';
import { runTs, type Child } from '../support/child.js';
import { crashSeed, processTargets } from '../support/process-targets.js';
import { counters, type Counter } from '../support/projection-fixtures.js';
import { between, seeded } from '../support/random.js';

// A projection daemon in a child process is killed with SIGKILL again and again while it works
// through batches; afterwards the documents must equal a fresh rebuild and no event may have been
// applied twice. On PostgreSQL, two daemons run side by side and the owner is the one killed.
const KILLS = 20;
const DAEMON = join(import.meta.dirname, '../support/projection-daemon.ts');
const seed = crashSeed;
const targets = processTargets('projection-crash');

async function documents(store: EventStore): Promise<Map<string, Counter>> {
  const out = new Map<string, Counter>();
  let after: string | undefined;
  do {
    const page = await store.documents<Counter>('counters').find({ limit: 1000, ...(after ? { after } : {}) });
    for (const item of page.items) out.set(item.id, item.data);
    after = page.next;
  } while (after);
  return out;
}

async function ticks(store: EventStore, random: () => number, n: number): Promise<bigint> {
  let position = 0n;
  for (let i = 0; i < n; i++) {
    const stream = `counter-${between(random, 0, 40)}`;
    const events = Array.from({ length: between(random, 1, 5) }, () => ({ type: 'Tick', data: {} }));
    position = (await store.append(stream, events)).position;
  }
  return position;
}

for (const target of targets) {
  describe.skipIf(target.unavailable !== undefined)(`projection crash [${target.name}]`, () => {
    it(`a daemon SIGKILLed ${KILLS} times mid-batch leaves documents equal to a fresh rebuild, nothing applied twice (seed ${seed})`, { timeout: 240_000 }, async () => {
      console.log(`projection crash test [${target.name}] seed ${seed} (replay with FACTLINE_CRASH_SEED=${seed})`);
      const random = seeded(seed);
      const url = target.url();
      const store = await openStore(url);
      await ticks(store, random, 300);
      const pg = target.name === 'postgres';
      let standby: Child | undefined = pg ? runTs(DAEMON, [url, '300']) : undefined;
      let killsInBatch = 0;
      for (let kill = 0; kill < KILLS; kill++) {
        const child = runTs(DAEMON, [url, '300']);
        await child.waitForLine((l) => l === 'started');
        const writing = ticks(store, random, between(random, 20, 60));
        // On PostgreSQL the standby may hold the lease: kill whichever one owns it.
        const owning = (c: Child) => c.waitForLine((l) => l.startsWith('owner'));
        await Promise.race(standby ? [owning(child), owning(standby)] : [owning(child)]);
        await new Promise((r) => setTimeout(r, between(random, 0, 40)));
        const owner = standby && standby.lines.some((l) => l.startsWith('owner')) ? standby : child;
        const progressed = owner.lines.filter((l) => l.startsWith('owner')).length;
        owner.process.kill('SIGKILL');
        await owner.exited;
        if (progressed > 0) killsInBatch++;
        await writing;
        // On PostgreSQL the survivor takes over within the lease time and stands by for the next round.
        if (owner === standby) standby = child;
        else if (!pg) continue;
      }
      // A daemon in another process finishes the work; this process waits for it through the
      // checkpoint in the database.
      const finisher = standby ?? runTs(DAEMON, [url, '300']);
      const head = await ticks(store, random, 5);
      await waitForProjections(store, head, { projections: ['counters'], timeout: 60_000 });
      finisher.process.kill('SIGKILL');
      await finisher.exited;
      const survived = await documents(store);
      for (const [stream, counter] of survived) {
        expect(counter.applied, `${stream} applied once per event`).toBe(counter.last);
        expect(counter.last).toBe((await store.streamInfo(stream)).version);
      }
      await rebuildProjection(store, counters);
      expect(await documents(store)).toEqual(survived);
      expect(killsInBatch).toBeGreaterThan(KILLS / 2);
      await store.close();
    });
  });
}
