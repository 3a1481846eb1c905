// The order fulfilment example: three orders placed, the saga takes each through stock, payment
// and shipping; the one paid with a declined card is compensated (its stock released).
import { load, openStore, startWorkflows } from 'factline';
import { stock } from './domain.js';
import { orderSaga } from './saga.js';

const url = process.env.FACTLINE_STORE ?? 'sqlite:./data/order-fulfilment.db';
const store = await openStore(url);
const run = Date.now().toString(36); // fresh orders each time the example runs
const sku = `tea-${run}`;

await store.append(`stock-${sku}`, [{ type: 'Restocked', data: { quantity: 10 } }]);
const saga = orderSaga(store);
const engine = await startWorkflows(store, [saga]);

const orders = [
  { orderId: `${run}-1`, sku, quantity: 2, amount: 12, card: '4242 4242' },
  { orderId: `${run}-2`, sku, quantity: 3, amount: 18, card: '0000 0002' }, // declined
  { orderId: `${run}-3`, sku, quantity: 1, amount: 6, card: '4242 4242' },
];
for (const order of orders) await store.append(`order-${order.orderId}`, [{ type: 'OrderPlaced', data: order }]);

for (const { orderId } of orders) {
  let handle = await engine.get(orderId);
  while (!handle) {
    await new Promise((resolve) => setTimeout(resolve, 20)); // the process manager starts it
    handle = await engine.get(orderId);
  }
  const outcome = await handle.result().then(String, (error: Error) => error.message);
  console.log(`order ${orderId}: ${outcome}`);
}

const { state } = await load(store, `stock-${sku}`, stock);
console.log(`stock of ${sku}: ${state.available} available, reserved ${JSON.stringify(state.reserved)}`);
console.log(`\nhistory of order ${orders[1]!.orderId}:`);
for (const event of await engine.history(orders[1]!.orderId)) console.log(`  ${event.version} ${event.type} ${JSON.stringify(event.data)}`);

await engine.close();
await store.close();
