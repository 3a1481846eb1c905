import pg from 'pg';
import type { TestProject } from 'vitest/node';

/**
 * Makes one PostgreSQL database for the whole test run and drops it afterwards; each test then
 * works in a schema of its own inside it. Without a reachable server the PostgreSQL tests skip,
 * saying why, except in CI, where that is a failure.
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const base = process.env.FACTLINE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const admin = new pg.Client({ connectionString: base, connectionTimeoutMillis: 5000 });
  try {
    await admin.connect();
  } catch (error) {
    const reason = `PostgreSQL is not reachable at ${base} (${(error as Error).message}); set FACTLINE_TEST_PG to use another server`;
    if (process.env.CI) throw new Error(`${reason}. CI needs it.`);
    console.warn(`\nSkipping the PostgreSQL tests: ${reason}\n`);
    project.provide('postgres', { reason });
    return undefined;
  }
  const database = `factline_test_${process.pid}_${Date.now().toString(36)}`;
  await admin.query(`CREATE DATABASE ${database}`);
  const url = new URL(base);
  url.pathname = `/${database}`;
  project.provide('postgres', { url: url.toString() });
  return async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: { url?: string; reason?: string };
  }
}
