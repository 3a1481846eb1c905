// A relay process for the NATS crash tests: relays the store at <store URL> to JetStream stream
// <stream> (subject `<stream>.events`) and prints `ready`. With FACTLINE_TEST_KILL_AFTER_ACKS=n it
// SIGKILLs itself right after the broker's n-th ack: the event is in JetStream, the checkpoint
// not yet moved past it.
// Usage: nats-relay.ts <store URL> <servers> <stream> <batch size>
import { openStore } from '../../src/index.js';
import { relay } from '../../src/nats/relay.js';
import { JetStreamTransport, connectNats } from '../../src/nats/jetstream.js';

const [url, servers, stream, batchSize] = process.argv.slice(2) as [string, string, string, string];
const killAfter = Number(process.env.FACTLINE_TEST_KILL_AFTER_ACKS ?? 0);
const store = await openStore(url);
const transport = new JetStreamTransport(await connectNats({ servers }, 'test relay'), { stream, subjects: [`${stream}.events`] });
let acks = 0;
const sending = {
  prepare: () => transport.prepare(),
  transient: (error: unknown) => transport.transient(error),
  close: () => transport.close(),
  async send(message: Parameters<JetStreamTransport['send']>[0]) {
    await transport.send(message);
    if (++acks === killAfter) process.kill(process.pid, 'SIGKILL');
  },
};
await relay(store, sending, { name: 'relay', subject: `${stream}.events`, batchSize: Number(batchSize), leaseTtl: 1000 });
console.log('ready');
