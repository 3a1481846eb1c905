// Orders, stock and payments as deciders: the domain the order saga works with.
import { defineDecider, type RecordedEvent } from 'factline';

export type OrderPlaced = RecordedEvent<'OrderPlaced', { orderId: string; sku: string; quantity: number; amount: number; card: string }>;

/** A command refused by the domain: the HTTP API answers it with 422. */
export class Refused extends Error {
  override name = 'Refused';
}

type OrderCommand =
  | { type: 'place'; orderId: string; sku: string; quantity: number; amount: number; card: string }
  | { type: 'cancel'; reason: string };
export type OrderEvent = OrderPlaced | RecordedEvent<'OrderCancelled', { reason: string }>;

/** An order: `order-<orderId>`. Placing it twice places it once; cancelling twice cancels once. */
export const order = defineDecider<{ status: 'none' | 'placed' | 'cancelled' }, OrderCommand, OrderEvent>({
  initialState: () => ({ status: 'none' }),
  evolve: (_s, e) => ({ status: e.type === 'OrderPlaced' ? 'placed' : 'cancelled' }),
  decide: (c, s) => {
    if (c.type === 'cancel') return s.status === 'placed' ? [{ type: 'OrderCancelled', data: { reason: c.reason } }] : [];
    if (s.status !== 'none') return [];
    if (!/^[\w-]{1,40}$/.test(c.sku)) throw new Refused('sku must be 1 to 40 letters, digits, _ or -');
    if (!Number.isInteger(c.quantity) || c.quantity < 1 || c.quantity > 100) throw new Refused('quantity must be a whole number from 1 to 100');
    if (!Number.isFinite(c.amount) || c.amount <= 0) throw new Refused('amount must be a positive number');
    if (typeof c.card !== 'string' || c.card === '') throw new Refused('card is needed');
    const { type: _command, ...data } = c;
    return { type: 'OrderPlaced', data };
  },
});

export type StockEvent =
  | RecordedEvent<'Restocked', { quantity: number }>
  | RecordedEvent<'StockReserved' | 'StockReleased', { orderId: string; quantity: number }>;
type StockCommand = { type: 'restock'; quantity: number } | { type: 'reserve' | 'release'; orderId: string; quantity: number };

export class OutOfStock extends Error {
  override name = 'OutOfStock';
}
export class CardDeclined extends Error {
  override name = 'CardDeclined';
}

/** Stock of one SKU: `stock-<sku>`. Available is what is left after the reservations. */
export const stock = defineDecider<{ available: number; reserved: Record<string, number> }, StockCommand, StockEvent>({
  initialState: () => ({ available: 0, reserved: {} }),
  evolve: (s, e) => {
    switch (e.type) {
      case 'Restocked':
        return { ...s, available: s.available + e.data.quantity };
      case 'StockReserved':
        return { available: s.available - e.data.quantity, reserved: { ...s.reserved, [e.data.orderId]: e.data.quantity } };
      case 'StockReleased': {
        const { [e.data.orderId]: _released, ...reserved } = s.reserved;
        return { available: s.available + e.data.quantity, reserved };
      }
    }
  },
  decide: (c, s) => {
    if (c.type === 'restock') return { type: 'Restocked', data: { quantity: c.quantity } };
    if (c.type === 'reserve') {
      if (s.available < c.quantity) throw new OutOfStock(`only ${s.available} left`);
      return { type: 'StockReserved', data: { orderId: c.orderId, quantity: c.quantity } };
    }
    // Releasing what is not reserved (any more) changes nothing: a compensation may run again.
    return s.reserved[c.orderId] ? [{ type: 'StockReleased', data: { orderId: c.orderId, quantity: c.quantity } }] : [];
  },
});

type PaymentEvent = RecordedEvent<'PaymentCharged', { amount: number }> | RecordedEvent<'PaymentDeclined', { reason: string }>;

/** The payment of one order: `payment-<orderId>`. Cards starting with 0000 are declined. */
export const payment = defineDecider<'none' | 'charged' | 'declined', { type: 'charge'; amount: number; card: string }, PaymentEvent>({
  initialState: () => 'none',
  evolve: (_s, e) => (e.type === 'PaymentCharged' ? 'charged' : 'declined'),
  decide: (c, s) => {
    if (s === 'charged') return [];
    if (c.card.startsWith('0000')) throw new CardDeclined('the card was declined');
    return { type: 'PaymentCharged', data: { amount: c.amount } };
  },
});

type ShipmentEvent = RecordedEvent<'OrderShipped', { sku: string; quantity: number }>;

/** The shipment of one order: `shipment-<orderId>`. */
export const shipment = defineDecider<boolean, { type: 'ship'; sku: string; quantity: number }, ShipmentEvent>({
  initialState: () => false,
  evolve: () => true,
  decide: (c, shipped) => (shipped ? [] : { type: 'OrderShipped', data: { sku: c.sku, quantity: c.quantity } }),
});
