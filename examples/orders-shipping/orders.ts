// The orders service: takes orders (a decider) and relays its events to NATS JetStream.
import { defineDecider, handle, type EventStore, type RecordedEvent } from 'factline';
import { relayToNats, type Relay } from 'factline/nats';

export type OrderPlaced = RecordedEvent<'OrderPlaced', { orderId: string; sku: string; quantity: number; address: string }>;
type PlaceOrder = { orderId: string; sku: string; quantity: number; address: string };

/** An order, `order-<orderId>`: placed once, however often the command comes. */
export const order = defineDecider<boolean, PlaceOrder, OrderPlaced>({
  initialState: () => false,
  evolve: () => true,
  decide: (c, placed) => (placed ? [] : [{ type: 'OrderPlaced', data: c }]),
});

export async function placeOrder(store: EventStore, command: PlaceOrder) {
  return handle(store, `order-${command.orderId}`, order, command);
}

/** Relays the orders' events to JetStream stream `stream`, on subjects `<stream>.<event type>`. */
export function startRelay(store: EventStore, servers: string, stream: string): Promise<Relay> {
  return relayToNats(store, { servers, stream, subject: (e) => `${stream}.${e.type}`, subjects: [`${stream}.*`], streamPrefix: 'order-' });
}
