// A writer process for the crash, multi-process and gap tests, on any store URL. Appends batches
// from several concurrent loops and prints a line per batch: `ack <batchId> <stream> <size>
// <version> <position>` when acknowledged, `fail <batchId> <code>` when refused.
// Usage: writer.ts <store URL> <seed> <name> <batches per loop, or 0 for ever> <loops>
// Environment, PostgreSQL only: FACTLINE_TEST_SLEEP_MAX (ms slept inside each append transaction,
// at random up to this) and FACTLINE_TEST_ROLLBACKS (share of append transactions rolled back);
// the count of those is printed at the end: `rolled-back <n>`.
import { isFactlineError, openStore, type EventStore } from '../../src/index.js';
import { postgresStore } from '../../src/postgres/index.js';
import { between, seeded } from './random.js';

const [url, seedArg, name, batchesArg, loopsArg] = process.argv.slice(2) as [string, string, string, string, string];
const random = seeded(Number(seedArg));
const batches = Number(batchesArg);
const sleepMax = Number(process.env.FACTLINE_TEST_SLEEP_MAX ?? 0);
const rollbacks = Number(process.env.FACTLINE_TEST_ROLLBACKS ?? 0);
let rolledBack = 0;

async function open(): Promise<EventStore> {
  if (!url.startsWith('postgres') || (sleepMax === 0 && rollbacks === 0)) return openStore(url);
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema')!;
  parsed.searchParams.delete('schema');
  return postgresStore({
    connectionString: parsed.toString(),
    schema,
    testHooks: {
      sleep: () => (random() * sleepMax) / 1000,
      rollback: () => {
        const roll = random() < rollbacks;
        if (roll) rolledBack++;
        return roll;
      },
    },
  });
}

const store = await open();

async function loop(loopId: number): Promise<void> {
  for (let k = 0; batches === 0 || k < batches; k++) {
    const batchId = `${name}-${loopId}-${k}`;
    const size = between(random, 1, 50);
    const stream = random() < 0.3 ? `shared-${k % 3}` : `${name}-${loopId}-${k % 5}`;
    const events = Array.from({ length: size }, (_, i) => ({ type: 'Written', data: { batchId, size, i, pad: 'x'.repeat(between(random, 0, 200)) } }));
    try {
      const { version, position } = await store.append(stream, events);
      process.stdout.write(`ack ${batchId} ${stream} ${size} ${version} ${position}\n`);
    } catch (error) {
      process.stdout.write(`fail ${batchId} ${isFactlineError(error) ? error.code : (error as Error).message.replace(/\s+/g, '_')}\n`);
    }
  }
}

await Promise.all(Array.from({ length: Number(loopsArg) }, (_, i) => loop(i)));
await store.close();
process.stdout.write(`rolled-back ${rolledBack}\ndone\n`);
