// Messaging between services over NATS JetStream (127.0.0.1:4222, or FACTLINE_BENCH_NATS):
// (p) the relay's throughput into JetStream, beside the raw client publishing the same messages
//     with the same ids, 500 in flight (the relay's batch);
// (q) the consumer with its inbox: each message's append and inbox entry in one SQLite
//     transaction, beside the raw client consuming and acking with the same one-at-a-time order
//     and better-sqlite3 writing an event row and an inbox row per message, synced (WAL, FULL);
// (r) append-to-consumer latency while events come one every 2 ms, beside raw publish-to-receive.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { EventStore } from 'factline';
import { sqliteStore } from 'factline/sqlite';
import { consumeFromNats, encodeEvent, relayToNats } from 'factline/nats';
import Database from 'better-sqlite3';
import { printRow } from './scenarios.js';
import { withPeakRss, type Measured } from './stats.js';

/** Peak RSS growth of work that runs on its own: sampled every 20 ms. */
function sampled(work: () => Promise<Measured>): Promise<Measured> {
  return withPeakRss(async (sample) => {
    const timer = setInterval(sample, 20);
    try {
      return await work();
    } finally {
      clearInterval(timer);
    }
  });
}

const quick = process.argv.includes('--quick');
const EVENTS = quick ? 5_000 : 20_000;
const LIVE = quick ? 300 : 1_000;
const servers = process.env.FACTLINE_BENCH_NATS ?? '127.0.0.1:4222';
const EVENT = { type: 'Placed', data: { sku: 'sencha', quantity: 2, note: 'an event of a few dozen bytes' } };

export async function natsScenarios(): Promise<void> {
  let nc: NatsConnection;
  try {
    nc = await connect({ servers, timeout: 3000 });
  } catch (error) {
    console.log(`NATS skipped: not reachable at ${servers} (${(error as Error).message}); set FACTLINE_BENCH_NATS`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'factline-bench-nats-'));
  const jsm = await jetstreamManager(nc);
  const names = { relay: `BENCH_RELAY_${process.pid}`, raw: `BENCH_RAW_${process.pid}`, live: `BENCH_LIVE_${process.pid}`, rawLive: `BENCH_RAWLIVE_${process.pid}` };
  try {
    const source = sqliteStore({ path: join(dir, 'source.db') });
    for (let i = 0; i < EVENTS; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, s) => source.append(`order-${s}`, [{ ...EVENT, data: { ...EVENT.data, i: i + s } }])));
    }

    // (p) relay throughput
    const relayed = await sampled(async () => {
      const start = performance.now();
      const relay = await relayToNats(source, { servers, stream: names.relay, subject: `${names.relay}.events` });
      let last = 0n;
      for await (const e of source.readAll({ after: 0n })) last = e.position;
      await relay.waitFor(last, { timeout: 600_000 });
      const seconds = (performance.now() - start) / 1000;
      await relay.close();
      return { events: EVENTS, seconds };
    });
    const bodies: { id: string; body: string }[] = [];
    for await (const e of source.readAll()) bodies.push({ id: e.id, body: encodeEvent(e) });
    await jsm.streams.add({ name: names.raw, subjects: [`${names.raw}.events`] });
    const js = jetstream(nc);
    const raw = await sampled(async () => {
      const start = performance.now();
      for (let i = 0; i < bodies.length; i += 500) {
        await Promise.all(bodies.slice(i, i + 500).map((b) => js.publish(`${names.raw}.events`, b.body, { msgID: b.id })));
      }
      return { events: bodies.length, seconds: (performance.now() - start) / 1000 };
    });
    printRow({ scenario: '(p) relay into JetStream (raw: client publish)', adapter: 'sqlite', result: relayed, raw, target: '≥ 5,000 ev/s' });

    // (q) consumer with inbox, in order
    const target = sqliteStore({ path: join(dir, 'target.db') });
    const consumed = await sampled(() => consume(target, names.relay, EVENTS));
    await jsm.consumers.add(names.raw, { durable_name: 'raw', ack_policy: AckPolicy.Explicit, max_ack_pending: 1 });
    const write = rawInbox(join(dir, 'raw-target.db'));
    const rawConsumed = await sampled(async () => {
      const start = performance.now();
      const messages = await js.consumers.get(names.raw, 'raw').then((c) => c.consume({ max_messages: 16 }));
      let n = 0;
      for await (const m of messages) {
        write(m.headers?.get('Nats-Msg-Id') ?? '', m.string());
        m.ack();
        if (++n === bodies.length) break;
      }
      return { events: n, seconds: (performance.now() - start) / 1000 };
    });
    printRow({ scenario: '(q) consumer + inbox, in order (raw: consume, SQLite tx, ack)', adapter: 'sqlite', result: consumed, raw: rawConsumed, unit: 'msg/s' });
    await target.close();

    // (r) append → consumer latency
    const live = await latency(join(dir, 'live-source.db'), join(dir, 'live.db'), names.live);
    const rawLive = await rawLatency(nc, names.rawLive);
    printRow({ scenario: '(r) append → consumer handler, 1 per 2 ms (raw: publish → receive)', adapter: 'sqlite', result: live, raw: rawLive, target: 'p99 ≤ 50 ms' });
    await source.close();
  } finally {
    for (const name of Object.values(names)) await jsm.streams.delete(name).catch(() => false);
    await nc.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function consume(store: EventStore, stream: string, count: number): Promise<Measured> {
  const start = performance.now();
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  let n = 0;
  const consumer = await consumeFromNats({
    servers,
    stream,
    durable: 'bench',
    store,
    handler: (event, ctx) => {
      ctx.append(`seen-${event.stream}`, [{ type: 'Seen', data: { version: event.version } }]);
      if (++n === count) setImmediate(done);
    },
  });
  await finished;
  const seconds = (performance.now() - start) / 1000;
  await consumer.close();
  return { events: count, seconds };
}

async function latency(sourcePath: string, path: string, stream: string): Promise<Measured> {
  const source = sqliteStore({ path: sourcePath });
  const target = sqliteStore({ path });
  const relay = await relayToNats(source, { servers, stream, subject: `${stream}.events` });
  const sent = new Map<number, number>();
  const latencies: number[] = [];
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const consumer = await consumeFromNats({
    servers,
    stream,
    durable: 'live',
    store: target,
    handler: (event) => {
      const { seq } = event.data as { seq: number };
      latencies.push(performance.now() - sent.get(seq)!);
      if (latencies.length === LIVE) done();
    },
  });
  const start = performance.now();
  for (let seq = 0; seq < LIVE; seq++) {
    sent.set(seq, performance.now());
    await source.append(`live-${seq % 10}`, [{ type: 'Pinged', data: { seq } }]);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await finished;
  const seconds = (performance.now() - start) / 1000;
  await consumer.close();
  await relay.close();
  await target.close();
  await source.close();
  return { events: LIVE, seconds, latencies: latencies.sort((a, b) => a - b) };
}

async function rawLatency(nc: NatsConnection, stream: string): Promise<Measured> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: stream, subjects: [`${stream}.events`] });
  await jsm.consumers.add(stream, { durable_name: 'raw', ack_policy: AckPolicy.Explicit, max_ack_pending: 1 });
  const js = jetstream(nc);
  const messages = await js.consumers.get(stream, 'raw').then((c) => c.consume({ max_messages: 16 }));
  const sent = new Map<number, number>();
  const latencies: number[] = [];
  const receiving = (async () => {
    for await (const m of messages) {
      latencies.push(performance.now() - sent.get(Number(m.string()))!);
      m.ack();
      if (latencies.length === LIVE) break;
    }
  })();
  const start = performance.now();
  for (let seq = 0; seq < LIVE; seq++) {
    sent.set(seq, performance.now());
    await js.publish(`${stream}.events`, String(seq));
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await receiving;
  return { events: LIVE, seconds: (performance.now() - start) / 1000, latencies: latencies.sort((a, b) => a - b) };
}

/** An event row and an inbox row per message, in one synced transaction: what the consumer writes. */
function rawInbox(path: string): (id: string, body: string) => void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec(`CREATE TABLE events (position INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, stream TEXT NOT NULL, data TEXT NOT NULL) STRICT;
    CREATE TABLE inbox (id TEXT PRIMARY KEY, entry TEXT NOT NULL) STRICT`);
  const seen = db.prepare('SELECT 1 FROM inbox WHERE id = ?');
  const event = db.prepare('INSERT INTO events (id, stream, data) VALUES (?, ?, ?)');
  const inbox = db.prepare('INSERT INTO inbox (id, entry) VALUES (?, ?)');
  const tx = db.transaction((id: string, body: string) => {
    if (seen.get(id)) return;
    event.run(crypto.randomUUID(), `seen-${id}`, body);
    inbox.run(id, '{}');
  });
  return (id, body) => tx.immediate(id, body);
}
