import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { runTs } from '../support/child.js';

const dir = mkdtempSync(join(tmpdir(), 'factline-orders-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Order {
  orderId: string;
  status: string;
  reason?: string;
}

async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeout = 10_000): Promise<T> {
  const end = Date.now() + timeout;
  for (;;) {
    const value = await read();
    if (ok(value) || Date.now() > end) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

it.each([['sqlite'], ['memory']])('npm start: the order app seeds its history, runs the saga, takes orders over HTTP and serves the explorer (%s)', async (kind) => {
  const store = kind === 'sqlite' ? `sqlite:${join(dir, 'orders.db')}` : 'memory:';
  const app = runTs('examples/order-fulfilment/main.ts', [], { FACTLINE_STORE: store, PORT: '0', FACTLINE_TOKEN: 'a-token-of-the-test-0123456789' });
  try {
    await app.waitForLine((l) => l.startsWith('Ctrl-C'));
    const url = /explorer: +(http:\/\/[^#\s]+)/.exec(app.lines.join('\n'))![1]!;
    expect(app.lines[0]).toContain('seeded with stock and five orders');
    const json = async <T>(path: string, init?: RequestInit): Promise<T> => (await fetch(new URL(path, url), init)).json() as Promise<T>;

    // The seeded orders end as their saga decided: shipped, compensated for a declined card, cancelled for want of stock.
    const orders = await until(() => json<Order[]>('orders'), (o) => o.length === 5 && o.every((x) => ['shipped', 'cancelled'].includes(x.status)));
    const status = Object.fromEntries(orders.map((o) => [o.orderId, [o.status, o.reason]]));
    expect(status).toEqual({
      'o-1001': ['shipped', undefined],
      'o-1002': ['cancelled', 'step "charge payment" failed after 1 try: the card was declined'],
      'o-1003': ['shipped', undefined],
      'o-1004': ['shipped', undefined],
      // 5 left, or 2 while the declined order still holds its 3: the sagas run side by side.
      'o-1005': ['cancelled', expect.stringMatching(/^step "reserve stock" failed after 1 try: only [25] left$/)],
    });
    // sencha: 20 + 10 restocked, 2 + 5 shipped (reserved, then gone); assam: the declined order's 3 released again.
    const stock = await until(() => json<{ sku: string; reserved: number }[]>('stock'), (s) => s.every((x) => x.reserved === 0));
    expect(stock).toEqual(
      expect.arrayContaining([
        { sku: 'sencha', available: 23, reserved: 0 },
        { sku: 'assam', available: 5, reserved: 0 },
        { sku: 'oolong', available: 7, reserved: 0 },
      ]),
    );

    // A new order over the command API: answered once the order list has it, then shipped by the saga.
    const placed = await fetch(new URL('orders', url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ orderId: 'o-2001', sku: 'oolong', quantity: 2, amount: 10, card: '4242' }) });
    expect(placed.status).toBe(202);
    expect(await placed.json()).toMatchObject({ orderId: 'o-2001', status: 'placed' });
    expect((await until(() => json<Order>('orders/o-2001'), (o) => o.status === 'shipped')).status).toBe('shipped');
    const refused = await fetch(new URL('orders', url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sku: 'oolong', quantity: 0, amount: 10, card: '4242' }) });
    expect(refused.status).toBe(422);
    expect(await refused.json()).toEqual({ error: 'quantity must be a whole number from 1 to 100' });

    // Factline's API and explorer on the same server, with the app's deciders for time travel.
    const state = await json<{ state: unknown; diff: unknown[] }>('api/streams/stock-assam/state?version=2');
    expect(state.state).toEqual({ available: 2, reserved: { 'o-1002': 3 } });
    expect(state.diff).toEqual([
      { path: 'available', kind: 'changed', before: 5, after: 2 },
      { path: 'reserved["o-1002"]', kind: 'added', after: 3 },
    ]);
    const page = await fetch(url);
    expect(page.headers.get('content-type')).toContain('text/html');
    const workflow = await json<{ status: string; history: { type: string }[] }>('api/workflows/o-1002');
    expect(workflow.status).toBe('compensated');
    expect(workflow.history.map((e) => e.type)).toEqual([
      'WorkflowStarted',
      'WorkflowStepCompleted',
      'WorkflowStepFailed',
      'WorkflowStepCompleted',
      'WorkflowCompensationCompleted',
      'WorkflowCompensated',
    ]);
  } finally {
    app.process.kill('SIGINT');
    expect(await app.exited).toBe(0);
  }
});
