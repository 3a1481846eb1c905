import { createStore, type StoreFor, type StoreOptions } from './create-store.js';
import { MemoryBackend } from './memory-backend.js';

/** A store that lives in this process only: for tests and experiments. */
export function memoryStore<O extends StoreOptions = StoreOptions>(options?: O): StoreFor<O> {
  return createStore(new MemoryBackend(), options);
}
