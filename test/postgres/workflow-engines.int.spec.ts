import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore, type EventStore, type RecordedEvent } from '../../src/index.js';
import { runTs, type Child } from '../support/child.js';
import { processTargets } from '../support/process-targets.js';

// Workflow engines in two processes share one PostgreSQL store. Every step of every instance
// marks its start and end in a stream of the instance (`trace-<id>`); if two engines ever ran
// one instance at once, two starts would follow each other there.
const ENGINE = join(import.meta.dirname, '../support/workflow-engine.ts');
const target = processTargets('workflow-engines').find((t) => t.name === 'postgres')!;

interface Mark {
  readonly pid: number;
  readonly step: string;
  readonly type: string;
}

async function traces(store: EventStore, count: number): Promise<Map<string, Mark[]>> {
  const out = new Map<string, Mark[]>();
  for (let n = 0; n < count; n++) {
    const marks: Mark[] = [];
    for await (const e of store.readStream(`trace-t${n}`)) marks.push({ ...(e.data as { pid: number; step: string }), type: e.type });
    out.set(`t${n}`, marks);
  }
  return out;
}

async function ended(store: EventStore, count: number): Promise<number> {
  let n = 0;
  for (let i = 0; i < count; i++) {
    let last: RecordedEvent | undefined;
    for await (const e of store.readStream(`workflow-traced-t${i}`, { direction: 'backward', limit: 1 })) last = e;
    if (last?.type === 'WorkflowCompleted') n++;
  }
  return n;
}

/**
 * Each step began and ended in one process before the next step began. Only the killed engine
 * may leave a step begun and not ended, or ended and not recorded (the survivor then runs it again:
 * steps are at least once; effects on the store are kept once by idempotency keys).
 */
function checkTrace(id: string, marks: readonly Mark[], killed: number | undefined): void {
  const runs: { step: string; pid: number }[] = [];
  for (let i = 0; i < marks.length; i++) {
    const mark = marks[i]!;
    expect(mark.type, `${id}: ${JSON.stringify(marks)}`).toBe('StepBegan');
    const end = marks[i + 1];
    runs.push(mark);
    if (end?.type === 'StepEnded' && end.pid === mark.pid && end.step === mark.step) i++;
    else expect(mark.pid, `${id}: a step began and not ended by a live engine: ${JSON.stringify(marks)}`).toBe(killed);
  }
  runs.forEach((run, i) => {
    const next = runs[i + 1];
    if (next?.step === run.step) expect(run.pid, `${id}: a step run twice by a live engine: ${JSON.stringify(marks)}`).toBe(killed);
  });
  expect(runs.map((r) => r.step).filter((step, i, all) => all[i + 1] !== step), id).toEqual(['a', 'b', 'c']);
}

describe.skipIf(target.unavailable !== undefined)(`workflow engines in two processes [postgres]${target.unavailable ? ` (skipped: ${target.unavailable})` : ''}`, () => {
  it('share the instances and never run one instance in both at once', { timeout: 120_000 }, async () => {
    const url = target.url();
    const count = 80;
    const helper = runTs(ENGINE, ['trace', url, String(count), '0']);
    await helper.waitForLine((l) => l === 'started');
    const starter = runTs(ENGINE, ['trace', url, String(count), '1']);
    await starter.waitForLine((l) => l === 'ended');
    const store = await openStore(url);
    try {
      const all = await traces(store, count);
      const pids = new Set<number>();
      for (const [id, marks] of all) {
        checkTrace(id, marks, undefined);
        for (const m of marks) pids.add(m.pid);
      }
      expect(pids, 'both engines ran instances').toEqual(new Set([helper.process.pid, starter.process.pid]));
    } finally {
      await store.close();
      for (const c of [helper, starter]) c.process.kill('SIGKILL');
    }
  });

  it('a dead engine’s instances are taken over once its leases run out', { timeout: 120_000 }, async () => {
    const url = target.url();
    const count = 150;
    let survivor: Child | undefined;
    const doomed = runTs(ENGINE, ['trace', url, String(count), '1']);
    const store = await openStore(url);
    try {
      await doomed.waitForLine((l) => l === 'all started');
      // Let the doomed engine get some way, then kill it mid-step.
      await new Promise((resolve) => setTimeout(resolve, 200));
      doomed.process.kill('SIGKILL');
      await doomed.exited;
      survivor = runTs(ENGINE, ['trace', url, String(count), '0']);
      const deadline = Date.now() + 60_000;
      while ((await ended(store, count)) < count) {
        if (Date.now() > deadline) throw new Error('the survivor did not finish the instances');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const all = await traces(store, count);
      let takenOver = 0;
      for (const [id, marks] of all) {
        checkTrace(id, marks, doomed.process.pid);
        if (marks.some((m) => m.pid === doomed.process.pid) && marks.some((m) => m.pid === survivor!.process.pid)) takenOver++;
      }
      expect(takenOver, 'instances begun by the dead engine were finished by the other').toBeGreaterThan(0);
    } finally {
      await store.close();
      survivor?.process.kill('SIGKILL');
    }
  });

  it.each([[2000], [-2000]])('an engine whose clock is %d ms off the database’s runs a timer once, on its own time', { timeout: 60_000 }, async (skew) => {
    const child = runTs(ENGINE, ['skew', target.url(), String(skew)]);
    await child.waitForLine((l) => l.startsWith('runs'));
    const [, runs, , elapsed] = child.lines.find((l) => l.startsWith('runs'))!.split(' ');
    expect(Number(runs), 'the code ran when started and when the timer fired').toBe(2);
    expect(Number(elapsed)).toBeGreaterThanOrEqual(1000);
    expect(Number(elapsed)).toBeLessThan(3000);
  });
});
