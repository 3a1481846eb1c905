// npm run quickstart: a first look at Factline on the embedded SQLite store.
// Appends to a few streams, reads them back, and follows the log live while a second writer works.
import { ConcurrencyError, openStore } from 'factline';

const url = process.env.FACTLINE_STORE ?? 'sqlite:./data/quickstart.db';
const store = await openStore(url);
const run = Date.now().toString(36); // a fresh set of streams each time the example runs

// 1. Append: each call is atomic, and expectedVersion guards against lost updates.
const cart = `cart-${run}`;
await store.append(cart, [
  { type: 'CartOpened', data: { customer: 'ada' } },
  { type: 'ItemAdded', data: { sku: 'tea', quantity: 2 } },
], { expectedVersion: 'no_stream' });
await store.append(cart, [{ type: 'ItemAdded', data: { sku: 'scones', quantity: 6 } }], { expectedVersion: 2 });
await store.append(`cart-${run}-b`, [{ type: 'CartOpened', data: { customer: 'grace' } }]);

try {
  await store.append(cart, [{ type: 'ItemRemoved', data: { sku: 'tea' } }], { expectedVersion: 1 });
} catch (error) {
  if (!(error instanceof ConcurrencyError)) throw error;
  console.log(`refused: ${cart} is at version ${error.actual}, not ${String(error.expected)}`);
}

// 2. Read a stream back, in order.
console.log(`\n${cart}:`);
for await (const event of store.readStream(cart)) {
  console.log(`  v${event.version} ${event.type} ${JSON.stringify(event.data)}`);
}
const info = await store.streamInfo(cart);
console.log(`  version ${info.version}, created ${info.createdAt?.toISOString()}`);

// 3. Subscribe: catch up on the log, then follow it live while another writer appends.
const controller = new AbortController();
const live = (async () => {
  let seen = 0;
  for await (const event of store.subscribe({ streamPrefix: `order-${run}`, signal: controller.signal })) {
    console.log(`  live #${event.position}: ${event.stream} ${event.type} ${JSON.stringify(event.data)}`);
    if (++seen === 6) controller.abort();
  }
})();

console.log('\nlive:');
for (let i = 1; i <= 3; i++) {
  const order = `order-${run}-${i}`;
  await store.append(order, [{ type: 'OrderPlaced', data: { order: i, total: 10 * i } }]);
  await new Promise((resolve) => setTimeout(resolve, 200));
  await store.append(order, [{ type: 'OrderShipped', data: { order: i } }]);
}
await live;
await store.close();
console.log(`\ndone: the events are in ${url}`);
