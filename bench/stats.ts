export interface Measured {
  events: number;
  seconds: number;
  /** Per-operation latencies in ms, when the scenario has operations worth timing. */
  latencies?: number[];
  /** Peak RSS growth over the scenario, in bytes. */
  rssGrowth?: number;
}

export const rate = (m: Measured) => m.events / m.seconds;

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function timed(events: number, work: () => Promise<void> | void): Promise<Measured> {
  const start = performance.now();
  await work();
  return { events, seconds: (performance.now() - start) / 1000 };
}

/** Times each call of `op` separately. */
export async function timedOps(count: number, eventsPerOp: number, op: (i: number) => unknown): Promise<Measured> {
  const latencies: number[] = [];
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await op(i);
    latencies.push(performance.now() - t);
  }
  return { events: count * eventsPerOp, seconds: (performance.now() - start) / 1000, latencies: latencies.sort((a, b) => a - b) };
}

/** Samples RSS while `work` runs; `sample` is handed to the work to call between pages. */
export async function withPeakRss(work: (sample: () => void) => Promise<Measured>): Promise<Measured> {
  (globalThis as { gc?: () => void }).gc?.();
  const base = process.memoryUsage.rss();
  let peak = base;
  const result = await work(() => {
    const rss = process.memoryUsage.rss();
    if (rss > peak) peak = rss;
  });
  return { ...result, rssGrowth: peak - base };
}
