import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'factline-orders-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runExample(store: string): string[] {
  return execFileSync(process.execPath, ['--import', 'tsx', 'examples/order-fulfilment/main.ts'], {
    env: { ...process.env, FACTLINE_STORE: store },
    encoding: 'utf8',
  }).split('\n');
}

it.each([['sqlite'], ['memory']])('the order saga ships two orders and compensates the declined one (%s)', (kind) => {
  const lines = runExample(kind === 'sqlite' ? `sqlite:${join(dir, 'orders.db')}` : 'memory:');
  const outcomes = lines.filter((l) => l.startsWith('order '));
  expect(outcomes).toHaveLength(3);
  expect(outcomes[0]).toMatch(/: shipped \(shipment version 1\)$/);
  expect(outcomes[1]).toMatch(/compensated: step "charge payment" failed after 1 try: the card was declined$/);
  expect(outcomes[2]).toMatch(/: shipped/);
  // 10 restocked, 2 + 1 shipped, the declined order's 3 released again.
  expect(lines.find((l) => l.startsWith('stock of'))).toMatch(/: 7 available, reserved \{"[^"]+-1":2,"[^"]+-3":1\}$/);
  const history = lines.filter((l) => /^ {2}\d+ Workflow/.test(l)).map((l) => l.trim().split(' ')[1]);
  expect(history).toEqual(['WorkflowStarted', 'WorkflowStepCompleted', 'WorkflowStepFailed', 'WorkflowCompensationCompleted', 'WorkflowCompensated']);
});
