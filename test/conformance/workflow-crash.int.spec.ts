import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore, type EventStore, type RecordedEvent } from '../../src/index.js';
import { runTs } from '../support/child.js';
import { crashSeed, processTargets } from '../support/process-targets.js';
import { between, seeded } from '../support/random.js';
import { ACCOUNTS, OPENING_BALANCE, transfer, type AccountEvent } from '../support/workflow-fixtures.js';

// The transfer saga (debit, credit refused for a fifth of the transfers, refund as compensation) runs in a
// child process that is SIGKILLed again and again: by this process at random moments, and by
// itself right after an effect, before the step that made it is recorded. A new child resumes the
// work each time. Afterwards every transfer has ended completed or compensated, no account event
// was applied twice, and the money is all there.
const TRANSFERS = 80;
const KILLS = 12;
const ENGINE = join(import.meta.dirname, '../support/workflow-engine.ts');
const seed = crashSeed;
const targets = processTargets('workflow-crash');

async function collect(store: EventStore, stream: string): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for await (const e of store.readStream(stream)) out.push(e);
  return out;
}

for (const target of targets) {
  describe.skipIf(target.unavailable !== undefined)(`workflow crash [${target.name}]`, () => {
    it(`${TRANSFERS} transfers through ${KILLS} SIGKILLs end completed or compensated, each effect applied once (seed ${seed})`, { timeout: 240_000 }, async () => {
      console.log(`workflow crash test [${target.name}] seed ${seed} (replay with FACTLINE_CRASH_SEED=${seed})`);
      const random = seeded(seed);
      const url = target.url();
      let kills = 0;
      for (let kill = 0; kill < KILLS; kill++) {
        const child = runTs(ENGINE, ['transfer', url, String(TRANSFERS), '0.04']);
        await child.waitForLine((l) => l === 'started').catch(() => {});
        // The child starts a transfer every 5 ms (400 ms for all), so a kill in the first 250 ms
        // always finds work: started, running, compensating, and not yet started.
        const timer = setTimeout(() => child.process.kill('SIGKILL'), between(random, 20, 250));
        const exit = await child.exited;
        clearTimeout(timer);
        if (child.lines.includes('ended')) break;
        expect(exit).toBe('SIGKILL');
        kills++;
      }
      expect(kills, 'children killed before they had ended every transfer').toBe(KILLS);
      const finisher = runTs(ENGINE, ['transfer', url, String(TRANSFERS), '0']);
      await finisher.waitForLine((l) => l === 'ended');
      expect(await finisher.exited).toBe(0);

      const store = await openStore(url);
      try {
        const endings = new Map<string, string>();
        for (let n = 0; n < TRANSFERS; n++) {
          const history = await collect(store, `workflow-transfer-t${n}`);
          endings.set(`t${n}`, history.at(-1)!.type);
        }
        const counts: Record<string, number> = {};
        for (const t of endings.values()) counts[t] = (counts[t] ?? 0) + 1;
        console.log(`workflow crash [${target.name}]: ${kills} kills, ${JSON.stringify(counts)}`);
        for (const [id, ending] of endings) expect(['WorkflowCompleted', 'WorkflowCompensated'], id).toContain(ending);

        let total = 0;
        const refs = new Map<string, number>();
        for (let a = 0; a < ACCOUNTS; a++) {
          for (const e of (await collect(store, `account-${a}`)) as AccountEvent[]) {
            if (e.type === 'Opened') total += e.data.balance;
            else {
              total += e.type === 'Deposited' ? e.data.amount : -e.data.amount;
              const key = `${e.type}:${e.data.ref}@${a}`;
              refs.set(key, (refs.get(key) ?? 0) + 1);
            }
          }
        }
        expect(total, 'money is neither made nor lost').toBe(ACCOUNTS * OPENING_BALANCE);
        for (const [key, n] of refs) expect(n, `${key} applied once`).toBe(1);
        for (let n = 0; n < TRANSFERS; n++) {
          const { from, to, refused } = transfer(n);
          const completed = endings.get(`t${n}`) === 'WorkflowCompleted';
          const history = completed === refused ? JSON.stringify((await collect(store, `workflow-transfer-t${n}`)).map((e) => [e.type, e.data])) : '';
          expect(completed, `t${n} ended as its bank decided ${history}`).toBe(!refused);
          expect(refs.get(`Withdrawn:t${n}@${from}`), `t${n} debited`).toBe(1);
          expect(refs.get(`Deposited:t${n}@${to}`), `t${n} credited`).toBe(completed ? 1 : undefined);
          expect(refs.get(`Deposited:refund:t${n}@${from}`), `t${n} refunded`).toBe(completed ? undefined : 1);
        }
      } finally {
        await store.close();
      }
    });

    it('a durable timer fires on time after the engine that set it was SIGKILLed', { timeout: 60_000 }, async () => {
      const url = target.url();
      const first = runTs(ENGINE, ['timer', url, '3000', 'nap-1']);
      await first.waitForLine((l) => l === 'sleeping');
      first.process.kill('SIGKILL');
      await first.exited;
      const second = runTs(ENGINE, ['timer', url, '3000', 'nap-1']);
      await second.waitForLine((l) => l.startsWith('woke'));
      const late = Number(second.lines.find((l) => l.startsWith('woke'))!.split(' ')[1]);
      expect(late).toBeGreaterThanOrEqual(0);
      expect(late, 'woke within a poll interval of its time').toBeLessThan(1000);
      expect(await second.exited).toBe(0);
    });
  });
}
