// The shipping service: its own store, fed by the orders service's events over NATS JetStream.
import type { EventStore } from 'factline';
import { consumeFromNats, type NatsConsumer } from 'factline/nats';

/**
 * Requests a shipment for each order placed. The append commits with the message's inbox entry,
 * so an order delivered twice is shipped once; it is caused by the order's event, in its correlation.
 */
export function startShipping(store: EventStore, servers: string, stream: string): Promise<NatsConsumer> {
  return consumeFromNats({
    servers,
    stream,
    durable: 'shipping',
    filterSubjects: [`${stream}.OrderPlaced`],
    store,
    handler: (event, ctx) => {
      const { orderId, sku, quantity, address } = event.data as { orderId: string; sku: string; quantity: number; address: string };
      ctx.append(`shipment-${orderId}`, [{ type: 'ShipmentRequested', data: { orderId, items: [{ sku, quantity }], address } }], { expectedVersion: 'no_stream' });
    },
  });
}
