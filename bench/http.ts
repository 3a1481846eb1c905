// The HTTP API: what going through it costs beside calling the store directly. Sixteen clients on
// keep-alive connections append 1-event batches, each to a stream of its own, then read 100-event
// pages. The load comes from another process (bench/http-load.ts), so that the server has its
// event loop to itself; the reference ("raw") is the same calls made on the store directly, 16 at
// a time, in this process.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { EventStore } from 'factline';
import { serveHttp } from 'factline/http';
import { printRow } from './scenarios.js';
import { withPeakRss, type Measured } from './stats.js';

const quick = process.argv.includes('--quick');
const CLIENTS = 16;
const APPENDS = quick ? 2_000 : 10_000;
const READS = quick ? 1_000 : 5_000;
const TOKEN = 'the-bench-token-0123456789';
const EVENT = { type: 'Pinged', data: { at: 1, note: 'an event of a few dozen bytes' } };

async function load(url: string, method: 'GET' | 'POST', path: string, count: number, body?: string): Promise<Measured> {
  return withPeakRss(async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/http-load.ts', url, method, path, String(count), String(CLIENTS), ...(body ? [body] : [])], {
      env: { ...process.env, TOKEN },
    });
    const { seconds, latencies } = JSON.parse(stdout) as { seconds: number; latencies: number[] };
    return { events: count, seconds, latencies: latencies.sort((a, b) => a - b) };
  });
}

/** `count` calls of `op` in CLIENTS concurrent loops, each timed. */
async function direct(count: number, op: (client: number) => Promise<unknown>): Promise<Measured> {
  return withPeakRss(async () => {
    const latencies: number[] = [];
    const start = performance.now();
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, client) => {
        for (let i = client; i < count; i += CLIENTS) {
          const t = performance.now();
          await op(client);
          latencies.push(performance.now() - t);
        }
      }),
    );
    return { events: count, seconds: (performance.now() - start) / 1000, latencies: latencies.sort((a, b) => a - b) };
  });
}

export async function httpScenarios(adapter: string, store: EventStore): Promise<void> {
  const serving = await serveHttp(store, { port: 0, token: TOKEN });
  try {
    const body = JSON.stringify([EVENT]);
    await load(serving.url, 'POST', '/api/streams/warm-{client}', CLIENTS * 20, body);
    const appended = await load(serving.url, 'POST', '/api/streams/http-{client}', APPENDS, body);
    const raw = await direct(APPENDS, (client) => store.append(`direct-${client}`, [EVENT]));
    printRow({ scenario: `(n) HTTP appends, ${CLIENTS} clients, 1 event (raw: store.append)`, adapter, result: appended, raw });

    await store.append('page', Array.from({ length: 100 }, (_, i) => ({ ...EVENT, data: { ...EVENT.data, at: i } })));
    const read = await load(serving.url, 'GET', '/api/streams/page?limit=100', READS);
    const rawRead = await direct(READS, async () => {
      for await (const _ of store.readStream('page', { limit: 100 }));
    });
    printRow({ scenario: '(o) HTTP reads of 100-event pages (raw: readStream)', adapter, result: read, raw: rawRead, unit: 'pages/s' });
  } finally {
    await serving.close();
  }
}
