// A consumer process for the NATS crash tests: consumes JetStream stream <stream> as <durable>
// into the store at <store URL>, appending one `Applied` event per message to `effects-<source
// stream>`, and prints `ready`. With FACTLINE_TEST_KILL_AT=k it SIGKILLs itself inside the handler
// of the first delivery of the event whose data.i is k (before its appends commit).
// Usage: nats-consumer.ts <store URL> <servers> <stream> <durable>
import { openStore } from '../../src/index.js';
import { consumeFromNats } from '../../src/nats/index.js';

const [url, servers, stream, durable] = process.argv.slice(2) as [string, string, string, string];
// Redelivery after a kill comes quickly: the tests kill often.
const killAt = process.env.FACTLINE_TEST_KILL_AT;
const store = await openStore(url);
await consumeFromNats({
  servers,
  stream,
  durable,
  store,
  ackWait: 500,
  handler: (event, ctx) => {
    const i = (event.data as { i: number }).i;
    ctx.append(`effects-${event.stream}`, [{ type: 'Applied', data: { source: event.id, version: event.version, i } }]);
    if (killAt !== undefined && i === Number(killAt) && ctx.deliveries === 1) process.kill(process.pid, 'SIGKILL');
  },
});
console.log('ready');
