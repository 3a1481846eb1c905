import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { closeAdmin, dropSchema, freshSchema, postgres } from './postgres.js';

export interface ProcessTarget {
  readonly name: 'sqlite' | 'postgres';
  /** Why the target is skipped, when it is. */
  readonly unavailable: string | undefined;
  /** A store URL on fresh storage that other processes can open too. */
  readonly url: () => string;
}

/**
 * The stores several processes can share, for tests that run children (crash tests): a SQLite
 * file in a temporary folder and a fresh PostgreSQL schema, both removed after the file's tests.
 */
export function processTargets(name: string): readonly ProcessTarget[] {
  const dir = mkdtempSync(join(tmpdir(), `factline-${name}-`));
  const schemas: string[] = [];
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    for (const schema of schemas) await dropSchema(schema);
    await closeAdmin();
  });
  return [
    { name: 'sqlite', unavailable: undefined, url: () => `sqlite:${join(dir, `${name}.db`)}` },
    {
      name: 'postgres',
      unavailable: postgres.reason,
      url: () => {
        const schema = freshSchema();
        schemas.push(schema);
        return `${postgres.url}?schema=${schema}`;
      },
    },
  ];
}

/** The seed of a randomised test: FACTLINE_CRASH_SEED replays a run. */
export const crashSeed = Number(process.env.FACTLINE_CRASH_SEED ?? Date.now() % 1_000_000);
