import { execFileSync } from 'node:child_process';
import type { EventStore } from 'factline';
import type { RawReference } from './raw.js';
import { percentile, rate, timed, timedOps, type Measured } from './stats.js';

const quick = process.argv.includes('--quick');
export const N = {
  singles: quick ? 300 : 3000,
  writers: 16,
  perWriter: quick ? 100 : 1000,
  batchTimes: quick ? 10 : 50,
  bigStream: 10_000,
  all: quick ? 20_000 : 100_000,
};
export const data = {
  orderId: 'order-000123',
  customer: 'customer-42',
  lines: [
    { sku: 'sku-1', qty: 2, price: 1999 },
    { sku: 'sku-2', qty: 1, price: 4999 },
  ],
  note: 'leave at the door',
};
const ev = () => ({ type: 'Bench', data });

export interface Targets {
  readonly a?: string;
  readonly b?: string;
  readonly c?: string;
  readonly e?: string;
}

export interface Row {
  scenario: string;
  adapter: string;
  result: Measured;
  raw?: Measured;
  target?: string;
  /** What `events` counts. Default 'ev/s'. */
  unit?: string;
}

/**
 * (a)–(e) on one store, each beside its raw reference. `readAllArgs` are the arguments for
 * bench/read-all.ts to read the store's log in a fresh process.
 */
export async function scenarios(
  adapter: string,
  store: EventStore,
  raw: RawReference | undefined,
  readAllArgs: readonly [string, string],
  targets: Targets,
): Promise<Row[]> {
  const rows: Row[] = [];
  const add = (scenario: string, result: Measured, rawResult: Measured | undefined, target: string | undefined) => {
    rows.push({ scenario, adapter, result, ...(rawResult ? { raw: rawResult } : {}), ...(target ? { target } : {}) });
    printRow(rows.at(-1)!);
  };

  // Ours and raw take turns in rounds, so that drift in the disk's speed falls on both alike.
  const rounds = 10;
  const a: Measured[] = [];
  const rawA: Measured[] = [];
  for (let r = 0; r < rounds; r++) {
    a.push(await timedOps(N.singles / rounds, 1, (i) => store.append(`single-${r}-${i}`, [ev()])));
    if (raw) rawA.push(await raw.singles(N.singles / rounds, data, `single-${r}`));
  }
  add('(a) sequential 1-event appends, new streams', merge(a), raw ? merge(rawA) : undefined, targets.a);

  const b = await timed(N.writers * N.perWriter, async () => {
    await Promise.all(
      Array.from({ length: N.writers }, async (_, w) => {
        for (let i = 0; i < N.perWriter; i++) await store.append(`writer-${w}-${i % 50}`, [ev()]);
      }),
    );
  });
  add(`(b) ${N.writers} concurrent writers, 1-event appends`, b, await raw?.concurrent(N.writers, N.perWriter / 4, data, 'concurrent'), targets.b);

  const big = Array.from({ length: 1000 }, ev);
  const c = await timedOps(N.batchTimes, 1000, () => store.append('batches', big));
  add('(c) one append of 1,000 events, repeated', c, await raw?.batches(N.batchTimes, 1000, data, 'batches'), targets.c);

  for (let i = 0; i < N.bigStream / 1000; i++) await store.append('big-stream', big);
  const d = await timed(N.bigStream, async () => {
    let n = 0;
    for await (const _event of store.readStream('big-stream')) n++;
    if (n !== N.bigStream) throw new Error(`read ${n}`);
  });
  let rawD: Measured | undefined;
  if (raw) {
    await raw.batches(N.bigStream / 1000, 1000, data, 'big-stream');
    rawD = await raw.readStream('big-stream', N.bigStream);
  }
  add('(d) read a 10,000-event stream', d, rawD, undefined);

  // Fill both logs up to N.all events, then read each whole in a fresh process.
  let total = 0;
  for await (const _event of store.readAll()) total++;
  for (; total < N.all; total += 1000) await store.append(`fill-${total % 97}`, big);
  const e = readAllInChild(readAllArgs);
  let rawE: Measured | undefined;
  if (raw) {
    for (let n = raw.rows; n < N.all; n += 1000) await raw.batches(1, 1000, data, `fill-${n % 97}`);
    rawE = readAllInChild(raw.readAllArgs);
  }
  add(`(e) readAll over ${N.all.toLocaleString('en')} events`, e, rawE, targets.e);
  return rows;
}

function merge(parts: readonly Measured[]): Measured {
  return {
    events: parts.reduce((n, p) => n + p.events, 0),
    seconds: parts.reduce((n, p) => n + p.seconds, 0),
    latencies: parts.flatMap((p) => p.latencies ?? []).sort((x, y) => x - y),
  };
}

function readAllInChild([kind, arg]: readonly [string, string]): Measured {
  const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/read-all.ts', kind, arg, String(N.all)], { encoding: 'utf8' });
  const result = JSON.parse(out.trim().split('\n').at(-1)!) as Measured;
  if (result.events < N.all) throw new Error(`${kind} read ${result.events} events, expected at least ${N.all}`);
  return result;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en');
const ms = (n: number) => `${n.toFixed(3)} ms`;
const mb = (bytes: number | undefined) => (bytes === undefined ? '' : `${(bytes / 1024 / 1024).toFixed(1)} MB`);

export function printRow(row: Row): void {
  const r = row.result;
  const cells = [
    row.scenario.padEnd(46),
    row.adapter.padEnd(8),
    `${fmt(rate(r))} ${row.unit ?? 'ev/s'}`.padStart(16),
    (r.latencies ? `p50 ${ms(percentile(r.latencies, 50))} p99 ${ms(percentile(r.latencies, 99))}` : '').padEnd(30),
    (r.rssGrowth !== undefined ? `RSS +${mb(r.rssGrowth)}` : '').padEnd(14),
    (row.raw ? `raw ${fmt(rate(row.raw))} ${row.unit ?? 'ev/s'}` : '').padEnd(22),
    (row.raw?.latencies ? `raw p50 ${ms(percentile(row.raw.latencies, 50))} p99 ${ms(percentile(row.raw.latencies, 99))}` : '').padEnd(34),
    row.raw ? `${(rate(r) / rate(row.raw)).toFixed(2)}× raw` : '',
    row.raw?.rssGrowth !== undefined ? `(raw RSS +${mb(row.raw.rssGrowth)})` : '',
    row.target ? `target ${row.target}` : '',
  ];
  console.log(cells.join('  ').trimEnd());
}
