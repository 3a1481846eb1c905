import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { sqliteStore } from '../../src/sqlite/index.js';

const dir = mkdtempSync(join(tmpdir(), 'factline-example-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runExample(store: string): string[] {
  return execFileSync(process.execPath, ['--import', 'tsx', 'examples/quickstart/main.ts'], {
    env: { ...process.env, FACTLINE_STORE: store },
    encoding: 'utf8',
  }).split('\n');
}

it('the quickstart appends, reads back, refuses a conflict and follows events live (SQLite)', async () => {
  const path = join(dir, 'quickstart.db');
  for (let round = 1; round <= 2; round++) {
    const lines = runExample(`sqlite:${path}`);
    expect(lines.filter((l) => l.startsWith('refused: cart-'))).toHaveLength(1);
    expect(lines.filter((l) => /^ {2}v\d /.test(l)).map((l) => l.trim().split(' ')[1])).toEqual(['CartOpened', 'ItemAdded', 'ItemAdded']);
    const live = lines.filter((l) => l.includes('live #'));
    expect(live.map((l) => l.split(' ')[5])).toEqual(['OrderPlaced', 'OrderShipped', 'OrderPlaced', 'OrderShipped', 'OrderPlaced', 'OrderShipped']);
    const positions = live.map((l) => Number(/#(\d+)/.exec(l)![1]));
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    // Running it again adds to the same file.
    const store = sqliteStore({ path });
    let count = 0;
    for await (const _event of store.readAll()) count++;
    await store.close();
    expect(count).toBe(10 * round);
  }
});

it('runs on the in-memory store too', () => {
  expect(runExample('memory:').filter((l) => l.includes('live #'))).toHaveLength(6);
});
