import { ConfigurationError } from '../events/errors.js';
import type { StoreFor, StoreOptions } from './create-store.js';
import { memoryStore } from './memory-store.js';

/**
 * Opens a store from a URL, so that moving between stores is a configuration change:
 * - `memory:`: in this process only;
 * - `sqlite:PATH` (`sqlite:./data/app.db`, `sqlite:/abs/app.db`, `sqlite::memory:`), with an
 *   optional `?synchronous=normal`;
 * - `postgres://user@host:5432/db` (or `postgresql://`), with an optional `?schema=name`.
 * The adapter's driver is loaded only when its URL is used.
 */
export async function openStore<O extends StoreOptions = StoreOptions>(url: string, options?: O): Promise<StoreFor<O>> {
  if (typeof url !== 'string') throw new ConfigurationError('openStore needs a URL such as "sqlite:./data/app.db" or "memory:"');
  if (url === 'memory:') return memoryStore(options);
  if (url.startsWith('sqlite:')) {
    const { path, synchronous } = parseSqliteUrl(url);
    const { sqliteStore } = await import('../sqlite/index.js');
    // The adapter keeps the caller's events; the spread only hides that from the type checker.
    return sqliteStore({ ...options, path, ...(synchronous ? { synchronous } : {}) }) as StoreFor<O>;
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    const { connectionString, schema } = parsePostgresUrl(url);
    const { postgresStore } = await importAdapter(() => import('../postgres/index.js'), 'pg');
    return (await postgresStore({ ...options, connectionString, ...(schema ? { schema } : {}) })) as StoreFor<O>;
  }
  throw new ConfigurationError(`unsupported store URL "${url}": use "memory:", "sqlite:PATH" or "postgres://…"`);
}

/** The schema goes to the store, the rest of the URL to the driver. */
function parsePostgresUrl(url: string): { connectionString: string; schema?: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigurationError(`store URL "${url}" is not a valid URL`);
  }
  const schema = parsed.searchParams.get('schema') ?? undefined;
  parsed.searchParams.delete('schema');
  return { connectionString: parsed.toString(), ...(schema === undefined ? {} : { schema }) };
}

/** Loads an adapter, turning a missing optional driver into advice. */
async function importAdapter<T>(load: () => Promise<T>, driver: string): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND' && String(error).includes(`'${driver}'`)) {
      throw new ConfigurationError(`this store needs the "${driver}" package: npm install ${driver}`);
    }
    throw error;
  }
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
