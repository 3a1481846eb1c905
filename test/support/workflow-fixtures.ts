import { defineDecider, defineWorkflow, handle, isConcurrencyError, type EventStore, type RecordedEvent, type StepOptions } from '../../src/index.js';

/** Conflicts on a busy account are tried again; a refusal is final. */
const conflicts: StepOptions = { retries: 10, backoff: { initial: 5, max: 100 }, retryIf: isConcurrencyError };

/** Accounts for the transfer saga: every event names the transfer it belongs to (`ref`). */
export type AccountEvent = RecordedEvent<'Opened', { balance: number }> | RecordedEvent<'Withdrawn' | 'Deposited', { amount: number; ref: string }>;
type AccountCommand = { type: 'open'; balance: number } | { type: 'withdraw' | 'deposit'; amount: number; ref: string };

export const account = defineDecider<number, AccountCommand, AccountEvent>({
  initialState: () => 0,
  evolve: (balance, e) => (e.type === 'Opened' ? e.data.balance : e.type === 'Deposited' ? balance + e.data.amount : balance - e.data.amount),
  decide: (c, balance) => {
    if (c.type === 'open') return { type: 'Opened', data: { balance: c.balance } };
    if (c.type === 'withdraw' && balance < c.amount) throw new Error('insufficient funds');
    return { type: c.type === 'withdraw' ? 'Withdrawn' : 'Deposited', data: { amount: c.amount, ref: c.ref } };
  },
});

export interface TransferInput {
  readonly from: string;
  readonly to: string;
  readonly amount: number;
  /** The receiving bank refuses this one (the same answer every time it is asked). */
  readonly refused: boolean;
}

export const ACCOUNTS = 6;
export const OPENING_BALANCE = 1_000_000;

/**
 * The transfer saga: debit, then credit (refused for a fifth of the transfers); a failed credit is
 * compensated by a refund. `hazard` runs right after each effect, before the step is recorded:
 * the crash test kills the process there.
 */
export function transferSaga(store: EventStore, hazard: () => void = () => {}) {
  return defineWorkflow<TransferInput, string>({
    name: 'transfer',
    async run(ctx, input) {
      await ctx.step('debit', async () => {
        await handle(store, `account-${input.from}`, account, { type: 'withdraw', amount: input.amount, ref: ctx.id });
        hazard();
      }, conflicts);
      ctx.compensate('refund', async () => {
        await handle(store, `account-${input.from}`, account, { type: 'deposit', amount: input.amount, ref: `refund:${ctx.id}` });
        hazard();
      }, conflicts);
      await ctx.step('credit', async () => {
        if (input.refused) throw new Error('the receiving bank refused the transfer');
        await handle(store, `account-${input.to}`, account, { type: 'deposit', amount: input.amount, ref: ctx.id });
        hazard();
      }, conflicts);
      return 'transferred';
    },
  });
}

/** The n-th transfer of a run: the same for every process. */
export function transfer(n: number): TransferInput {
  const from = n % ACCOUNTS;
  return { from: String(from), to: String((from + 1 + (n % (ACCOUNTS - 1))) % ACCOUNTS), amount: 1 + (n % 17), refused: n % 5 === 2 };
}
