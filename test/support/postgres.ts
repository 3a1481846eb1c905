import pg from 'pg';
import { inject } from 'vitest';

/** The test run's PostgreSQL database, or why there is none. */
export const postgres = inject('postgres');

let admin: pg.Pool | undefined;

/** A fresh schema name for one store. */
export function freshSchema(): string {
  return `t_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
}

export async function dropSchema(schema: string): Promise<void> {
  admin ??= new pg.Pool({ connectionString: postgres.url, max: 2 });
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

export async function sql<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
  admin ??= new pg.Pool({ connectionString: postgres.url, max: 2 });
  return (await admin.query<R>(text, values)).rows;
}

export async function closeAdmin(): Promise<void> {
  const pool = admin;
  admin = undefined;
  await pool?.end();
}
