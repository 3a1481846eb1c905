import type pg from 'pg';
import type { DeadLetter, DocumentQuery, DocumentReader, DocumentRow, ProjectionBackend, ProjectionRow, Transaction } from '../projections/backend.js';
import { querySql, type SqlDialect } from '../projections/query.js';
import type { AllPage, StoredEvent } from '../store/backend.js';
import { toFactlineError } from './errors.js';
import type { Names } from './names.js';
import type { Statements } from './statements.js';

const field = (f: string) => `data->'${f}'`;

/** Field expressions over `data` (jsonb). Indexes are made of the same text, so queries use them. */
const expressions = {
  rank: (f: string) =>
    `(CASE jsonb_typeof(${field(f)}) WHEN 'boolean' THEN CASE WHEN ${field(f)} = 'true'::jsonb THEN 2 ELSE 1 END WHEN 'number' THEN 3 WHEN 'string' THEN 4 WHEN 'array' THEN 5 WHEN 'object' THEN 5 ELSE 0 END)`,
  num: (f: string) => `(CASE WHEN jsonb_typeof(${field(f)}) = 'number' THEN (data->>'${f}')::numeric END)`,
  text: (f: string) => `((CASE WHEN jsonb_typeof(${field(f)}) = 'string' THEN data->>'${f}' END) COLLATE "C")`,
};

const COLUMNS = `name, generation, version, status, checkpoint::text AS checkpoint, owner, token::float8 AS token,
  lease_until::float8 AS "leaseUntil", error, updated_at::float8 AS "updatedAt"`;

type RawRow = Omit<ProjectionRow, 'checkpoint'> & { checkpoint: string };

const toRow = (r: RawRow): ProjectionRow => ({ ...r, checkpoint: BigInt(r.checkpoint) });

const key = (collection: string, id: string) => `${collection}\u0000${id}`;

const NOW = `floor(extract(epoch FROM clock_timestamp()) * 1000)::float8`;

type Query = <R extends pg.QueryResultRow>(text: string, values: readonly unknown[]) => Promise<R[]>;

/**
 * Documents and projection rows. Transactions run on a connection of their own, READ COMMITTED,
 * and may run side by side: the projection row they lock (FOR UPDATE) orders those that meet.
 */
export class PostgresProjections implements ProjectionBackend {
  readonly documents: DocumentReader;

  constructor(
    private readonly pool: pg.Pool,
    private readonly n: Names,
    private readonly statements: Statements,
  ) {
    const run: Query = async (text, values) => {
      try {
        return (await pool.query(text, values as unknown[])).rows as never[];
      } catch (error) {
        throw toFactlineError(error);
      }
    };
    this.documents = reader(n, run, true);
  }

  async transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    const client = await this.pool.connect().catch((error: unknown) => {
      throw toFactlineError(error);
    });
    let broken: Error | undefined;
    try {
      await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
      const tx = new PostgresTransaction(client, this.n, this.statements);
      const result = await work(tx);
      await tx.flush();
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((e: unknown) => (broken = e as Error));
      throw toFactlineError(error);
    } finally {
      client.release(broken);
    }
  }

  async projections(): Promise<ProjectionRow[]> {
    const { rows } = await this.query<RawRow>(`SELECT ${COLUMNS} FROM ${this.n.projections} ORDER BY name, generation`, []);
    return rows.map(toRow);
  }

  async ensureIndexes(fields: readonly string[]): Promise<void> {
    if (fields.length === 0) return;
    // CREATE INDEX IF NOT EXISTS is not safe against itself: two processes that start together
    // both pass the check and one fails on the catalog's unique key. They take turns under a
    // transaction-scoped lock; the second then finds the first's index.
    await this.transaction(async (tx) => {
      await tx.sql('SELECT pg_advisory_xact_lock($1, $2)', [this.n.lockSpace + 2, this.n.lockKey]);
      for (const f of fields) {
        for (const [kind, expr] of [['num', expressions.num(f)], ['text', expressions.text(f)]] as const) {
          await tx.sql(`CREATE INDEX IF NOT EXISTS documents_${kind}_${f} ON ${this.n.documents} (collection, ${expr})`, []);
        }
      }
    });
  }

  async now(): Promise<number> {
    const { rows } = await this.query<{ now: number }>(`SELECT ${NOW} AS now`, []);
    return rows[0]!.now;
  }

  async deadLetters(projection: string): Promise<DeadLetter[]> {
    const { rows } = await this.query<DeadLetter & { position: string }>(
      `SELECT projection, event_id::text AS "eventId", position::text AS position, error, failed_at::float8 AS "failedAt"
       FROM ${this.n.deadLetters} WHERE projection = $1 ORDER BY position`,
      [projection],
    );
    return rows.map((d) => ({ ...d, position: BigInt(d.position) }));
  }

  private async query<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(text, values);
    } catch (error) {
      throw toFactlineError(error);
    }
  }
}

/** The physical collection that reads of a logical one go to: the live generation's, else its own name. */
function resolveSql(n: Names, p: string): string {
  return `coalesce((SELECT c.collection || '@' || c.generation FROM ${n.collections} AS c
    JOIN ${n.projections} AS p ON p.name = c.projection AND p.generation = c.generation
    WHERE c.collection = ${p} AND p.status = 'live' LIMIT 1), ${p})`;
}

/** `find` runs with `run`; `get`, which a waiting write of another document cannot change, with `getRun`. */
function reader(n: Names, run: Query, live: boolean, getRun: Query = run): DocumentReader {
  const target = (p: string) => (live ? resolveSql(n, p) : p);
  return {
    async get(collection, id) {
      const rows = await getRun<{ data: string }>(`SELECT data::text AS data FROM ${n.documents} WHERE collection = ${target('$1')} AND id = $2`, [collection, id]);
      return rows[0]?.data;
    },
    find(collection, query) {
      return run<DocumentRow>(...findSql(n, target('$1'), collection, query));
    },
  };
}

function findSql(n: Names, target: string, collection: string, query: DocumentQuery): [string, unknown[]] {
  const params: unknown[] = [collection];
  const dialect: SqlDialect = {
    ...expressions,
    id: '(id COLLATE "C")',
    param: (value, kind) => {
      params.push(value);
      return `$${params.length}::${kind === 'number' ? 'numeric' : 'text'}`;
    },
  };
  const { where, orderBy } = querySql(dialect, query);
  params.push(query.limit);
  return [`SELECT id, data::text AS data FROM ${n.documents} WHERE collection = ${target} AND ${where} ORDER BY ${orderBy} LIMIT $${params.length}`, params];
}

/**
 * A transaction on one connection. Document writes wait in memory and go in one statement when
 * anything else reads or writes, and before COMMIT: a batch of events costs one round trip for
 * its documents, not one per event. Reads of a waiting document are answered from memory.
 */
export class PostgresTransaction implements Transaction {
  readonly documents: DocumentReader;
  private readonly run: Query;
  private readonly pending = new Map<string, { collection: string; id: string; data: string }>();

  constructor(
    private readonly client: pg.ClientBase,
    private readonly n: Names,
    private readonly statements: Statements,
  ) {
    const query: Query = async (text, values) => (await client.query(text, values as unknown[])).rows as never[];
    this.run = async (text, values) => {
      await this.flush();
      return query(text, values);
    };
    const stored = reader(n, this.run, false, query);
    this.documents = {
      get: (collection, id) => {
        const waiting = this.pending.get(key(collection, id));
        return waiting ? Promise.resolve(waiting.data) : stored.get(collection, id);
      },
      find: (collection, q) => stored.find(collection, q),
    };
  }

  /** Writes the waiting documents. */
  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const rows = [...this.pending.values()];
    this.pending.clear();
    await this.client.query(
      `INSERT INTO ${this.n.documents} (collection, id, data) SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[])
       ON CONFLICT (collection, id) DO UPDATE SET data = excluded.data`,
      [rows.map((r) => r.collection), rows.map((r) => r.id), rows.map((r) => r.data)],
    );
  }

  put(collection: string, id: string, data: string): Promise<void> {
    this.pending.set(key(collection, id), { collection, id, data });
    return Promise.resolve();
  }

  async delete(collection: string, id: string): Promise<boolean> {
    const rows = await this.run(`DELETE FROM ${this.n.documents} WHERE collection = $1 AND id = $2 RETURNING 1`, [collection, id]);
    return rows.length > 0;
  }

  async resolve(collection: string): Promise<string> {
    const rows = await this.run<{ physical: string }>(`SELECT ${resolveSql(this.n, '$1')} AS physical`, [collection]);
    return rows[0]!.physical;
  }

  sql(text: string, params: readonly unknown[]): Promise<Record<string, unknown>[]> {
    return this.run(text, params);
  }

  async rowsOf(name: string): Promise<ProjectionRow[]> {
    const rows = await this.run<RawRow>(`SELECT ${COLUMNS} FROM ${this.n.projections} WHERE name = $1 ORDER BY generation`, [name]);
    return rows.map(toRow);
  }

  async lockProjection(name: string, generation: number): Promise<ProjectionRow | undefined> {
    const rows = await this.run<RawRow>(`SELECT ${COLUMNS} FROM ${this.n.projections} WHERE name = $1 AND generation = $2 FOR UPDATE`, [name, generation]);
    return rows[0] && toRow(rows[0]);
  }

  async insertProjection(r: ProjectionRow): Promise<boolean> {
    const rows = await this.run(
      `INSERT INTO ${this.n.projections} (name, generation, version, status, checkpoint, owner, token, lease_until, error, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING RETURNING 1`,
      [r.name, r.generation, r.version, r.status, r.checkpoint.toString(), r.owner, r.token, r.leaseUntil, r.error, r.updatedAt],
    );
    return rows.length > 0;
  }

  async updateProjection(r: ProjectionRow): Promise<void> {
    await this.run(
      `UPDATE ${this.n.projections} SET version = $3, status = $4, checkpoint = $5, owner = $6, token = $7, lease_until = $8,
         error = $9, updated_at = $10 WHERE name = $1 AND generation = $2`,
      [r.name, r.generation, r.version, r.status, r.checkpoint.toString(), r.owner, r.token, r.leaseUntil, r.error, r.updatedAt],
    );
  }

  async registerCollection(collection: string, projection: string, generation: number): Promise<void> {
    await this.run(`INSERT INTO ${this.n.collections} (collection, generation, projection) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [
      collection,
      generation,
      projection,
    ]);
  }

  async collectionOwner(collection: string, projection: string): Promise<string | undefined> {
    const rows = await this.run<{ projection: string }>(
      `SELECT projection FROM ${this.n.collections} WHERE collection = $1 AND projection <> $2 LIMIT 1`,
      [collection, projection],
    );
    return rows[0]?.projection;
  }

  async dropGeneration(projection: string, generation: number): Promise<void> {
    await this.run(
      `DELETE FROM ${this.n.documents} WHERE collection IN (
         SELECT collection || '@' || generation FROM ${this.n.collections} WHERE projection = $1 AND generation = $2)`,
      [projection, generation],
    );
    await this.run(`DELETE FROM ${this.n.collections} WHERE projection = $1 AND generation = $2`, [projection, generation]);
    await this.run(`DELETE FROM ${this.n.projections} WHERE name = $1 AND generation = $2`, [projection, generation]);
  }

  async deadLetter(e: DeadLetter): Promise<void> {
    await this.run(
      `INSERT INTO ${this.n.deadLetters} (projection, position, event_id, error, failed_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (projection, position) DO UPDATE SET error = excluded.error, failed_at = excluded.failed_at`,
      [e.projection, e.position.toString(), e.eventId, e.error, e.failedAt],
    );
  }

  async lockAppends(): Promise<void> {
    await this.flush();
    await this.client.query(this.statements.lock);
  }

  async readAll(page: AllPage): Promise<readonly StoredEvent[]> {
    await this.flush();
    const { rows } = await this.client.query<Omit<StoredEvent, 'position'> & { position: string }>({
      ...this.statements.all,
      values: [page.after.toString(), page.types ?? null, page.streamPrefix ?? null, page.limit],
    });
    return rows.map((r) => ({ ...r, position: BigInt(r.position) }));
  }

  async now(): Promise<number> {
    const rows = await this.run<{ now: number }>(`SELECT ${NOW} AS now`, []);
    return rows[0]!.now;
  }
}
