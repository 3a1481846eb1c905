import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryStore, openStore, type EventStore, type RecordedEvent } from '../../src/index.js';
import { consumeFromNats, relayToNats } from '../../src/nats/index.js';
import { runTs } from '../support/child.js';
import { between, seeded } from '../support/random.js';
import { closeNats, deleteStream, eventually, freshStream, nats, storedIds } from '../support/nats.js';

const servers = nats.servers ?? '';
const RELAY = 'test/support/nats-relay.ts';
const CONSUMER = 'test/support/nats-consumer.ts';

async function collect(iterable: AsyncIterable<RecordedEvent>): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for await (const e of iterable) out.push(e);
  return out;
}

/** Appends `count` events, `{ i }`, round-robin over `streams` streams. */
async function fill(store: EventStore, count: number, streams: number, from = 0): Promise<void> {
  for (let i = from; i < from + count; i++) await store.append(`order-${i % streams}`, [{ type: 'Placed', data: { i } }]);
}

/** Every source event applied exactly once, and each stream's in its order. */
async function expectEachOnceInOrder(source: EventStore, target: EventStore): Promise<void> {
  const sources = await collect(source.readAll());
  const effects = (await collect(target.readAll())).filter((e) => e.type === 'Applied');
  const applied = effects.map((e) => (e.data as { source: string }).source);
  expect(applied.length).toBe(sources.length);
  expect(new Set(applied).size).toBe(sources.length);
  const byStream = new Map<string, number[]>();
  for (const e of effects) byStream.set(e.stream, [...(byStream.get(e.stream) ?? []), (e.data as { version: number }).version]);
  for (const versions of byStream.values()) expect(versions).toEqual(versions.map((_, i) => i + 1));
}

/** The JetStream stream holds each source event once, each source stream's in order. */
async function expectStoredOnceInOrder(stream: string, source: EventStore): Promise<void> {
  const ids = await storedIds(stream);
  const events = new Map((await collect(source.readAll())).map((e) => [e.id, e]));
  expect(ids.length).toBe(events.size);
  expect(new Set(ids).size).toBe(events.size);
  const last = new Map<string, number>();
  for (const id of ids) {
    const e = events.get(id)!;
    expect(e.version).toBe((last.get(e.stream) ?? 0) + 1);
    last.set(e.stream, e.version);
  }
}

describe.skipIf(!nats.servers)('NATS messaging through crashes', () => {
  const dirs: string[] = [];
  const streams: string[] = [];
  const fresh = () => {
    const s = freshStream();
    streams.push(s);
    return s;
  };
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), 'factline-nats-'));
    dirs.push(d);
    return d;
  };
  afterAll(async () => {
    for (const s of streams) await deleteStream(s);
    await closeNats();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('a relay SIGKILLed after the broker acked and before its checkpoint moved sends nothing twice', async () => {
    const stream = fresh();
    const url = `sqlite:${join(tmp(), 'orders.db')}`;
    const source = await openStore(url);
    await fill(source, 300, 6);
    // Batches of 100: the first is checkpointed, the kill falls in the second, after 150 acks.
    const first = runTs(RELAY, [url, servers, stream, '100'], { FACTLINE_TEST_KILL_AFTER_ACKS: '150' });
    expect(await first.exited).toBe('SIGKILL');
    expect((await storedIds(stream)).length).toBeGreaterThanOrEqual(150);
    const second = runTs(RELAY, [url, servers, stream, '100']);
    await eventually('300 messages in JetStream', async () => (await storedIds(stream)).length >= 300, 30_000);
    second.process.kill('SIGKILL');
    await second.exited;
    await expectStoredOnceInOrder(stream, source);
    const target = memoryStore();
    const consumer = await consumeFromNats({ servers, stream, durable: 'c', store: target, handler: applied });
    await eventually('300 effects', () => consumer.status().processed === 300);
    await expectEachOnceInOrder(source, target);
    await consumer.close();
    await source.close();
  });

  it('a relay SIGKILLed at random while events are appended loses nothing and duplicates nothing', async () => {
    const seed = Number(process.env.FACTLINE_CRASH_SEED ?? Math.floor(Math.random() * 1e6));
    console.log(`nats relay crash test seed ${seed} (replay with FACTLINE_CRASH_SEED=${seed})`);
    const random = seeded(seed);
    const stream = fresh();
    const url = `sqlite:${join(tmp(), 'orders.db')}`;
    const source = await openStore(url);
    const appending = fill(source, 1000, 7);
    for (let kill = 0; kill < 6; kill++) {
      const relay = runTs(RELAY, [url, servers, stream, String(between(random, 5, 80))]);
      await relay.waitForLine((l) => l === 'ready');
      await new Promise((resolve) => setTimeout(resolve, between(random, 20, 200)));
      relay.process.kill('SIGKILL');
      await relay.exited;
    }
    await appending;
    const last = runTs(RELAY, [url, servers, stream, '50']);
    await eventually('1000 messages in JetStream', async () => (await storedIds(stream)).length >= 1000, 60_000);
    last.process.kill('SIGKILL');
    await last.exited;
    await expectStoredOnceInOrder(stream, source);
    await source.close();
  });

  it('a consumer SIGKILLed inside its handler, and at random, applies each message once and in order', async () => {
    const seed = Number(process.env.FACTLINE_CRASH_SEED ?? Math.floor(Math.random() * 1e6));
    console.log(`nats consumer crash test seed ${seed} (replay with FACTLINE_CRASH_SEED=${seed})`);
    const random = seeded(seed);
    const stream = fresh();
    const source = memoryStore();
    const relay = await relayToNats(source, { servers, stream, subject: `${stream}.events` });
    await fill(source, 400, 8);
    const url = `sqlite:${join(tmp(), 'shipping.db')}`;
    const args = [url, servers, stream, 'shipping'];
    const first = runTs(CONSUMER, args, { FACTLINE_TEST_KILL_AT: '37' });
    expect(await first.exited).toBe('SIGKILL');
    let kills = 1;
    for (; kills < 6; kills++) {
      const consumer = runTs(CONSUMER, args);
      await consumer.waitForLine((l) => l === 'ready');
      await new Promise((resolve) => setTimeout(resolve, between(random, 50, 400)));
      consumer.process.kill('SIGKILL');
      await consumer.exited;
    }
    const target = await openStore(url);
    const last = runTs(CONSUMER, args);
    await eventually('400 effects', async () => (await collect(target.readAll())).filter((e) => e.type === 'Applied').length >= 400, 60_000);
    last.process.kill('SIGKILL');
    await last.exited;
    await expectEachOnceInOrder(source, target);
    console.log(`nats consumer crash: ${kills} kills`);
    await target.close();
    await relay.close();
  });

  it('a NATS server killed and restarted mid-stream: the relay and the consumer carry on, nothing lost or doubled', async () => {
    const port = await freePort();
    const dir = tmp();
    const address = `127.0.0.1:${port}`;
    let server = startNats(port, dir);
    await eventually('the private NATS server', () => canConnect(port));
    const stream = 'RESTART';
    const source = memoryStore();
    const target = memoryStore();
    const relay = await relayToNats(source, { servers: address, stream, subject: 'restart.events' });
    const consumer = await consumeFromNats({ servers: address, stream, durable: 'c', store: target, handler: applied, ackWait: 1000 });
    await fill(source, 200, 5);
    await eventually('some effects', () => consumer.status().processed > 0);
    server.kill('SIGKILL');
    await new Promise((resolve) => server.once('exit', resolve));
    await fill(source, 200, 5, 200); // appended while the broker is down
    await new Promise((resolve) => setTimeout(resolve, 500));
    server = startNats(port, dir);
    await fill(source, 200, 5, 400);
    await eventually('600 effects', async () => (await collect(target.readAll())).length >= 600, 60_000);
    await expectEachOnceInOrder(source, target);
    // Closed while the server is down: both end, their connections with them.
    server.kill('SIGKILL');
    await new Promise((resolve) => server.once('exit', resolve));
    await Promise.all([consumer.close(), relay.close()]);
    expect(consumer.status().state).toBe('stopped');
  });
});

function applied(event: RecordedEvent, ctx: { append: (stream: string, events: { type: string; data: unknown }[]) => void }): void {
  ctx.append(`effects-${event.stream}`, [{ type: 'Applied', data: { source: event.id, version: event.version } }]);
}

function startNats(port: number, dir: string): ChildProcess {
  return spawn(process.env.FACTLINE_TEST_NATS_SERVER ?? '/usr/sbin/nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], { stdio: 'ignore' });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
