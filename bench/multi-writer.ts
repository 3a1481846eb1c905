// Child process of bench/run.ts: `writers` concurrent writers append 1-event batches to a store
// from `startAt` (epoch ms) on; prints one JSON line with the events written and the end time.
// Usage: multi-writer.ts <store URL> <writers> <appends per writer> <startAt> <name>
import { openStore } from 'factline';

const [url, writers, perWriter, startAt, name] = process.argv.slice(2) as [string, string, string, string, string];
const store = await openStore(url);
const data = { orderId: 'order-000123', customer: 'customer-42', note: 'leave at the door' };
await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())));
await Promise.all(
  Array.from({ length: Number(writers) }, async (_, w) => {
    for (let i = 0; i < Number(perWriter); i++) await store.append(`${name}-${w}-${i % 50}`, [{ type: 'Bench', data }]);
  }),
);
const end = Date.now();
await store.close();
console.log(JSON.stringify({ events: Number(writers) * Number(perWriter), end }));
