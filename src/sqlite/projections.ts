import type Database from 'better-sqlite3';
import type { DeadLetter, DocumentQuery, DocumentReader, DocumentRow, ProjectionRow, Transaction } from '../projections/backend.js';
import { querySql, type SqlDialect } from '../projections/query.js';
import type { AllPage, StoredEvent } from '../store/backend.js';

const path = (field: string) => `'$.${field}'`;

/** Field expressions over `data` (JSON text). Indexes are made of the same text, so queries use them. */
const expressions = {
  rank: (f: string) =>
    `CASE json_type(data, ${path(f)}) WHEN 'false' THEN 1 WHEN 'true' THEN 2 WHEN 'integer' THEN 3 WHEN 'real' THEN 3 WHEN 'text' THEN 4 WHEN 'array' THEN 5 WHEN 'object' THEN 5 ELSE 0 END`,
  num: (f: string) => `CASE WHEN json_type(data, ${path(f)}) IN ('integer', 'real') THEN json_extract(data, ${path(f)}) END`,
  text: (f: string) => `CASE WHEN json_type(data, ${path(f)}) = 'text' THEN json_extract(data, ${path(f)}) END`,
};

/** The physical collection that reads of a logical one go to: the live generation's, else its own name. */
const RESOLVE = `coalesce((SELECT c.collection || '@' || c.generation FROM factline_collections AS c
  JOIN factline_projections AS p ON p.name = c.projection AND p.generation = c.generation
  WHERE c.collection = @collection AND p.status = 'live' LIMIT 1), @collection)`;

interface RawRow {
  name: string;
  generation: number;
  version: number;
  status: ProjectionRow['status'];
  checkpoint: number | bigint;
  owner: string;
  token: number;
  leaseUntil: number;
  error: string | null;
  updatedAt: number;
}

const ROW_COLUMNS = `name, generation, version, status, checkpoint, owner, token, lease_until AS leaseUntil, error, updated_at AS updatedAt`;

function toRow(r: RawRow): ProjectionRow {
  return { ...r, checkpoint: BigInt(r.checkpoint) };
}

type StatementName =
  | 'getLive' | 'get' | 'put' | 'delete' | 'resolve' | 'rows' | 'row' | 'rowsOf' | 'insertRow' | 'updateRow' | 'register'
  | 'owner' | 'generationCollections' | 'dropDocuments' | 'dropCollections' | 'dropRow' | 'deadLetter' | 'deadLetters';

/** Statements on one connection: prepared once, plus a bounded cache of generated queries. */
export class SqliteDocuments {
  private readonly cache = new Map<string, Database.Statement>();
  readonly s: Readonly<Record<StatementName, Database.Statement>>;

  constructor(private readonly db: Database.Database) {
    const p = (sql: string) => db.prepare(sql);
    this.s = {
      getLive: p(`SELECT data FROM factline_documents WHERE collection = ${RESOLVE} AND id = @id`).pluck(),
      get: p('SELECT data FROM factline_documents WHERE collection = ? AND id = ?').pluck(),
      put: p('INSERT INTO factline_documents (collection, id, data) VALUES (?, ?, ?) ON CONFLICT (collection, id) DO UPDATE SET data = excluded.data'),
      delete: p('DELETE FROM factline_documents WHERE collection = ? AND id = ?'),
      resolve: p(`SELECT ${RESOLVE}`).pluck(),
      rows: p(`SELECT ${ROW_COLUMNS} FROM factline_projections ORDER BY name, generation`),
      row: p(`SELECT ${ROW_COLUMNS} FROM factline_projections WHERE name = ? AND generation = ?`),
      rowsOf: p(`SELECT ${ROW_COLUMNS} FROM factline_projections WHERE name = ? ORDER BY generation`),
      insertRow: p(`INSERT INTO factline_projections (name, generation, version, status, checkpoint, owner, token, lease_until, error, updated_at)
                    VALUES (@name, @generation, @version, @status, @checkpoint, @owner, @token, @leaseUntil, @error, @updatedAt)
                    ON CONFLICT DO NOTHING`),
      updateRow: p(`UPDATE factline_projections SET version = @version, status = @status, checkpoint = @checkpoint, owner = @owner,
                      token = @token, lease_until = @leaseUntil, error = @error, updated_at = @updatedAt
                    WHERE name = @name AND generation = @generation`),
      register: p('INSERT INTO factline_collections (collection, generation, projection) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
      owner: p('SELECT projection FROM factline_collections WHERE collection = ? AND projection <> ? LIMIT 1').pluck(),
      generationCollections: p('SELECT collection FROM factline_collections WHERE projection = ? AND generation = ?').pluck(),
      dropDocuments: p('DELETE FROM factline_documents WHERE collection = ?'),
      dropCollections: p('DELETE FROM factline_collections WHERE projection = ? AND generation = ?'),
      dropRow: p('DELETE FROM factline_projections WHERE name = ? AND generation = ?'),
      deadLetter: p(`INSERT INTO factline_dead_letters (projection, position, event_id, error, failed_at) VALUES (?, ?, ?, ?, ?)
                     ON CONFLICT DO UPDATE SET error = excluded.error, failed_at = excluded.failed_at`),
      deadLetters: p(`SELECT projection, event_id AS eventId, position, error, failed_at AS failedAt FROM factline_dead_letters
                      WHERE projection = ? ORDER BY position`),
    };
  }

  find(collection: string, query: DocumentQuery, live: boolean): DocumentRow[] {
    const params: unknown[] = [];
    const dialect: SqlDialect = {
      ...expressions,
      id: 'id',
      param: (value) => {
        params.push(value);
        return '?';
      },
    };
    // The collection goes first: its placeholder comes first in the text.
    const target = live ? RESOLVE.replaceAll('@collection', '?') : '?';
    params.push(...(live ? [collection, collection] : [collection]));
    const { where, orderBy } = querySql(dialect, query);
    params.push(query.limit);
    const sql = `SELECT id, data FROM factline_documents WHERE collection = ${target} AND ${where} ORDER BY ${orderBy} LIMIT ?`;
    return this.statement(sql).all(params) as DocumentRow[];
  }

  statement(sql: string): Database.Statement {
    let statement = this.cache.get(sql);
    if (!statement) {
      if (this.cache.size >= 200) this.cache.delete(this.cache.keys().next().value!);
      statement = this.db.prepare(sql);
      this.cache.set(sql, statement);
    }
    return statement;
  }

  projections(): ProjectionRow[] {
    return (this.s.rows.all() as RawRow[]).map(toRow);
  }

  deadLetters(projection: string): DeadLetter[] {
    return (this.s.deadLetters.all(projection) as (DeadLetter & { position: number })[]).map((d) => ({ ...d, position: BigInt(d.position) }));
  }

  ensureIndexes(fields: readonly string[]): void {
    for (const field of fields) {
      this.db.exec(`CREATE INDEX IF NOT EXISTS factline_documents_num_${field} ON factline_documents (collection, ${expressions.num(field)})`);
      this.db.exec(`CREATE INDEX IF NOT EXISTS factline_documents_text_${field} ON factline_documents (collection, ${expressions.text(field)})`);
    }
  }

  reader(): DocumentReader {
    return {
      get: (collection, id) => Promise.resolve((this.s.getLive.get({ collection, id }) as string | undefined) ?? undefined),
      find: (collection, query) => Promise.resolve(this.find(collection, query, true)),
    };
  }
}

/** A transaction on the writer connection, which the backend has begun (BEGIN IMMEDIATE). */
export class SqliteTransaction implements Transaction {
  readonly documents: DocumentReader;

  constructor(
    private readonly d: SqliteDocuments,
    private readonly readAllEvents: (page: AllPage) => readonly StoredEvent[],
  ) {
    this.documents = {
      get: (collection, id) => Promise.resolve((d.s.get.get(collection, id) as string | undefined) ?? undefined),
      find: (collection, query) => Promise.resolve(d.find(collection, query, false)),
    };
  }

  put(collection: string, id: string, data: string): Promise<void> {
    this.d.s.put.run(collection, id, data);
    return Promise.resolve();
  }

  delete(collection: string, id: string): Promise<boolean> {
    return Promise.resolve(this.d.s.delete.run(collection, id).changes > 0);
  }

  resolve(collection: string): Promise<string> {
    return Promise.resolve(this.d.s.resolve.get({ collection }) as string);
  }

  sql(text: string, params: readonly unknown[]): Promise<Record<string, unknown>[]> {
    const statement = this.d.statement(text);
    if (statement.reader) return Promise.resolve(statement.all(...params) as Record<string, unknown>[]);
    statement.run(...params);
    return Promise.resolve([]);
  }

  rowsOf(name: string): Promise<ProjectionRow[]> {
    return Promise.resolve((this.d.s.rowsOf.all(name) as RawRow[]).map(toRow));
  }

  lockProjection(name: string, generation: number): Promise<ProjectionRow | undefined> {
    const row = this.d.s.row.get(name, generation) as RawRow | undefined;
    return Promise.resolve(row && toRow(row));
  }

  insertProjection(row: ProjectionRow): Promise<boolean> {
    return Promise.resolve(this.d.s.insertRow.run(row).changes > 0);
  }

  updateProjection(row: ProjectionRow): Promise<void> {
    this.d.s.updateRow.run(row);
    return Promise.resolve();
  }

  registerCollection(collection: string, projection: string, generation: number): Promise<void> {
    this.d.s.register.run(collection, generation, projection);
    return Promise.resolve();
  }

  collectionOwner(collection: string, projection: string): Promise<string | undefined> {
    return Promise.resolve((this.d.s.owner.get(collection, projection) as string | undefined) ?? undefined);
  }

  dropGeneration(projection: string, generation: number): Promise<void> {
    for (const collection of this.d.s.generationCollections.all(projection, generation) as string[]) {
      this.d.s.dropDocuments.run(`${collection}@${generation}`);
    }
    this.d.s.dropCollections.run(projection, generation);
    this.d.s.dropRow.run(projection, generation);
    return Promise.resolve();
  }

  deadLetter(e: DeadLetter): Promise<void> {
    this.d.s.deadLetter.run(e.projection, e.position, e.eventId, e.error, e.failedAt);
    return Promise.resolve();
  }

  /** BEGIN IMMEDIATE holds the file's write lock already. */
  lockAppends(): Promise<void> {
    return Promise.resolve();
  }

  readAll(page: AllPage): Promise<readonly StoredEvent[]> {
    return Promise.resolve(this.readAllEvents(page));
  }

  now(): Promise<number> {
    return Promise.resolve(Date.now());
  }
}
