// Read models of the order app: the list of orders with their status, and the stock levels.
import { defineProjection, type RecordedEvent } from 'factline';
import type { OrderEvent, StockEvent } from './domain.js';

export interface OrderView {
  orderId: string;
  sku: string;
  quantity: number;
  amount: number;
  status: 'placed' | 'reserved' | 'paid' | 'shipped' | 'cancelled';
  /** Why it was cancelled. */
  reason?: string;
  updatedAt: string;
}

export interface StockView {
  sku: string;
  available: number;
  reserved: number;
}

type OrderProgress =
  | OrderEvent
  | RecordedEvent<'StockReserved' | 'StockReleased', { orderId: string; quantity: number }>
  | RecordedEvent<'PaymentCharged', { amount: number }>
  | RecordedEvent<'OrderShipped', { sku: string; quantity: number }>;

/** Each order's status, from the events of its order, stock, payment and shipment streams. */
export const orderList = defineProjection<OrderProgress>({
  name: 'order-list',
  version: 1,
  types: ['OrderPlaced', 'OrderCancelled', 'StockReserved', 'StockReleased', 'PaymentCharged', 'OrderShipped'],
  indexes: { orders: ['status'] },
  async handle(event, { documents }) {
    const orders = documents<OrderView>('orders');
    const updatedAt = event.recordedAt.toISOString();
    if (event.type === 'OrderPlaced') {
      const { orderId, sku, quantity, amount } = event.data;
      await orders.upsert(orderId, { orderId, sku, quantity, amount, status: 'placed', updatedAt });
      return;
    }
    // Order, payment and shipment streams are named after the order: order-<orderId>, payment-<orderId>.
    const orderId = 'orderId' in event.data ? event.data.orderId : event.stream.slice(event.stream.indexOf('-') + 1);
    const current = await orders.get(orderId);
    if (!current) return;
    if (event.type === 'OrderCancelled') await orders.upsert(orderId, { ...current, status: 'cancelled', reason: event.data.reason, updatedAt });
    // Stock released after a cancel changes nothing more.
    else if (event.type !== 'StockReleased') {
      const status = ({ StockReserved: 'reserved', PaymentCharged: 'paid', OrderShipped: 'shipped' } as const)[event.type];
      await orders.upsert(orderId, { ...current, status, updatedAt });
    }
  },
});

/** Units available and reserved per SKU; a shipped order's units leave the warehouse. */
export const stockLevels = defineProjection<StockEvent | RecordedEvent<'OrderShipped', { sku: string; quantity: number }>>({
  name: 'stock-levels',
  version: 1,
  types: ['Restocked', 'StockReserved', 'StockReleased', 'OrderShipped'],
  async handle(event, { documents }) {
    const stock = documents<StockView>('stock');
    const sku = event.type === 'OrderShipped' ? event.data.sku : event.stream.slice('stock-'.length);
    const s = (await stock.get(sku)) ?? { sku, available: 0, reserved: 0 };
    const q = event.data.quantity;
    const change = { Restocked: [q, 0], StockReserved: [-q, q], StockReleased: [q, -q], OrderShipped: [0, -q] }[event.type];
    await stock.upsert(sku, { sku, available: s.available + change[0]!, reserved: s.reserved + change[1]! });
  },
});
