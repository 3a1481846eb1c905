import { afterAll, afterEach, describe, it } from 'vitest';
import type { EventStore, RecordedEvent, StoreFor, StoreOptions } from '../../src/index.js';
import { closeAdmin } from '../support/postgres.js';
import { adapters, type Adapter } from './adapters.js';

afterAll(closeAdmin);

export interface Context {
  readonly adapter: Adapter;
  /** Opens a fresh store for this test; it is closed and removed after the test. */
  readonly open: <O extends StoreOptions>(options?: O) => Promise<StoreFor<O>>;
  /** Several stores over one fresh storage, each with its own options; closed after the test. */
  readonly openShared: (options: readonly StoreOptions[]) => Promise<EventStore[]>;
  /** `it`, unless the adapter lists this case in its `skips` (then skipped, with the reason in the name). */
  readonly test: (name: string, fn: () => Promise<void>) => void;
}

/** Declares a block of conformance tests once per registered adapter. */
export function conformance(title: string, body: (ctx: Context) => void): void {
  for (const adapter of adapters) {
    const skipped = adapter.unavailable !== undefined;
    describe.skipIf(skipped)(`${title} [${adapter.name}]${skipped ? ` (skipped: ${adapter.unavailable})` : ''}`, () => {
      const opened: (() => Promise<void>)[] = [];
      afterEach(async () => {
        for (const cleanup of opened.splice(0)) await cleanup();
      });
      body({
        adapter,
        async open<O extends StoreOptions>(options?: O) {
          const { store, cleanup } = await adapter.open(options);
          opened.push(cleanup);
          return store as unknown as StoreFor<O>;
        },
        async openShared(options) {
          const { stores, cleanup } = await adapter.openShared(options);
          opened.push(cleanup);
          return stores;
        },
        test(name, fn) {
          const reason = adapter.skips[name];
          it.skipIf(reason !== undefined)(reason === undefined ? name : `${name} (not on ${adapter.name}: ${reason})`, fn);
        },
      });
    });
  }
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

export const versions = (events: readonly RecordedEvent[]) => events.map((e) => e.version);
export const positions = (events: readonly RecordedEvent[]) => events.map((e) => e.position);
