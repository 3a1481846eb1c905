import { expect, it } from 'vitest';
import { covers } from '../../src/nats/jetstream.js';

it('a stream subject covers the subjects it matches, token by token, with * and >', () => {
  expect(covers('orders.events', 'orders.events')).toBe(true);
  expect(covers('orders.*', 'orders.events')).toBe(true);
  expect(covers('orders.*', 'orders.*')).toBe(true);
  expect(covers('orders.>', 'orders.eu.events')).toBe(true);
  expect(covers('orders.>', 'orders.*')).toBe(true);
  expect(covers('>', 'anything.at.all')).toBe(true);
  expect(covers('orders.events', 'orders.other')).toBe(false);
  expect(covers('orders.*', 'orders.eu.events')).toBe(false);
  expect(covers('orders.*', 'orders')).toBe(false);
  expect(covers('orders.>', 'orders')).toBe(false);
  expect(covers('orders.events', 'orders.*')).toBe(false);
  expect(covers('orders.*', 'orders.>')).toBe(false);
});
