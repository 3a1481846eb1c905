import Database from 'better-sqlite3';
import type { RawReference } from './raw.js';
import { timed, timedOps, type Measured } from './stats.js';

/**
 * The physical-limit reference: the same rows written and read with better-sqlite3 directly, on a
 * table of the same shape, with the same pragmas, and nothing else: no validation, no checks, no
 * stream heads, no batching. Ids are time-ordered like UUIDv7, so index inserts cost the same.
 */
export class RawSqlite implements RawReference {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly versions = new Map<string, number>();
  private seq = 0;
  readonly readAllArgs: readonly [string, string];

  get rows(): number {
    return this.seq;
  }

  constructor(path: string) {
    this.readAllArgs = ['raw-sqlite', path];
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.exec(`CREATE TABLE events (position INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, stream TEXT NOT NULL,
      version INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL, metadata TEXT, schema_version INTEGER NOT NULL,
      recorded_at INTEGER NOT NULL, UNIQUE (stream, version)) STRICT`);
    this.insert = this.db.prepare(
      'INSERT INTO events (id, stream, version, type, data, metadata, schema_version, recorded_at) VALUES (?, ?, ?, ?, ?, NULL, 1, ?)',
    );
  }

  private row(stream: string, data: unknown): void {
    const version = (this.versions.get(stream) ?? 0) + 1;
    this.versions.set(stream, version);
    const id = `${Date.now().toString(16).padStart(12, '0')}-${(++this.seq).toString(16).padStart(23, '0')}`;
    this.insert.run(id, stream, version, 'Bench', JSON.stringify(data), Date.now());
  }

  /** One INSERT per transaction, each committed (and synced) on its own. */
  singles(count: number, data: unknown, prefix: string): Promise<Measured> {
    const tx = this.db.transaction((i: number) => this.row(`${prefix}-${i}`, data));
    return timedOps(count, 1, (i) => tx.immediate(i));
  }

  /** better-sqlite3 is synchronous: concurrent writers can do no better than one after another. */
  concurrent(writers: number, perWriter: number, data: unknown, prefix: string): Promise<Measured> {
    return this.singles(Math.min(writers * perWriter, 3000), data, prefix);
  }

  /** `size` INSERTs in one transaction, `times` times. */
  batches(times: number, size: number, data: unknown, stream: string): Promise<Measured> {
    const tx = this.db.transaction(() => {
      for (let i = 0; i < size; i++) this.row(stream, data);
    });
    return timedOps(times, size, () => tx.immediate());
  }

  readStream(stream: string, expected: number): Promise<Measured> {
    const select = this.db.prepare('SELECT * FROM events WHERE stream = ? ORDER BY version');
    return timed(expected, () => {
      let n = 0;
      for (const row of select.iterate(stream) as Iterable<{ data: string }>) {
        JSON.parse(row.data);
        n++;
      }
      if (n !== expected) throw new Error(`raw read ${n} events, expected ${expected}`);
    });
  }

  close(): Promise<void> {
    this.db.close();
    return Promise.resolve();
  }
}
