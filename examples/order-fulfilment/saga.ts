// The order saga: reserve stock → charge payment → ship. A declined card releases the stock; an
// order that goes no further is cancelled, with the reason.
// It is a process manager: each OrderPlaced event starts one instance (the order id is its id).
import { defineWorkflow, handle, type EventStore } from 'factline';
import { CardDeclined, OutOfStock, order, payment, shipment, stock, type OrderPlaced } from './domain.js';

// A refusal by the domain is an answer, not an outage: not worth another try.
const unlessRefused = { retries: 3, backoff: '200ms', retryIf: (error: unknown) => !(error instanceof CardDeclined || error instanceof OutOfStock) };

export function orderSaga(store: EventStore) {
  return defineWorkflow<OrderPlaced['data'], string, OrderPlaced>({
    name: 'orderFulfilment',
    startOn: { type: 'OrderPlaced', id: (event) => event.data.orderId },
    async run(ctx, placed) {
      const { orderId, sku, quantity, amount, card } = placed;
      try {
        // Each step runs once; a command inside a step gets an idempotency key from the step, so
        // a step run again after a crash appends nothing twice.
        // A step's result is kept in the history: return what the code needs (here, nothing).
        await ctx.step('reserve stock', async () => void (await handle(store, `stock-${sku}`, stock, { type: 'reserve', orderId, quantity })), unlessRefused);
        ctx.compensate('release stock', () => handle(store, `stock-${sku}`, stock, { type: 'release', orderId, quantity }));
        await ctx.step('charge payment', async () => void (await handle(store, `payment-${orderId}`, payment, { type: 'charge', amount, card })), unlessRefused);
        const { version } = await ctx.step('ship', async () => handle(store, `shipment-${orderId}`, shipment, { type: 'ship', sku, quantity }));
        return `shipped (shipment version ${version})`;
      } catch (error) {
        // The order says why it went no further; then the compensations registered so far run.
        const reason = error instanceof Error ? error.message : String(error);
        await ctx.step('cancel order', async () => void (await handle(store, `order-${orderId}`, order, { type: 'cancel', reason })));
        throw error;
      }
    },
  });
}
