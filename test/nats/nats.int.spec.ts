import { afterAll, describe, expect, it } from 'vitest';
import { connect, headers } from '@nats-io/transport-node';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigurationError, memoryStore, openStore, withContext, type RecordedEvent } from '../../src/index.js';
import { postgresStore } from '../../src/postgres/index.js';
import { dropSchema, freshSchema, postgres } from '../support/postgres.js';
import { consumeFromNats, relayToNats, type ConsumerContext, type ReceivedEvent } from '../../src/nats/index.js';
import { closeNats, deleteStream, eventually, freshStream, nats, storedIds } from '../support/nats.js';

const servers = nats.servers ?? '';

async function collect(iterable: AsyncIterable<RecordedEvent>): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for await (const e of iterable) out.push(e);
  return out;
}

describe.skipIf(!nats.servers)('NATS relay and consumer', () => {
  const streams: string[] = [];
  const fresh = () => {
    const s = freshStream();
    streams.push(s);
    return s;
  };
  afterAll(async () => {
    for (const s of streams) await deleteStream(s);
    await closeNats();
  });

  it('relays every event once, in order per stream; the consumer applies each once, in the producer’s correlation', async () => {
    const stream = fresh();
    const orders = memoryStore();
    const shipping = memoryStore();
    const relay = await relayToNats(orders, { servers, stream, subject: `${stream}.events` });
    const seen: ReceivedEvent[] = [];
    const consumer = await consumeFromNats({
      servers,
      stream,
      durable: 'shipping',
      store: shipping,
      handler: (event, ctx) => {
        seen.push(event);
        ctx.append(`seen-${event.stream}`, [{ type: 'Seen', data: { version: event.version } }]);
      },
    });
    let last = 0n;
    for (let round = 0; round < 20; round++) {
      await Promise.all(
        Array.from({ length: 10 }, async (_, s) => {
          const r = await withContext({ correlationId: `order-${s}` }, () => orders.append(`order-${s}`, [{ type: 'Placed', data: { round } }]));
          if (r.position > last) last = r.position;
        }),
      );
    }
    await relay.waitFor(last);
    await eventually('200 effects', async () => (await collect(shipping.readAll())).length === 200);
    expect(new Set(await storedIds(stream)).size).toBe(200);
    expect((await storedIds(stream)).length).toBe(200);
    for (let s = 0; s < 10; s++) {
      const effects = await collect(shipping.readStream(`seen-order-${s}`));
      expect(effects.map((e) => (e.data as { version: number }).version)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      const sources = await collect(orders.readStream(`order-${s}`));
      expect(effects.map((e) => e.metadata.causationId)).toEqual(sources.map((e) => e.id));
      expect(effects.every((e) => e.metadata.correlationId === `order-${s}`)).toBe(true);
    }
    expect(seen[0]).toMatchObject({ type: 'Placed', data: { round: 0 } });
    expect(typeof seen[0]!.position).toBe('bigint');
    expect(consumer.status()).toMatchObject({ state: 'running', processed: 200, duplicates: 0 });
    await consumer.close();
    await relay.close();
    expect(consumer.status().state).toBe('stopped');
  });

  it('a message delivered twice (published again under another broker id) is handled once', async () => {
    const stream = fresh();
    const source = memoryStore();
    const target = memoryStore();
    const relay = await relayToNats(source, { servers, stream, subject: `${stream}.events` });
    const { position } = await source.append('a', [{ type: 'T', data: 1 }]);
    await relay.waitFor(position);
    await relay.close();
    const [event] = await collect(source.readAll());
    // The same event again, as a second relay with an empty checkpoint past the duplicate window would send it.
    const nc = await connect({ servers });
    const h = headers();
    h.set('Nats-Msg-Id', 'other');
    const body = JSON.stringify({ ...event, position: event!.position.toString(), recordedAt: event!.recordedAt.toISOString() });
    await jetstream(nc).publish(`${stream}.events`, body, { headers: h });
    await nc.close();
    let calls = 0;
    const consumer = await consumeFromNats({ servers, stream, durable: 'c', store: target, handler: (e, ctx) => void (calls++, ctx.append('x', [{ type: 'Got', data: e.data }])) });
    await eventually('both deliveries', () => consumer.status().processed + consumer.status().duplicates === 2);
    expect(consumer.status()).toMatchObject({ processed: 1, duplicates: 1 });
    expect(calls).toBe(1);
    expect(await collect(target.readAll())).toHaveLength(1);
    await consumer.close();
  });

  it('a failing handler is tried again in place; its appends commit only when it succeeds', async () => {
    const stream = fresh();
    const source = memoryStore();
    const target = memoryStore();
    const relay = await relayToNats(source, { servers, stream, subject: `${stream}.events` });
    await source.append('a', [{ type: 'T', data: 1 }, { type: 'T', data: 2 }]);
    let failures = 2;
    const order: number[] = [];
    const consumer = await consumeFromNats({
      servers,
      stream,
      durable: 'c',
      store: target,
      backoff: { initial: 10, max: 20 },
      handler: (e, ctx) => {
        ctx.append('effects', [{ type: 'Got', data: e.data }]);
        if (e.data === 1 && failures-- > 0) throw new Error('not yet');
        order.push(e.data as number);
      },
    });
    await eventually('both handled', () => consumer.status().processed === 2);
    expect(order).toEqual([1, 2]);
    expect((await collect(target.readStream('effects'))).map((e) => e.data)).toEqual([1, 2]);
    await consumer.close();
    await relay.close();
  });

  it("a handler that keeps failing stops the consumer (onFailure 'stop') or goes to the inbox's dead letters", async () => {
    const stream = fresh();
    const source = memoryStore();
    const relay = await relayToNats(source, { servers, stream, subject: `${stream}.events` });
    await source.append('a', [{ type: 'Bad', data: 1 }, { type: 'Good', data: 2 }]);
    const handler = (e: ReceivedEvent, ctx: ConsumerContext) => {
      if (e.type === 'Bad') throw new Error('never');
      ctx.append('effects', [{ type: 'Got', data: e.data }]);
    };
    const stopped = await consumeFromNats({ servers, stream, durable: 'stops', store: memoryStore(), retries: 2, backoff: { initial: 5, max: 5 }, handler });
    await eventually('the consumer to stop', () => stopped.status().state === 'failed');
    expect(stopped.status().lastError).toMatchObject({ message: 'never', attempts: 2 });
    expect(stopped.status().processed).toBe(0);
    await stopped.close();

    const target = memoryStore();
    const skipping = await consumeFromNats({ servers, stream, durable: 'skips', store: target, retries: 2, onFailure: 'dead-letter', backoff: { initial: 5, max: 5 }, handler });
    await eventually('the good message', () => skipping.status().processed === 1);
    expect(skipping.status().deadLettered).toBe(1);
    expect((await collect(target.readAll())).map((e) => e.data)).toEqual([2]);
    await skipping.close();
    await relay.close();
  });

  it('a message that is not a Factline event is dropped and the consumer goes on', async () => {
    const stream = fresh();
    const source = memoryStore();
    const relay = await relayToNats(source, { servers, stream, subject: `${stream}.events` });
    const nc = await connect({ servers });
    await jetstream(nc).publish(`${stream}.events`, 'not json');
    await jetstream(nc).publish(`${stream}.events`, JSON.stringify({ id: 'x' }));
    await nc.close();
    await source.append('a', [{ type: 'T', data: 1 }]);
    const target = memoryStore();
    const consumer = await consumeFromNats({ servers, stream, durable: 'c', store: target, handler: (e, ctx) => ctx.append('x', [{ type: 'Got', data: e.data }]) });
    await eventually('the event', () => consumer.status().processed === 1);
    await consumer.close();
    await relay.close();
  });

  it('relays only the types and stream prefix asked for', async () => {
    const stream = fresh();
    const source = memoryStore();
    const relay = await relayToNats(source, { servers, stream, subject: `${stream}.events`, types: ['A'], streamPrefix: 'order-' });
    await source.append('order-1', [{ type: 'A', data: 1 }, { type: 'B', data: 2 }]);
    const { position } = await source.append('other-1', [{ type: 'A', data: 3 }]);
    await relay.waitFor(position);
    const [only] = await collect(source.readStream('order-1'));
    expect(await storedIds(stream)).toEqual([only!.id]);
    await relay.close();
  });

  it('a subject chosen per event lands in the stream’s subjects; one no stream captures stops the relay with a clear error', async () => {
    const stream = fresh();
    const source = memoryStore();
    const relay = await relayToNats(source, { servers, stream, subject: (e) => `${stream}.${e.type}`, subjects: [`${stream}.*`], leaseTtl: 1000 });
    const ok = await source.append('a', [{ type: 'Known', data: 1 }]);
    await relay.waitFor(ok.position);
    await source.append('a', [{ type: 'bad subject', data: 2 }]);
    await eventually('the relay to stop', () => relay.status().state === 'failed', 30_000);
    expect(relay.status().lastError?.message).toMatch(/space or a wildcard/);
    expect(await storedIds(stream)).toHaveLength(1);
    await relay.close();
  });

  it('two relays of one store under one name: one sends, the other stands by and takes over when it closes', async () => {
    const stream = fresh();
    const source = memoryStore();
    const options = { servers, stream, subject: `${stream}.events`, leaseTtl: 300 };
    const first = await relayToNats(source, options);
    const second = await relayToNats(source, options);
    const a = await source.append('a', [{ type: 'T', data: 1 }]);
    await first.waitFor(a.position);
    expect([first.status().state, second.status().state].sort()).toEqual(['live', 'standby']);
    const [active, standby] = first.status().state === 'live' ? [first, second] : [second, first];
    await active.close();
    const b = await source.append('a', [{ type: 'T', data: 2 }]);
    await standby.waitFor(b.position);
    await eventually('the standby to take over', () => standby.status().state === 'live');
    expect(await storedIds(stream)).toEqual((await collect(source.readAll())).map((e) => e.id));
    await standby.close();
  });

  it('two consumers of one durable, each with its own connection to the store, apply each message once and in order', async () => {
    const stream = fresh();
    const source = memoryStore();
    const relay = await relayToNats(source, { servers, stream, subject: `${stream}.events` });
    const dir = mkdtempSync(join(tmpdir(), 'factline-nats-'));
    const url = `sqlite:${join(dir, 'shipping.db')}`;
    const [a, b] = [await openStore(url), await openStore(url)];
    const handler = (e: ReceivedEvent, ctx: ConsumerContext) => ctx.append(`effects-${e.stream}`, [{ type: 'Applied', data: { version: e.version } }]);
    const consumers = [await consumeFromNats({ servers, stream, durable: 'shipping', store: a, handler }), await consumeFromNats({ servers, stream, durable: 'shipping', store: b, handler })];
    for (let i = 0; i < 150; i++) await source.append(`order-${i % 5}`, [{ type: 'Placed', data: i }]);
    await eventually('150 messages', () => consumers.reduce((n, c) => n + c.status().processed + c.status().duplicates, 0) === 150);
    expect(consumers.every((c) => c.status().processed > 0)).toBe(true); // both took part
    for (let s = 0; s < 5; s++) {
      expect((await collect(a.readStream(`effects-order-${s}`))).map((e) => (e.data as { version: number }).version)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    }
    for (const c of consumers) await c.close();
    await a.close();
    await b.close();
    await relay.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(!postgres.url)('a consumer on PostgreSQL', async () => {
    const stream = fresh();
    const source = memoryStore();
    const relay = await relayToNats(source, { servers, stream, subject: `${stream}.events` });
    const schema = freshSchema();
    const target = await postgresStore({ connectionString: postgres.url!, schema });
    const consumer = await consumeFromNats({ servers, stream, durable: 'shipping', store: target, handler: (e, ctx) => ctx.append('effects', [{ type: 'Applied', data: e.data }]) });
    for (let i = 0; i < 50; i++) await source.append(`order-${i % 3}`, [{ type: 'Placed', data: i }]);
    await eventually('50 effects', () => consumer.status().processed === 50);
    expect((await collect(target.readStream('effects'))).map((e) => e.data)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    await consumer.close();
    await relay.close();
    await target.close();
    await dropSchema(schema);
  });

  it('a consumer closed while handling lets the message go at once: the next consumer gets it without waiting for the ack wait', async () => {
    const stream = fresh();
    const source = memoryStore();
    const relay = await relayToNats(source, { servers, stream, subject: `${stream}.events` });
    await source.append('a', [{ type: 'T', data: 1 }]);
    let entered!: () => void;
    const inHandler = new Promise<void>((resolve) => (entered = resolve));
    const first = await consumeFromNats({
      servers,
      stream,
      durable: 'c',
      store: memoryStore(),
      handler: async (_e, ctx) => {
        entered();
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
        throw new Error('stopped');
      },
    });
    await inHandler;
    await first.close();
    expect(first.status()).toMatchObject({ state: 'stopped', processed: 0 });
    const target = memoryStore();
    const started = Date.now();
    const second = await consumeFromNats({ servers, stream, durable: 'c', store: target, handler: (e, ctx) => ctx.append('x', [{ type: 'Got', data: e.data }]) });
    await eventually('the message', () => second.status().processed === 1, 10_000);
    expect(Date.now() - started).toBeLessThan(10_000); // the ack wait is 30 s
    await second.close();
    await relay.close();
  });

  it('a consumer whose store closes stops, and says so; one started again with other settings updates the durable', async () => {
    const stream = fresh();
    const source = memoryStore();
    const relay = await relayToNats(source, { servers, stream, subject: `${stream}.events` });
    const target = memoryStore();
    const consumer = await consumeFromNats({ servers, stream, durable: 'c', store: target, handler: () => {} });
    await target.close();
    await source.append('a', [{ type: 'T', data: 1 }]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(consumer.status()).toMatchObject({ state: 'stopped', processed: 0 });
    await consumer.close();
    const again = await consumeFromNats({ servers, stream, durable: 'c', store: memoryStore(), handler: () => {}, ackWait: 2000, filterSubjects: [`${stream}.events`] });
    await eventually('the message', () => again.status().processed === 1);
    await again.close();
    await relay.close();
  });

  it('checks its options, and an existing stream that does not capture the subject', async () => {
    const stream = fresh();
    const store = memoryStore();
    await expect(relayToNats(store, { servers, stream, subject: 'a b' })).rejects.toThrow(ConfigurationError);
    await expect(relayToNats(store, { servers, stream: 'bad name', subject: 'x' })).rejects.toThrow(ConfigurationError);
    await expect(relayToNats(store, { servers, stream, subject: () => 'x' })).rejects.toThrow(/subjects/);
    await expect(relayToNats({}, { servers, stream, subject: `${stream}.x` })).rejects.toThrow(ConfigurationError);
    const relay = await relayToNats(store, { servers, stream, subject: `${stream}.one` });
    await relay.close();
    await expect(relayToNats(store, { servers, stream, subject: `${stream}.two` })).rejects.toThrow(/does not capture/);
    // A stream on a wildcard captures the subjects it matches.
    const wide = fresh();
    await (await relayToNats(store, { servers, stream: wide, subject: 'x', subjects: [`${wide}.>`], name: 'wide' })).close();
    await (await relayToNats(store, { servers, stream: wide, subject: `${wide}.orders.events`, name: 'narrow' })).close();
    await expect(consumeFromNats({ servers, stream: fresh(), durable: 'd', store, handler: () => {} })).rejects.toThrow(/does not exist/);
    // A durable of the same name made without explicit acks cannot give exactly-once effects.
    const nc = await connect({ servers });
    await (await jetstreamManager(nc)).consumers.add(stream, { durable_name: 'acks-none', ack_policy: AckPolicy.None });
    await nc.close();
    await expect(consumeFromNats({ servers, stream, durable: 'acks-none', store, handler: () => {} })).rejects.toThrow(/without explicit acks/);
    await expect(consumeFromNats({ servers, stream, durable: 'bad name', store, handler: () => {} })).rejects.toThrow(ConfigurationError);
    await expect(consumeFromNats({ servers, stream, durable: 'd', store, handler: 'no' as never })).rejects.toThrow(ConfigurationError);
  });
});
