// The order saga: reserve stock → charge payment → ship. A declined card releases the stock.
// It is a process manager: each OrderPlaced event starts one instance (the order id is its id).
import { defineWorkflow, handle, type EventStore } from 'factline';
import { CardDeclined, payment, shipment, stock, type OrderPlaced } from './domain.js';

export function orderSaga(store: EventStore) {
  return defineWorkflow<OrderPlaced['data'], string, OrderPlaced>({
    name: 'orderFulfilment',
    startOn: { type: 'OrderPlaced', id: (event) => event.data.orderId },
    async run(ctx, order) {
      const { orderId, sku, quantity } = order;
      // Each step runs once; a command inside a step gets an idempotency key from the step, so
      // a step run again after a crash appends nothing twice.
      // A step's result is kept in the history: return what the code needs (here, nothing).
      await ctx.step('reserve stock', async () => void (await handle(store, `stock-${sku}`, stock, { type: 'reserve', orderId, quantity })));
      ctx.compensate('release stock', () => handle(store, `stock-${sku}`, stock, { type: 'release', orderId, quantity }));
      await ctx.step('charge payment', async () => void (await handle(store, `payment-${orderId}`, payment, { type: 'charge', amount: order.amount, card: order.card })), {
        // A declined card is an answer, not an outage: not worth another try.
        retries: 3,
        backoff: '200ms',
        retryIf: (error) => !(error instanceof CardDeclined),
      });
      const { version } = await ctx.step('ship', async () => handle(store, `shipment-${orderId}`, shipment, { type: 'ship', sku, quantity }));
      return `shipped (shipment version ${version})`;
    },
  });
}
