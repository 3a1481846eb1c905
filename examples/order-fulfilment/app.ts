// The order app: deciders, projections and the order saga on one store, with a small HTTP command
// API beside Factline's own API and explorer page.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { handle, isFactlineError, startProjections, startWorkflows, type EventStore } from 'factline';
import { createHttpApp } from 'factline/http';
import { order, payment, shipment, stock, Refused } from './domain.js';
import { orderList, stockLevels, type OrderView, type StockView } from './projections.js';
import { orderSaga } from './saga.js';

/** Streams the explorer can show the state of, version by version (time travel). */
export const deciders = [
  { name: 'order', prefix: 'order-', decider: order },
  { name: 'stock', prefix: 'stock-', decider: stock },
  { name: 'payment', prefix: 'payment-', decider: payment },
  { name: 'shipment', prefix: 'shipment-', decider: shipment },
];
export const projections = [orderList, stockLevels];

export interface AppOptions {
  readonly port?: number;
  /** The token Factline's appends and rebuilds need; a random one when not given. */
  readonly token?: string;
}

export async function startApp(store: EventStore, options: AppOptions = {}) {
  const daemon = await startProjections(store, projections);
  const engine = await startWorkflows(store, [orderSaga(store)]);
  const token = options.token ?? randomBytes(24).toString('base64url');
  // allowedHosts: on loopback, only loopback names (a page elsewhere cannot rebind to it and read).
  const factline = createHttpApp(store, { token, deciders, projections, allowedHosts: ['127.0.0.1', 'localhost'] });

  const routes: Record<string, (req: IncomingMessage, params: string[]) => Promise<[number, unknown]>> = {
    // Places an order: the saga (a process manager) takes it from there.
    'POST /orders': async (req) => {
      const body = (await readJson(req)) as Record<string, unknown>;
      const orderId = typeof body.orderId === 'string' ? body.orderId : `o-${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
      if (!/^[\w-]{1,40}$/.test(orderId)) throw new Refused('orderId must be 1 to 40 letters, digits, _ or -');
      const command = { type: 'place' as const, orderId, sku: text(body.sku), quantity: Number(body.quantity), amount: Number(body.amount), card: text(body.card) };
      const { position } = await handle(store, `order-${orderId}`, order, command);
      // Read your own write: the order list has seen the order before the answer goes.
      await daemon.waitFor(position, { timeout: 5_000 });
      return [202, await store.documents<OrderView>('orders').get(orderId)];
    },
    'GET /orders': async () => [200, (await store.documents<OrderView>('orders').find({ orderBy: { updatedAt: 'desc' }, limit: 100 })).items.map((i) => i.data)],
    'GET /orders/:id': async (_req, [id]) => {
      const found = await store.documents<OrderView>('orders').get(id!);
      return found ? [200, found] : [404, { error: `no order ${id}` }];
    },
    'GET /stock': async () => [200, (await store.documents<StockView>('stock').find({ limit: 100 })).items.map((i) => i.data)],
    'POST /stock/:sku/restock': async (req, [sku]) => {
      const { quantity } = (await readJson(req)) as { quantity?: unknown };
      if (!Number.isInteger(quantity) || (quantity as number) < 1) throw new Refused('quantity must be a positive whole number');
      const { position } = await handle(store, `stock-${sku}`, stock, { type: 'restock', quantity: quantity as number });
      await daemon.waitFor(position, { timeout: 5_000 });
      return [200, await store.documents<StockView>('stock').get(sku!)];
    },
  };

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://app.invalid').pathname;
    const found = match(routes, req.method ?? 'GET', path);
    // Everything that is not the app's own goes to Factline: its API under /api, the explorer at /.
    if (!found) return factline(req, res);
    found.route(req, found.params).then(
      ([status, body]) => send(res, status, body),
      (error: unknown) => {
        if (error instanceof Refused) return send(res, 422, { error: error.message });
        // The store's refusals by what they mean to a client; a timeout came after the order was taken.
        const status = isFactlineError(error) ? ({ VALIDATION: 400, CONCURRENCY: 409, TIMEOUT: 202, STORE_UNAVAILABLE: 503 } as Record<string, number>)[error.code] : undefined;
        if (status !== undefined && isFactlineError(error)) return send(res, status, { error: error.message, code: error.code });
        console.error(error);
        send(res, 500, { error: 'the app failed; see its log' });
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 3000, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

  return {
    url,
    token,
    daemon,
    engine,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await factline.close();
      await engine.close();
      await daemon.close();
    },
  };
}

/** A little history for the explorer to show: stock for three teas, and orders in every state. */
export async function seed(store: EventStore): Promise<boolean> {
  if ((await store.streamInfo('stock-sencha')).version > 0) return false;
  for (const [sku, quantity] of [['sencha', 20], ['assam', 5], ['oolong', 8]] as const) await handle(store, `stock-${sku}`, stock, { type: 'restock', quantity });
  const orders = [
    { orderId: 'o-1001', sku: 'sencha', quantity: 2, amount: 12, card: '4242 4242' },
    { orderId: 'o-1002', sku: 'assam', quantity: 3, amount: 18, card: '0000 0002' }, // declined: compensated
    { orderId: 'o-1003', sku: 'oolong', quantity: 1, amount: 9, card: '4242 4242' },
    { orderId: 'o-1004', sku: 'sencha', quantity: 5, amount: 30, card: '4242 4242' },
    { orderId: 'o-1005', sku: 'assam', quantity: 9, amount: 54, card: '4242 4242' }, // more than there is
  ];
  for (const o of orders) await handle(store, `order-${o.orderId}`, order, { type: 'place', ...o });
  await handle(store, 'stock-sencha', stock, { type: 'restock', quantity: 10 });
  return true;
}

function match<T>(routes: Record<string, T>, method: string, path: string): { route: T; params: string[] } | undefined {
  const parts = path.split('/').filter(Boolean);
  for (const [key, route] of Object.entries(routes)) {
    const [m, pattern] = key.split(' ') as [string, string];
    const want = pattern.split('/').filter(Boolean);
    if (m !== method || want.length !== parts.length) continue;
    const params: string[] = [];
    if (want.every((w, i) => (w.startsWith(':') ? params.push(decodeURIComponent(parts[i]!)) > 0 : w === parts[i]))) return { route, params };
  }
  return undefined;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) throw new Refused('the body is too large');
    chunks.push(chunk as Buffer);
  }
  try {
    const value = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    if (typeof value !== 'object' || value === null) throw new Refused('the body must be a JSON object');
    return value;
  } catch (error) {
    throw error instanceof Refused ? error : new Refused('the body must be JSON');
  }
}

const text = (value: unknown) => (typeof value === 'string' ? value : '');

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}
