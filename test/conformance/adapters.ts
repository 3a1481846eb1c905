import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventStore, StoreOptions } from '../../src/index.js';
import { memoryStore } from '../../src/index.js';
import { createStore } from '../../src/store/create-store.js';
import { MemoryBackend } from '../../src/store/memory-backend.js';
import { postgresStore } from '../../src/postgres/index.js';
import { sqliteStore } from '../../src/sqlite/index.js';
import { dropSchema, freshSchema, postgres } from '../support/postgres.js';

/**
 * Every adapter the conformance suite runs against. A case an adapter cannot pass is listed in
 * its `skips`, with the reason, here and nowhere else.
 */
export interface Adapter {
  readonly name: string;
  /** A fresh, empty store; `cleanup` is registered by the suite. */
  open(options?: StoreOptions): Promise<OpenedStore>;
  /** Several stores over the same fresh storage, each with its own options (old and new code, say). */
  openShared(options: readonly StoreOptions[]): Promise<{ stores: EventStore[]; cleanup: () => Promise<void> }>;
  readonly skips: Readonly<Record<string, string>>;
  /** Why the adapter cannot run here at all (its server is unreachable), if so. */
  readonly unavailable?: string;
}

export interface OpenedStore {
  readonly store: EventStore;
  readonly cleanup: () => Promise<void>;
}

export const adapters: readonly Adapter[] = [
  {
    name: 'memory',
    skips: {},
    open(options) {
      const store = memoryStore(options);
      return Promise.resolve({ store, cleanup: () => store.close() });
    },
    openShared(options) {
      const backend = new MemoryBackend();
      const stores = options.map((o) => createStore(backend, o) as EventStore);
      return Promise.resolve({ stores, cleanup: () => closeAll(stores) });
    },
  },
  {
    name: 'sqlite',
    skips: {},
    open(options) {
      const dir = mkdtempSync(join(tmpdir(), 'factline-conf-'));
      const store = sqliteStore({ ...options, path: join(dir, 'events.db') });
      return Promise.resolve({
        store,
        async cleanup() {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      });
    },
    openShared(options) {
      const dir = mkdtempSync(join(tmpdir(), 'factline-conf-'));
      const stores = options.map((o) => sqliteStore({ ...o, path: join(dir, 'events.db') }) as EventStore);
      return Promise.resolve({
        stores,
        async cleanup() {
          await closeAll(stores);
          rmSync(dir, { recursive: true, force: true });
        },
      });
    },
  },
  {
    name: 'postgres',
    skips: {},
    ...(postgres.reason === undefined ? {} : { unavailable: postgres.reason }),
    async open(options) {
      const schema = freshSchema();
      const store = await postgresStore({ ...options, connectionString: postgres.url!, schema, poolSize: 4 });
      return {
        store,
        async cleanup() {
          await store.close();
          await dropSchema(schema);
        },
      };
    },
    async openShared(options) {
      const schema = freshSchema();
      const stores: EventStore[] = [];
      for (const o of options) stores.push((await postgresStore({ ...o, connectionString: postgres.url!, schema, poolSize: 3 })));
      return {
        stores,
        async cleanup() {
          await closeAll(stores);
          await dropSchema(schema);
        },
      };
    },
  },
];

async function closeAll(stores: readonly EventStore[]): Promise<void> {
  for (const store of stores) await store.close();
}
