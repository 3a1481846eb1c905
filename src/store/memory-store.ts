import { createStore, type StoreOptions } from './create-store.js';
import type { EventStore } from './event-store.js';
import { MemoryBackend } from './memory-backend.js';

/** A store that lives in this process only: for tests and experiments. */
export function memoryStore(options: StoreOptions = {}): EventStore {
  return createStore(new MemoryBackend(), options);
}
