import type { DeciderEntry } from '../config.js';
import { defineDecider } from '../decider/decider.js';
import type { RecordedEvent } from '../events/types.js';
import { uuidv7 } from '../events/uuid.js';
import { defineProjection, type ProjectionDefinition } from '../projections/define.js';
import type { EventStore } from '../store/event-store.js';

// `factline demo`: accounts and transfers between them, small enough to read in the explorer.

type AccountEvent =
  | RecordedEvent<'AccountOpened', { owner: string }>
  | RecordedEvent<'MoneyDeposited' | 'MoneyWithdrawn', { amount: number; transfer?: string }>;

interface Account {
  owner: string;
  balance: number;
  transfers: string[];
}

const account = defineDecider<Account, never, AccountEvent>({
  initialState: () => ({ owner: '', balance: 0, transfers: [] }),
  evolve: (s, e) => {
    switch (e.type) {
      case 'AccountOpened':
        return { ...s, owner: e.data.owner };
      case 'MoneyDeposited':
        return { ...s, balance: s.balance + e.data.amount, transfers: e.data.transfer ? [...s.transfers, e.data.transfer] : s.transfers };
      case 'MoneyWithdrawn':
        return { ...s, balance: s.balance - e.data.amount, transfers: e.data.transfer ? [...s.transfers, e.data.transfer] : s.transfers };
    }
  },
  decide: () => [],
});

const balances = defineProjection<AccountEvent>({
  name: 'balances',
  version: 1,
  types: ['AccountOpened', 'MoneyDeposited', 'MoneyWithdrawn'],
  async handle(event, { documents }) {
    const accounts = documents<{ owner: string; balance: number }>('balances');
    const id = event.stream.slice('account-'.length);
    const current = (await accounts.get(id)) ?? { owner: '', balance: 0 };
    if (event.type === 'AccountOpened') await accounts.upsert(id, { ...current, owner: event.data.owner });
    else await accounts.upsert(id, { ...current, balance: current.balance + (event.type === 'MoneyDeposited' ? event.data.amount : -event.data.amount) });
  },
});

/** Fills a store with a few accounts and the transfers between them; answers what it registered. */
export async function seedDemo(store: EventStore): Promise<{ events: number; streams: number; deciders: DeciderEntry[]; projections: ProjectionDefinition[] }> {
  const owners = ['ada', 'grace', 'alan', 'edsger'];
  let events = 0;
  for (const owner of owners) {
    const opened = uuidv7();
    await store.append(`account-${owner}`, [
      { id: opened, type: 'AccountOpened', data: { owner }, metadata: { correlationId: opened } },
      { type: 'MoneyDeposited', data: { amount: 1000 }, metadata: { correlationId: opened, causationId: opened } },
    ]);
    events += 2;
  }
  // Each transfer: a request, then a withdrawal and a deposit it caused, all of one correlation.
  for (let i = 1; i <= 12; i++) {
    const from = owners[i % owners.length]!;
    const to = owners[(i * 3 + 1) % owners.length]!;
    if (from === to) continue;
    const request = uuidv7();
    const amount = 25 * i;
    const transfer = `transfer-${String(i).padStart(3, '0')}`;
    await store.append(transfer, [{ id: request, type: 'TransferRequested', data: { from, to, amount }, metadata: { correlationId: request } }]);
    const withdrawn = uuidv7();
    await store.append(`account-${from}`, [{ id: withdrawn, type: 'MoneyWithdrawn', data: { amount, transfer }, metadata: { correlationId: request, causationId: request } }]);
    await store.append(`account-${to}`, [{ type: 'MoneyDeposited', data: { amount, transfer }, metadata: { correlationId: request, causationId: withdrawn } }]);
    await store.append(transfer, [{ type: 'TransferCompleted', data: {}, metadata: { correlationId: request, causationId: withdrawn } }]);
    events += 4;
  }
  let streams = 0;
  for await (const _ of store.listStreams()) streams++;
  return { events, streams, deciders: [{ name: 'account', prefix: 'account-', decider: account }], projections: [balances] };
}
