import { mkdirSync, realpathSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { ConfigurationError } from '../events/errors.js';
import { createStore, type StoreFor, type StoreOptions } from '../store/create-store.js';
import { Mutex } from '../store/mutex.js';
import { SqliteBackend, type SharedWriteLock } from './backend.js';
import { toFactlineError } from './errors.js';
import { migrate } from './migrations.js';

export interface SqliteStoreOptions extends StoreOptions {
  /** The database file (its folder is created), or `':memory:'`. */
  readonly path: string;
  /**
   * `'full'` (default): a commit is on disk when `append` resolves, even if the machine loses power.
   * `'normal'`: faster; a power loss (not a process crash) may lose the last commits.
   */
  readonly synchronous?: 'full' | 'normal';
  /** How long to wait for another process's write lock, in ms. Default 5,000. */
  readonly busyTimeout?: number;
}

/**
 * One write mutex per database file and process. A projection's transaction awaits its handlers
 * while it holds the file's write lock; another store of the same process on the same file would
 * wait for that lock synchronously (busy_timeout), blocking the very event loop the first one needs
 * to finish. Sharing the mutex makes it wait its turn asynchronously instead.
 */
const writeLocks = new Map<string, { mutex: Mutex; users: number }>();

function writeLock(file: string): SharedWriteLock {
  let entry = writeLocks.get(file);
  if (!entry) writeLocks.set(file, (entry = { mutex: new Mutex(), users: 0 }));
  entry.users++;
  const held = entry;
  return {
    mutex: held.mutex,
    release: () => {
      if (--held.users === 0 && writeLocks.get(file) === held) writeLocks.delete(file);
    },
  };
}

/** The embedded store: one SQLite file in WAL mode, shared safely by several processes. */
export function sqliteStore<O extends SqliteStoreOptions>(options: O): StoreFor<O> {
  if (typeof options !== 'object' || options === null) throw new ConfigurationError('sqliteStore needs options: { path }');
  const { path, synchronous = 'full', busyTimeout = 5000 } = options;
  if (typeof path !== 'string' || path === '') throw new ConfigurationError('sqliteStore needs a path (or ":memory:")');
  if (synchronous !== 'full' && synchronous !== 'normal') throw new ConfigurationError("synchronous must be 'full' or 'normal'");
  if (!Number.isSafeInteger(busyTimeout) || busyTimeout < 0) throw new ConfigurationError('busyTimeout must be an integer ≥ 0');
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  let db: Database.Database | undefined;
  let reader: Database.Database | undefined;
  try {
    db = new Database(path);
    db.pragma(`busy_timeout = ${busyTimeout}`);
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal' && path !== ':memory:') {
      throw new ConfigurationError(`SQLite could not use WAL mode for ${path} (it stayed in "${String(mode)}"); use a local filesystem`);
    }
    db.pragma(`synchronous = ${synchronous.toUpperCase()}`);
    migrate(db);
    if (path !== ':memory:') {
      reader = new Database(path);
      reader.pragma(`busy_timeout = ${busyTimeout}`);
    }
    return createStore(new SqliteBackend(db, reader, path === ':memory:' ? undefined : writeLock(realpathSync(path))), options);
  } catch (error) {
    reader?.close();
    db?.close();
    throw toFactlineError(error);
  }
}
