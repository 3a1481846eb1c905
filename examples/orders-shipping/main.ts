// npm run services: two services, each with its own store, talking through NATS JetStream.
// Orders takes three orders; shipping requests a shipment for each; then one shipment's causes are
// followed back across both stores to the command that placed its order.
import { openStore, type EventStore } from 'factline';
import { placeOrder, startRelay } from './orders.js';
import { startShipping } from './shipping.js';

const servers = process.env.FACTLINE_NATS ?? '127.0.0.1:4222';
const stream = process.env.FACTLINE_NATS_STREAM ?? 'ORDERS';
const orders = await openStore(process.env.ORDERS_STORE ?? 'sqlite:./data/orders.db');
const shipping = await openStore(process.env.SHIPPING_STORE ?? 'sqlite:./data/shipping.db');

const relay = await startRelay(orders, servers, stream);
const consumer = await startShipping(shipping, servers, stream);

const placed = [];
for (const [orderId, sku, quantity] of [['o-1', 'sencha', 2], ['o-2', 'assam', 1], ['o-3', 'sencha', 5]] as const) {
  placed.push(await placeOrder(orders, { orderId, sku, quantity, address: '1 Tea Street' }));
}
console.log(`orders: placed ${placed.length} orders, relaying to JetStream stream ${stream} on ${servers}`);

// Wait for shipping to have requested all three shipments.
const deadline = Date.now() + 30_000;
while ((await shipping.streamInfo('shipment-o-3')).version === 0) {
  if (Date.now() > deadline) throw new Error(`no shipment after 30 s: ${JSON.stringify(consumer.status())}`);
  await new Promise((resolve) => setTimeout(resolve, 50));
}
console.log(`shipping: ${consumer.status().processed} messages handled, ${consumer.status().duplicates} duplicates skipped`);

// One shipment's causes, across both services: its cause is an event of the orders store.
const shipment = (await shipping.causationChain(await firstEventId(shipping, 'shipment-o-1')))!.event;
const inOrders = (await orders.causationChain(String(shipment.metadata.causationId)))!;
console.log(`causation of ${shipment.type} ${shipment.id} (correlation ${String(shipment.metadata.correlationId)}):`);
console.log(`  shipping  ${shipment.type} ${shipment.id}`);
console.log(`  orders    ${inOrders.event.type} ${inOrders.event.id}`);
console.log(`  command   ${inOrders.rootCauseId}`);

await consumer.close();
await relay.close();
await orders.close();
await shipping.close();

async function firstEventId(store: EventStore, stream: string): Promise<string> {
  for await (const event of store.readStream(stream, { limit: 1 })) return event.id;
  throw new Error(`${stream} has no events`);
}
