import { ConfigurationError } from '../events/errors.js';
import type { StoreOptions } from './create-store.js';
import type { EventStore } from './event-store.js';
import { memoryStore } from './memory-store.js';

/**
 * Opens a store from a URL, so that moving between stores is a configuration change:
 * - `memory:`: in this process only;
 * - `sqlite:PATH` (`sqlite:./data/app.db`, `sqlite:/abs/app.db`, `sqlite::memory:`), with an
 *   optional `?synchronous=normal`.
 * The adapter's driver is loaded only when its URL is used.
 */
export async function openStore(url: string, options: StoreOptions = {}): Promise<EventStore> {
  if (typeof url !== 'string') throw new ConfigurationError('openStore needs a URL such as "sqlite:./data/app.db" or "memory:"');
  if (url === 'memory:') return memoryStore(options);
  if (url.startsWith('sqlite:')) {
    const { path, synchronous } = parseSqliteUrl(url);
    const { sqliteStore } = await import('../sqlite/index.js');
    return sqliteStore({ ...options, path, ...(synchronous ? { synchronous } : {}) });
  }
  throw new ConfigurationError(`unsupported store URL "${url}": use "memory:" or "sqlite:PATH"`);
}

function parseSqliteUrl(url: string): { path: string; synchronous?: 'full' | 'normal' } {
  let rest = url.slice('sqlite:'.length);
  if (rest.startsWith('//')) rest = rest.slice(2);
  const at = rest.indexOf('?');
  const path = at === -1 ? rest : rest.slice(0, at);
  const query = at === -1 ? undefined : rest.slice(at + 1);
  if (path === '') throw new ConfigurationError(`store URL "${url}" names no file: use "sqlite:./data/app.db"`);
  const params = new URLSearchParams(query ?? '');
  for (const key of params.keys()) {
    if (key !== 'synchronous') throw new ConfigurationError(`unknown parameter "${key}" in store URL "${url}"`);
  }
  const synchronous = params.get('synchronous');
  if (synchronous === null) return { path };
  if (synchronous !== 'full' && synchronous !== 'normal') {
    throw new ConfigurationError(`synchronous must be "full" or "normal" in store URL "${url}"`);
  }
  return { path, synchronous };
}
