import pg from 'pg';
import type { RawReference } from './raw.js';
import { timed, timedOps, type Measured } from './stats.js';

/**
 * The physical-limit reference on PostgreSQL: plain `pg`, a table of the same shape with a
 * sequence for positions (the naive design, with no ordering guarantee), no checks, no batching.
 */
export class RawPostgres implements RawReference {
  private seq = 0;
  private readonly versions = new Map<string, number>();
  readonly readAllArgs: readonly [string, string];

  private constructor(private readonly pool: pg.Pool, url: string) {
    this.readAllArgs = ['raw-postgres', url];
  }

  static async open(url: string): Promise<RawPostgres> {
    const pool = new pg.Pool({ connectionString: url, max: 17 });
    pool.on('error', () => {}); // an idle connection dropped at the end (the database is dropped with FORCE)
    await pool.query(`CREATE SCHEMA raw;
      CREATE TABLE raw.events (position bigserial PRIMARY KEY, id uuid NOT NULL UNIQUE, stream text NOT NULL,
        version integer NOT NULL, type text NOT NULL, data text NOT NULL, metadata text, schema_version integer NOT NULL,
        recorded_at timestamptz NOT NULL, UNIQUE (stream, version))`);
    return new RawPostgres(pool, url);
  }

  get rows(): number {
    return this.seq;
  }

  private next(stream: string): number {
    const version = (this.versions.get(stream) ?? 0) + 1;
    this.versions.set(stream, version);
    this.seq++;
    return version;
  }

  private async oneInsertTransaction(client: pg.PoolClient, stream: string, data: string): Promise<void> {
    await client.query('BEGIN');
    await client.query({
      name: 'raw_insert',
      text: 'INSERT INTO raw.events (id, stream, version, type, data, schema_version, recorded_at) VALUES (gen_random_uuid(), $1, $2, $3, $4, 1, now())',
      values: [stream, this.next(stream), 'Bench', data],
    });
    await client.query('COMMIT');
  }

  async singles(count: number, data: unknown, prefix: string): Promise<Measured> {
    const client = await this.pool.connect();
    const json = JSON.stringify(data);
    try {
      return await timedOps(count, 1, (i) => this.oneInsertTransaction(client, `${prefix}-${i}`, json));
    } finally {
      client.release();
    }
  }

  async concurrent(writers: number, perWriter: number, data: unknown, prefix: string): Promise<Measured> {
    const json = JSON.stringify(data);
    const clients = await Promise.all(Array.from({ length: writers }, () => this.pool.connect()));
    try {
      return await timed(writers * perWriter, async () => {
        await Promise.all(
          clients.map(async (client, w) => {
            for (let i = 0; i < perWriter; i++) await this.oneInsertTransaction(client, `${prefix}-${w}-${i % 50}`, json);
          }),
        );
      });
    } finally {
      for (const c of clients) c.release();
    }
  }

  async batches(times: number, size: number, data: unknown, stream: string): Promise<Measured> {
    const client = await this.pool.connect();
    const json = JSON.stringify(data);
    try {
      return await timedOps(times, size, async () => {
        const versions = Array.from({ length: size }, () => this.next(stream));
        await client.query('BEGIN');
        // Each row's own values travel, as ours do: the same work, not one value repeated.
        await client.query({
          name: 'raw_batch',
          text: `INSERT INTO raw.events (id, stream, version, type, data, schema_version, recorded_at)
            SELECT i, s, v, 'Bench', d, 1, now() FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[]) AS x (i, s, v, d)`,
          values: [versions.map(() => crypto.randomUUID()), versions.map(() => stream), versions, versions.map(() => json)],
        });
        await client.query('COMMIT');
      });
    } finally {
      client.release();
    }
  }

  readStream(stream: string, expected: number): Promise<Measured> {
    return timed(expected, async () => {
      const { rows } = await this.pool.query<{ data: string }>('SELECT * FROM raw.events WHERE stream = $1 ORDER BY version', [stream]);
      for (const row of rows) JSON.parse(row.data);
      if (rows.length !== expected) throw new Error(`raw read ${rows.length} events, expected ${expected}`);
    });
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}
