// Workflows: three-step workflows started 100 at a time and run to the end, workflows/s and the
// latency of each (start → result), and the cost of a step (three-step against zero-step runs).
// Beside them the raw reference: the rows the engine must make durable for one such workflow
// (its instance row, its history events, the row's final state), written with the driver in the
// same batches, with nothing else (no replay, no leases, no checks).
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { defineWorkflow, startWorkflows, type EventStore, type WorkflowDefinition } from 'factline';
import pg from 'pg';
import { printRow } from './scenarios.js';
import { withPeakRss, type Measured } from './stats.js';

const quick = process.argv.includes('--quick');
const WORKFLOWS = quick ? 2000 : 10_000;
const WAVE = 100;

const threeSteps = defineWorkflow({
  name: 'benchThree',
  async run(ctx, input: { n: number }) {
    const a = await ctx.step('one', () => input.n);
    const b = await ctx.step('two', () => a + 1);
    return ctx.step('three', () => b + 1);
  },
});

const noSteps = defineWorkflow({ name: 'benchNone', run: (_ctx, input: { n: number }) => Promise.resolve(input.n) });


async function runWorkflows(store: EventStore, workflow: WorkflowDefinition<{ n: number }, number>, count: number): Promise<Measured> {
  const engine = await startWorkflows(store, [workflow], { concurrency: WAVE });
  try {
    return await withPeakRss(async (sample) => {
      const latencies: number[] = [];
      const start = performance.now();
      for (let done = 0; done < count; done += WAVE) {
        await Promise.all(
          Array.from({ length: Math.min(WAVE, count - done) }, async (_, i) => {
            const t = performance.now();
            const run = await engine.start(workflow, { n: done + i });
            await run.result();
            latencies.push(performance.now() - t);
          }),
        );
        sample();
      }
      return { events: count, seconds: (performance.now() - start) / 1000, latencies: latencies.sort((a, b) => a - b) };
    });
  } finally {
    await engine.close();
  }
}

export type RawWorkflows = (count: number) => Promise<Measured>;

export async function workflowScenarios(adapter: string, store: EventStore, raw: RawWorkflows | undefined, target: string): Promise<void> {
  await runWorkflows(store, threeSteps, WAVE * 2); // warm up
  const three = await runWorkflows(store, threeSteps, WORKFLOWS);
  printRow({
    scenario: `(l) 3-step workflows, ${WORKFLOWS.toLocaleString('en')}, ${WAVE} at a time`,
    adapter,
    result: three,
    ...(raw ? { raw: await raw(WORKFLOWS) } : {}),
    target,
    unit: 'wf/s',
  });
  const none = await runWorkflows(store, noSteps, WORKFLOWS);
  const perStep = ((three.seconds - none.seconds) / WORKFLOWS / 3) * 1000;
  printRow({ scenario: '(m) 0-step workflows (start, record, end)', adapter, result: none, unit: 'wf/s' });
  console.log(`    (m) cost of a step on ${adapter}: ${perStep.toFixed(3)} ms of engine time per step, ${Math.round(1000 / perStep).toLocaleString('en')} steps/s beyond the workflow's own cost`);
}

/** Per workflow: an instance row, [started, step 1], [step 2], [step 3, completed], the row's end; each a transaction per wave. */
export function rawSqliteWorkflows(path: string): RawWorkflows {
  return (count) => {
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(`CREATE TABLE IF NOT EXISTS wf (id TEXT PRIMARY KEY, status TEXT NOT NULL, input TEXT NOT NULL, result TEXT) STRICT;
      CREATE TABLE IF NOT EXISTS wf_events (position INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, stream TEXT NOT NULL, version INTEGER NOT NULL,
        type TEXT NOT NULL, data TEXT NOT NULL, recorded_at INTEGER NOT NULL, UNIQUE (stream, version)) STRICT`);
    const row = db.prepare('INSERT INTO wf (id, status, input) VALUES (?, ?, ?)');
    const end = db.prepare("UPDATE wf SET status = 'completed', result = ? WHERE id = ?");
    const event = db.prepare('INSERT INTO wf_events (id, stream, version, type, data, recorded_at) VALUES (?, ?, ?, ?, ?, ?)');
    const start = performance.now();
    for (let done = 0; done < count; done += WAVE) {
      const ids = Array.from({ length: Math.min(WAVE, count - done) }, () => randomUUID());
      const tx = (work: (id: string, i: number) => void) => db.transaction(() => ids.forEach(work)).immediate();
      tx((id, i) => row.run(id, 'running', JSON.stringify({ n: done + i })));
      tx((id) => {
        event.run(randomUUID(), `wf-${id}`, 1, 'Started', '{"input":{}}', Date.now());
        event.run(randomUUID(), `wf-${id}`, 2, 'StepCompleted', '{"seq":0,"result":1}', Date.now());
      });
      tx((id) => event.run(randomUUID(), `wf-${id}`, 3, 'StepCompleted', '{"seq":1,"result":2}', Date.now()));
      tx((id) => {
        event.run(randomUUID(), `wf-${id}`, 4, 'StepCompleted', '{"seq":2,"result":3}', Date.now());
        event.run(randomUUID(), `wf-${id}`, 5, 'Completed', '{"result":3}', Date.now());
      });
      tx((id) => end.run('3', id));
    }
    const seconds = (performance.now() - start) / 1000;
    db.close();
    return Promise.resolve({ events: count, seconds });
  };
}

/** The same on PostgreSQL, each wave's rows in one multi-row statement per transaction. */
export function rawPostgresWorkflows(url: string): RawWorkflows {
  return async (count) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(`CREATE SCHEMA IF NOT EXISTS raw_wf;
      CREATE TABLE IF NOT EXISTS raw_wf.wf (id text PRIMARY KEY, status text NOT NULL, input text NOT NULL, result text);
      CREATE TABLE IF NOT EXISTS raw_wf.events (position bigserial PRIMARY KEY, id uuid NOT NULL UNIQUE, stream text NOT NULL,
        version integer NOT NULL, type text NOT NULL, data text NOT NULL, recorded_at timestamptz NOT NULL, UNIQUE (stream, version))`);
    const events = (ids: string[], rows: [number, string, string][]) => {
      const streams = ids.flatMap((id) => rows.map(() => `wf-${id}`));
      const all = ids.flatMap(() => rows);
      return client.query(
        `INSERT INTO raw_wf.events (id, stream, version, type, data, recorded_at)
         SELECT gen_random_uuid(), s, v, t, d, now() FROM unnest($1::text[], $2::int[], $3::text[], $4::text[]) AS u(s, v, t, d)`,
        [streams, all.map((r) => r[0]), all.map((r) => r[1]), all.map((r) => r[2])],
      );
    };
    const start = performance.now();
    for (let done = 0; done < count; done += WAVE) {
      const ids = Array.from({ length: Math.min(WAVE, count - done) }, () => randomUUID());
      await client.query(`INSERT INTO raw_wf.wf (id, status, input) SELECT id, 'running', '{}' FROM unnest($1::text[]) AS id`, [ids]);
      await events(ids, [[1, 'Started', '{"input":{}}'], [2, 'StepCompleted', '{"seq":0,"result":1}']]);
      await events(ids, [[3, 'StepCompleted', '{"seq":1,"result":2}']]);
      await events(ids, [[4, 'StepCompleted', '{"seq":2,"result":3}'], [5, 'Completed', '{"result":3}']]);
      await client.query(`UPDATE raw_wf.wf SET status = 'completed', result = '3' WHERE id = ANY($1::text[])`, [ids]);
    }
    const seconds = (performance.now() - start) / 1000;
    await client.end();
    return { events: count, seconds };
  };
}
