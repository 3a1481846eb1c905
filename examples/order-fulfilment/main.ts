// npm start: the order app on the embedded SQLite store, with a little history, and the explorer.
import { openStore } from 'factline';
import { seed, startApp } from './app.js';

const url = process.env.FACTLINE_STORE ?? 'sqlite:./data/order-fulfilment.db';
const store = await openStore(url);
const seeded = await seed(store);
const app = await startApp(store, { port: Number(process.env.PORT ?? 3000), ...(process.env.FACTLINE_TOKEN ? { token: process.env.FACTLINE_TOKEN } : {}) });

console.log(`order app on ${url}${seeded ? ' (seeded with stock and five orders)' : ''}
  explorer:     ${app.url}#token=${app.token}
  place order:  curl -X POST ${app.url}orders -H 'content-type: application/json' -d '{"sku":"sencha","quantity":1,"amount":6,"card":"4242"}'
  orders:       curl ${app.url}orders
  stock:        curl ${app.url}stock
Ctrl-C to stop`);

await new Promise((resolve) => {
  process.once('SIGINT', resolve);
  process.once('SIGTERM', resolve);
});
await app.close();
await store.close();
