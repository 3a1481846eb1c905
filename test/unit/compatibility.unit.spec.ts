import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { checkCompatibility, defineEvents, lockEvents } from '../../src/index.js';

const placed = z.object({ orderId: z.string(), total: z.number(), lines: z.array(z.object({ sku: z.string(), qty: z.number() })), note: z.string().optional() });
const before = defineEvents({ OrderPlaced: { schema: placed }, OrderShipped: { schema: z.object({ orderId: z.string() }) } });
const lock = JSON.parse(JSON.stringify(lockEvents(before))) as ReturnType<typeof lockEvents>; // as committed, then read back

const report = (events: Parameters<typeof checkCompatibility>[0]) => {
  const r = checkCompatibility(events, lock);
  return { breaking: r.breaking.map((i) => `${i.type} ${i.path}: ${i.message}`), compatible: r.compatible.map((i) => `${i.type} ${i.path}: ${i.message}`) };
};

describe('checkCompatibility', () => {
  it('the lock records each type version and JSON Schema', () => {
    expect(lock.types.OrderPlaced).toMatchObject({ version: 1, schema: { type: 'object', required: ['orderId', 'total', 'lines'] } });
  });

  it('the same definitions: nothing to report', () => {
    expect(report(before)).toEqual({ breaking: [], compatible: [] });
  });

  it('reports a field removed, retyped or newly required at the same version, also inside arrays', () => {
    const changed = defineEvents({
      OrderPlaced: { schema: z.object({ orderId: z.number(), lines: z.array(z.object({ sku: z.string() })), note: z.string(), coupon: z.string() }) },
      OrderShipped: { schema: z.object({ orderId: z.string() }) },
    });
    expect(report(changed).breaking.sort()).toEqual(
      [
        'OrderPlaced orderId: retyped from "string" to "number" without a version bump',
        'OrderPlaced total: field removed without a version bump',
        'OrderPlaced lines[].qty: field removed without a version bump',
        'OrderPlaced note: made required without a version bump: old events lack it',
        'OrderPlaced coupon: new required field without a version bump: old events lack it',
      ].sort(),
    );
  });

  it('reports a type that disappeared (renamed), and accepts a new optional field, a new type and a bumped version', () => {
    const renamed = defineEvents({
      OrderPlaced: {
        schema: placed.extend({ channel: z.string().optional() }),
      },
      OrderDispatched: { schema: z.object({ orderId: z.string() }) },
    });
    expect(report(renamed)).toEqual({
      breaking: ['OrderShipped : the type is gone (renamed or removed): its stored events would pass unvalidated and never upcast'],
      compatible: ['OrderPlaced channel: new optional field', 'OrderDispatched : a new type'],
    });
    const bumped = defineEvents({
      OrderPlaced: { version: 2, schema: z.object({ id: z.string() }), upcast: { 1: (old: { orderId: string }) => ({ id: old.orderId }) } },
      OrderShipped: { schema: z.object({ orderId: z.string() }) },
    });
    expect(report(bumped)).toEqual({ breaking: [], compatible: ['OrderPlaced : version 1 → 2, with upcasters'] });
  });

  it('type widening is compatible; narrowing, enums, literals, nullable objects, tuples and records are checked', () => {
    const lockOf = (schema: z.ZodType) => JSON.parse(JSON.stringify(lockEvents(defineEvents({ E: { schema } })))) as ReturnType<typeof lockEvents>;
    const check = (from: z.ZodType, to: z.ZodType) => {
      const r = checkCompatibility(defineEvents({ E: { schema: to } }), lockOf(from));
      return { breaking: r.breaking.map((i) => `${i.path}: ${i.message}`), compatible: r.compatible.map((i) => `${i.path}: ${i.message}`) };
    };
    const obj = (shape: z.ZodRawShape) => z.object(shape);
    expect(check(obj({ n: z.int() }), obj({ n: z.number() })).breaking).toEqual([]);
    expect(check(obj({ s: z.string() }), obj({ s: z.string().nullable() })).breaking).toEqual([]);
    expect(check(obj({ s: z.string() }), obj({ s: z.union([z.string(), z.number()]) })).breaking).toEqual([]);
    expect(check(obj({ n: z.number() }), obj({ n: z.int() })).breaking).toEqual(['n: retyped from "number" to "integer" without a version bump']);
    expect(check(obj({ k: z.enum(['a', 'b', 'c']) }), obj({ k: z.enum(['a', 'b']) })).breaking).toEqual(['k: no longer accepts ["c"]']);
    expect(check(obj({ k: z.enum(['a', 'b']) }), obj({ k: z.enum(['a', 'b', 'c']) })).breaking).toEqual([]);
    expect(check(obj({ v: z.literal('v1') }), obj({ v: z.literal('v2') })).breaking).toEqual(['v: no longer accepts ["v1"]']);
    expect(check(obj({ o: obj({ a: z.string(), b: z.string() }).nullable() }), obj({ o: obj({ a: z.string() }).nullable() })).breaking).toEqual([
      'o.b: field removed without a version bump',
    ]);
    expect(check(obj({ t: z.tuple([z.string()]) }), obj({ t: z.tuple([z.number()]) })).breaking).toEqual([
      't[0]: retyped from "string" to "number" without a version bump',
    ]);
    expect(check(obj({ r: z.record(z.string(), z.string()) }), obj({ r: z.record(z.string(), z.number()) })).breaking).toEqual([
      'r{}: retyped from "string" to "number" without a version bump',
    ]);
    expect(check(obj({ s: z.string().nullable() }), obj({ s: z.string() })).breaking).toEqual([
      's: retyped from ["string","null"] to "string" without a version bump',
    ]);
  });

  it('field and type names like constructor are names like any other', () => {
    const lockOf = JSON.parse(JSON.stringify(lockEvents(defineEvents({ constructor: { schema: z.object({ valueOf: z.string() }) } })))) as ReturnType<typeof lockEvents>;
    const r = checkCompatibility(defineEvents({ constructor: { schema: z.object({}) } }), lockOf);
    expect(r.breaking.map((i) => `${i.type} ${i.path}`)).toEqual(['constructor valueOf']);
  });

  it('without a JSON Schema (valibot here), versions and names are still checked', () => {
    const other = defineEvents({ OrderPlaced: { schema: v.object({ x: v.number() }) } });
    expect(lockEvents(other).types.OrderPlaced).toEqual({ version: 1 });
    expect(report(other).breaking).toEqual(['OrderShipped : the type is gone (renamed or removed): its stored events would pass unvalidated and never upcast']);
  });
});
