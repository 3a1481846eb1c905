import { describe, expect, it } from 'vitest';
import { defineDecider, type RecordedEvent } from '../../src/index.js';
import { SpecificationError, given } from '../../src/testing/index.js';

type Event = RecordedEvent<'Deposited', { cents: number; note?: string }> | RecordedEvent<'Withdrawn', { cents: number }>;
type Command = { type: 'withdraw'; cents: number } | { type: 'deposit'; cents: number };
class InsufficientFunds extends Error {}

const account = defineDecider<number, Command, Event>({
  initialState: () => 0,
  evolve: (balance, e) => (e.type === 'Deposited' ? balance + e.data.cents : balance - e.data.cents),
  decide: (command, balance) => {
    if (command.type === 'deposit') return { type: 'Deposited', data: { cents: command.cents } };
    if (command.cents > balance) throw new InsufficientFunds(`balance ${balance} is below ${command.cents}`);
    return [{ type: 'Withdrawn', data: { cents: command.cents } }];
  },
});
const deposited = (cents: number) => ({ type: 'Deposited' as const, data: { cents } });

describe('given / when / then', () => {
  it('passes when the decided events match (key order aside) or the error is the one expected', () => {
    given(account, [deposited(500)]).when({ type: 'withdraw', cents: 200 }).then([{ type: 'Withdrawn', data: { cents: 200 } }]);
    given(account).when({ type: 'deposit', cents: 5 }).then({ type: 'Deposited', data: { cents: 5 } });
    given(account, [deposited(100)]).when({ type: 'withdraw', cents: 200 }).thenThrows(InsufficientFunds, /below 200/);
  });

  it('fails with a diff of expected and actual events', () => {
    const failure = (() => {
      try {
        given(account, [deposited(500)]).when({ type: 'withdraw', cents: 200 }).then([{ type: 'Withdrawn', data: { cents: 300 } }]);
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(failure).toBeInstanceOf(SpecificationError);
    expect((failure as Error).message).toContain('-       "cents": 300');
    expect((failure as Error).message).toContain('+       "cents": 200');
    expect((failure as Error).message).toContain('   "type": "Withdrawn"');
  });

  it('fails when the command is refused instead, or not refused, or refused otherwise', () => {
    expect(() => given(account).when({ type: 'withdraw', cents: 1 }).then([])).toThrow(/decide threw: Error: balance 0 is below 1/);
    expect(() => given(account, [deposited(5)]).when({ type: 'withdraw', cents: 1 }).thenThrows(InsufficientFunds)).toThrow(
      /expected InsufficientFunds to be thrown, but decide returned/,
    );
    expect(() => given(account).when({ type: 'withdraw', cents: 1 }).thenThrows(TypeError)).toThrow(/but got Error: balance/);
    expect(() => given(account).when({ type: 'withdraw', cents: 1 }).thenThrows(InsufficientFunds, 'overdrawn')).toThrow(/not matching overdrawn/);
  });
});

describe('given / when / then refuses what no store would hold', () => {
  const stamped = defineDecider<number, Date, RecordedEvent<'Stamped', { at: unknown }>>({
    initialState: () => 0,
    evolve: (n) => n + 1,
    decide: (at) => ({ type: 'Stamped', data: { at } }),
  });

  it('fails on data that is not JSON, expected or decided, instead of comparing it as JSON text', () => {
    expect(() => given(stamped).when(new Date(0)).then({ type: 'Stamped', data: { at: new Date(1e12) } })).toThrow(/not JSON/);
    expect(() => given(stamped).when(new Date(0)).then({ type: 'Stamped', data: { at: '1970-01-01T00:00:00.000Z' } })).toThrow(
      /decide returned events are not JSON/,
    );
  });

  it('an error while folding the given events fails the specification, even when thenThrows expects that class', () => {
    class Refused extends Error {}
    const broken = defineDecider<number, number, RecordedEvent<'X', null>>({
      initialState: () => 0,
      evolve: () => {
        throw new Refused('in evolve');
      },
      decide: () => [],
    });
    expect(() => given(broken, [{ type: 'X', data: null }]).when(1).thenThrows(Refused)).toThrow(/evolve threw while folding the given events/);
  });
});
