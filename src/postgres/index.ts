export { migrate, postgresStore, type PostgresConnection, type PostgresStoreOptions } from './store.js';
export type { PostgresTestHooks } from './backend.js';
