// A projection daemon in a child process, for crash and failover tests: prints "started", then
// "owner" while it holds the lease, and runs until killed.
import { openStore } from '../../src/index.js';
import { startProjections } from '../../src/projections/index.js';
import { counters } from './projection-fixtures.js';

const [url, leaseTtl = '1000'] = process.argv.slice(2);
const store = await openStore(url!);
const daemon = await startProjections(store, [counters], { batchSize: 50, leaseTtl: Number(leaseTtl) });
console.log('started');
setInterval(() => {
  const s = daemon.status()[0]!;
  if (s.owner) console.log(`owner ${s.checkpoint}`);
}, 20);
