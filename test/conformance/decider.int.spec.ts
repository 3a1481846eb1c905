import { expect } from 'vitest';
import { z } from 'zod';
import {
  ConcurrencyError,
  ValidationError,
  defineDecider,
  defineEvents,
  handle,
  load,
  type DeciderStore,
  type EventOf,
  type RecordedEvent,
} from '../../src/index.js';
import { collect, conformance } from './harness.js';

const events = defineEvents({
  ItemAdded: { schema: z.object({ sku: z.string(), quantity: z.number().int().positive() }) },
  ItemRemoved: { schema: z.object({ sku: z.string() }) },
  CheckedOut: { schema: z.object({ total: z.number() }) },
});
type CartEvent = EventOf<typeof events>;
type Command = { type: 'add'; sku: string; quantity: number } | { type: 'remove'; sku: string } | { type: 'checkout' };

class CartError extends Error {}

interface Cart {
  readonly items: Readonly<Record<string, number>>;
  readonly checkedOut: boolean;
}

const cart = defineDecider<Cart, Command, CartEvent>({
  initialState: (): Cart => ({ items: {}, checkedOut: false }),
  evolve: (state: Cart, event: CartEvent): Cart => {
    switch (event.type) {
      case 'ItemAdded':
        return { ...state, items: { ...state.items, [event.data.sku]: (state.items[event.data.sku] ?? 0) + event.data.quantity } };
      case 'ItemRemoved': {
        const { [event.data.sku]: _removed, ...items } = state.items;
        return { ...state, items };
      }
      case 'CheckedOut':
        return { ...state, checkedOut: true };
    }
  },
  decide: (command: Command, state) => {
    if (state.checkedOut) throw new CartError('the cart is checked out');
    switch (command.type) {
      case 'add':
        return { type: 'ItemAdded', data: { sku: command.sku, quantity: command.quantity } };
      case 'remove':
        return state.items[command.sku] ? [{ type: 'ItemRemoved', data: { sku: command.sku } }] : [];
      case 'checkout': {
        const total = Object.values(state.items).reduce((n, q) => n + q, 0);
        return [{ type: 'CheckedOut', data: { total } }];
      }
    }
  },
});

const add = (sku: string, quantity = 1): Command => ({ type: 'add', sku, quantity });

conformance('deciders: handle and load', ({ open, test }) => {
  test('handle loads, decides, appends and returns the new state, the recorded events, version and position', async () => {
    const store = await open({ events });
    await store.append('other', [{ type: 'ItemAdded', data: { sku: 'x', quantity: 1 } }]);
    const first = await handle(store, 'cart-1', cart, add('tea', 2), { metadata: { correlationId: 'req-1' } });
    expect(first.state).toEqual({ items: { tea: 2 }, checkedOut: false });
    expect(first.events).toMatchObject([{ type: 'ItemAdded', stream: 'cart-1', version: 1, position: 2n, metadata: { correlationId: 'req-1' } }]);
    expect(first).toMatchObject({ version: 1, position: 2n });
    const second = await handle(store, 'cart-1', cart, { type: 'checkout' });
    expect(second.state).toEqual({ items: { tea: 2 }, checkedOut: true });
    expect(second.events.map((e) => e.data)).toEqual([{ total: 2 }]);
    expect(await load(store, 'cart-1', cart)).toMatchObject({ state: second.state, version: 2 });
  });

  test('a domain error from decide reaches the caller unchanged, and nothing is appended', async () => {
    const store = await open({ events });
    await handle(store, 'cart-1', cart, { type: 'checkout' });
    const error = await handle(store, 'cart-1', cart, add('tea')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CartError);
    expect(await collect(store.readStream('cart-1'))).toHaveLength(1);
  });

  test('a command that decides nothing appends nothing', async () => {
    const store = await open({ events });
    const result = await handle(store, 'cart-1', cart, { type: 'remove', sku: 'none' });
    expect(result).toMatchObject({ events: [], version: 0, position: 0n });
  });

  test('on a conflict, handle loads and decides again: concurrent commands all land', async () => {
    const store = await open({ events });
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => handle(store, 'cart-1', cart, add(`sku-${i}`), { retries: 10 })));
    expect(results.map((r) => r.version).sort()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Object.keys((await load(store, 'cart-1', cart)).state.items)).toHaveLength(6);
  });

  test('with retries 0 or an explicit expectedVersion, a conflict reaches the caller', async () => {
    const store = await open({ events });
    // Another writer appends between each load and its append, once.
    let sneak = true;
    const contended: DeciderStore<CartEvent> = {
      readStream: (stream, options) => store.readStream(stream, options),
      getEvents: (ids) => store.getEvents(ids),
      readSnapshot: (...args) => store.readSnapshot(...args),
      writeSnapshot: (snapshot) => store.writeSnapshot(snapshot),
      logger: store.logger,
      async append(stream, newEvents, options) {
        if (sneak) {
          sneak = false;
          await store.append(stream, [{ type: 'ItemAdded', data: { sku: 'sneaky', quantity: 1 } }]);
        }
        return store.append(stream, newEvents, options);
      },
    };
    await expect(handle(contended, 'cart-1', cart, add('a'), { retries: 0 })).rejects.toBeInstanceOf(ConcurrencyError);
    sneak = true;
    const retried = await handle(contended, 'cart-1', cart, add('b'), { retries: 1 });
    expect(retried.state.items).toEqual({ sneaky: 2, b: 1 });
    await expect(handle(store, 'cart-1', cart, add('c'), { expectedVersion: 0 })).rejects.toBeInstanceOf(ConcurrencyError);
    expect((await load(store, 'cart-1', cart)).version).toBe(3);
  });

  test('load: the state now, after a version, or at an instant', async () => {
    const store = await open({ events });
    expect(await load(store, 'cart-1', cart)).toEqual({ state: cart.initialState(), version: 0 });
    await handle(store, 'cart-1', cart, add('tea'));
    await new Promise((r) => setTimeout(r, 15));
    const between = new Date();
    await new Promise((r) => setTimeout(r, 15));
    await handle(store, 'cart-1', cart, add('scones', 6));
    await handle(store, 'cart-1', cart, { type: 'checkout' });
    expect((await load(store, 'cart-1', cart, { version: 1 })).state.items).toEqual({ tea: 1 });
    expect((await load(store, 'cart-1', cart, { version: 0 })).state).toEqual(cart.initialState());
    expect(await load(store, 'cart-1', cart, { at: between })).toMatchObject({ state: { items: { tea: 1 } }, version: 1 });
    expect(await load(store, 'cart-1', cart, { at: new Date(0) })).toMatchObject({ version: 0 });
    expect((await load(store, 'cart-1', cart, { version: 99 })).version).toBe(3);
    await expect(load(store, 'cart-1', cart, { version: -1 })).rejects.toBeInstanceOf(ValidationError);
    await expect(load(store, 'cart-1', cart, { at: new Date('x') })).rejects.toBeInstanceOf(ValidationError);
  });

  test('an idempotency key: a command retried after a lost reply appends nothing twice and returns the original result', async () => {
    const store = await open({ events });
    await handle(store, 'cart-1', cart, add('tea'));
    const original = await handle(store, 'cart-1', cart, { type: 'checkout' }, { idempotencyKey: 'checkout-7f3' });
    // The reply was lost; the client sends the same command again. Deciding again would now
    // refuse it (the cart is checked out); the original result comes back instead.
    const retried = await handle(store, 'cart-1', cart, { type: 'checkout' }, { idempotencyKey: 'checkout-7f3' });
    expect(retried).toEqual(original);
    expect(await collect(store.readStream('cart-1'))).toHaveLength(2);
    // The same key on another stream is another command.
    await handle(store, 'cart-2', cart, add('tea'));
    const other = await handle(store, 'cart-2', cart, { type: 'checkout' }, { idempotencyKey: 'checkout-7f3' });
    expect(other.events[0]!.id).not.toBe(original.events[0]!.id);
  });

  test('the same command sent twice at once with one key is applied once', async () => {
    const store = await open({ events });
    const [a, b] = await Promise.all([
      handle(store, 'cart-1', cart, add('tea', 3), { idempotencyKey: 'k-1' }),
      handle(store, 'cart-1', cart, add('tea', 3), { idempotencyKey: 'k-1' }),
    ]);
    expect(a).toEqual(b);
    expect(a.state.items).toEqual({ tea: 3 });
    expect((await load(store, 'cart-1', cart)).state.items).toEqual({ tea: 3 });
  });

  test('a run of the same command that lands between the first look and the decision still gives the original result', async () => {
    const store = await open({ events });
    await handle(store, 'cart-1', cart, add('tea'));
    const first = await handle(store, 'cart-1', cart, { type: 'checkout' }, { idempotencyKey: 'k-2' });
    // This run's first look misses the events (as if the other run had not committed yet);
    // deciding again is refused (checked out), and the refusal only says the command already ran.
    let blind = true;
    const late: DeciderStore<CartEvent> = {
      readStream: (stream, options) => store.readStream(stream, options),
      getEvents: (ids) => (blind ? ((blind = false), Promise.resolve([])) : store.getEvents(ids)),
      append: (stream, newEvents, options) => store.append(stream, newEvents, options),
      readSnapshot: (...args) => store.readSnapshot(...args),
      writeSnapshot: (snapshot) => store.writeSnapshot(snapshot),
      logger: store.logger,
    };
    expect(await handle(late, 'cart-1', cart, { type: 'checkout' }, { idempotencyKey: 'k-2' })).toEqual(first);
    // A decider that stamps something new each time: the second run's events differ (a duplicate
    // id with other content), and that too resolves to the original result.
    const stamping = defineDecider<number, null, RecordedEvent<'Stamped', { nonce: number }>>({
      initialState: () => 0,
      evolve: (n) => n + 1,
      decide: () => ({ type: 'Stamped', data: { nonce: Math.random() } }),
    });
    const original = await handle(store, 'stamps', stamping, null, { idempotencyKey: 'k-3' });
    blind = true;
    expect(await handle(late as unknown as DeciderStore<RecordedEvent<'Stamped', { nonce: number }>>, 'stamps', stamping, null, { idempotencyKey: 'k-3' })).toEqual(original);
    expect(await collect(store.readStream('stamps'))).toHaveLength(1);
  });

  test('bad options are a ValidationError', async () => {
    const store = await open({ events });
    await expect(handle(store, 'cart-1', cart, add('a'), { retries: -1 })).rejects.toBeInstanceOf(ValidationError);
    await expect(handle(store, 'cart-1', cart, add('a'), { idempotencyKey: '' })).rejects.toBeInstanceOf(ValidationError);
    await expect(handle(store, 'cart-1', cart, add('a'), 'x' as never)).rejects.toBeInstanceOf(ValidationError);
    expect(() => defineDecider({ initialState: () => 0 } as never)).toThrow(/evolve/);
  });
});
