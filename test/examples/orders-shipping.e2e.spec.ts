import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore, type RecordedEvent } from '../../src/index.js';
import { runTs } from '../support/child.js';
import { closeNats, deleteStream, freshStream, nats } from '../support/nats.js';

const dir = mkdtempSync(join(tmpdir(), 'factline-services-'));
const stream = freshStream();
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (nats.servers) await deleteStream(stream);
  await closeNats();
});

describe.skipIf(!nats.servers)('the two-service example', () => {
  it('npm run services: orders relays, shipping consumes, and a shipment’s causation runs back to the order’s command', async () => {
    const env = { FACTLINE_NATS: nats.servers!, FACTLINE_NATS_STREAM: stream, ORDERS_STORE: `sqlite:${join(dir, 'orders.db')}`, SHIPPING_STORE: `sqlite:${join(dir, 'shipping.db')}` };
    for (let run = 1; run <= 2; run++) {
      // The second run places the same orders again: nothing new happens anywhere.
      const app = runTs('examples/orders-shipping/main.ts', [], env);
      expect(await app.exited).toBe(0);
      expect(app.lines[0]).toBe(`orders: placed 3 orders, relaying to JetStream stream ${stream} on ${nats.servers}`);
      expect(app.lines[1]).toBe(run === 1 ? 'shipping: 3 messages handled, 0 duplicates skipped' : 'shipping: 0 messages handled, 0 duplicates skipped');
      const [, shipment, order, command] = app.lines.slice(2).map((l) => l.trim().split(/\s+/));
      const orders = await openStore(env.ORDERS_STORE);
      const shipping = await openStore(env.SHIPPING_STORE);
      const first = async (store: typeof orders, name: string) => {
        for await (const e of store.readStream(name)) return e;
        return undefined as RecordedEvent | undefined;
      };
      const placed = (await first(orders, 'order-o-1'))!;
      const requested = (await first(shipping, 'shipment-o-1'))!;
      expect(shipment).toEqual(['shipping', 'ShipmentRequested', requested.id]);
      expect(order).toEqual(['orders', 'OrderPlaced', placed.id]);
      expect(command).toEqual(['command', placed.metadata.causationId]);
      // Across the services: caused by the order's event, in the order command's correlation.
      expect(requested.metadata).toMatchObject({ causationId: placed.id, correlationId: placed.metadata.correlationId });
      for (const id of ['o-1', 'o-2', 'o-3']) expect((await shipping.streamInfo(`shipment-${id}`)).version).toBe(1);
      await orders.close();
      await shipping.close();
    }
  });
});
