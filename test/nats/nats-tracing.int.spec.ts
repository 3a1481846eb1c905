import { afterAll, describe, expect, it } from 'vitest';
import { memoryStore, type RecordedEvent } from '../../src/index.js';
import { consumeFromNats, relayToNats } from '../../src/nats/index.js';
import { closeNats, deleteStream, eventually, freshStream, nats } from '../support/nats.js';
import { installTracing, parentOf } from '../support/otel.js';

const servers = nats.servers ?? '';
const otel = installTracing();

describe.skipIf(!nats.servers)('tracing across services over NATS', () => {
  const stream = freshStream();
  afterAll(async () => {
    await deleteStream(stream);
    await closeNats();
    await otel.uninstall();
  });

  it('one trace from the producing append, through the relay’s publish and the consumer, to what the consumer appends', async () => {
    const orders = memoryStore();
    const shipping = memoryStore();
    const relay = await relayToNats(orders, { servers, stream, subject: `${stream}.events` });
    const consumer = await consumeFromNats({
      servers,
      stream,
      durable: 'shipping',
      store: shipping,
      handler: (_e, ctx) => ctx.append('shipment-1', [{ type: 'ShipmentRequested', data: null }]),
    });
    await otel.tracer.startActiveSpan('place order', async (span) => {
      await orders.append('order-1', [{ type: 'OrderPlaced', data: null }]);
      span.end();
    });
    await eventually('the shipment', async () => (await shipping.streamInfo('shipment-1')).version === 1);
    await consumer.close();
    await relay.close();

    const spans = otel.spans();
    const one = (name: string) => {
      const found = spans.filter((s) => s.name === name);
      expect(found, name).toHaveLength(1);
      return found;
    };
    const [root] = one('place order');
    const [append] = one('factline.append');
    const [publish] = one('factline.relay.publish');
    const [consume] = one('factline.consume');
    const trace = root!.spanContext().traceId;
    for (const s of [append, publish, consume]) expect(s!.spanContext().traceId).toBe(trace);
    expect(parentOf(append!)).toBe(root!.spanContext().spanId);
    expect(parentOf(publish!)).toBe(append!.spanContext().spanId);
    expect(parentOf(consume!)).toBe(publish!.spanContext().spanId);
    expect(consume!.attributes).toMatchObject({ 'factline.consumer.name': 'shipping', 'factline.event.type': 'OrderPlaced' });
    // What the consumer commits is inside its span, and its events carry the trace on: a handler of
    // them in the shipping service continues it.
    let shipment: RecordedEvent | undefined;
    for await (const e of shipping.readStream('shipment-1')) shipment = e;
    expect(shipment!.metadata.traceparent).toBe(`00-${trace}-${consume!.spanContext().spanId}-01`);
  });
});
