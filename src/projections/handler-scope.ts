import { AsyncLocalStorage } from 'node:async_hooks';
import { ConfigurationError } from '../events/errors.js';

/** The store whose projection handler is running in this async context. */
const running = new AsyncLocalStorage<object>();

/** Runs a projection handler, marking the async context as inside `store`'s projection transaction. */
export function inHandler<T>(store: object, work: () => T): T {
  return running.run(store, work);
}

/**
 * A projection handler writes through its context (`ctx.documents`, `ctx.sql`), inside its batch's
 * or append's transaction. A write through the store itself would wait for that transaction on
 * memory and SQLite (a deadlock), and escape it on PostgreSQL (no longer exactly once): refused.
 */
export function refuseInHandler(store: object, what: string): void {
  if (running.getStore() === store) {
    throw new ConfigurationError(`${what} from inside a projection handler: write with ctx.documents or ctx.sql, or move the side effect to a reactor`);
  }
}
