import { describe, expect, it } from 'vitest';
import type { StreamHead, WriteRequest } from '../../src/store/backend.js';
import { planBatch, shiftPositions } from '../../src/store/plan.js';

const head = (stream: string, version: number, updatedAt: number): StreamHead => ({
  stream,
  version,
  position: BigInt(version),
  deleted: false,
  createdAt: 0,
  updatedAt,
});
const append = (stream: string): WriteRequest => ({
  kind: 'append',
  stream,
  expectedVersion: 'any',
  events: [{ id: '01900000-0000-7000-8000-000000000001', type: 'T', data: '1', metadata: null, correlationId: null, causationId: null, schemaVersion: 1, idGiven: false }],
});

describe('planBatch', () => {
  it("never times an append or a delete before the stream's last event (a clock behind another machine's)", () => {
    const future = Date.now() + 60_000;
    const heads = new Map([['s', head('s', 3, future)], ['t', head('t', 1, future)]]);
    const plan = planBatch([append('s'), { kind: 'delete', stream: 't', expectedVersion: 1 }], heads, new Map(), 10n, Date.now());
    expect(plan.rows[0]!.recordedAt).toBe(future);
    expect(plan.heads.find((h) => h.stream === 't')).toMatchObject({ deleted: true, updatedAt: future });
  });
});

describe('planBatch with events moved from another store', () => {
  it('keeps their times, except that none goes before the stream’s last event or the one before it', () => {
    const event = (n: number, recordedAt: number) => ({ id: `01900000-0000-7000-8000-00000000000${n}`, type: 'T', data: '1', metadata: null, correlationId: null, causationId: null, schemaVersion: 2, idGiven: true, recordedAt });
    const heads = new Map([['s', head('s', 1, 1000)]]);
    const request: WriteRequest = { kind: 'append', stream: 's', expectedVersion: 1, events: [event(1, 500), event(2, 2000), event(3, 1500), event(4, 3000)] };
    const plan = planBatch([request], heads, new Map(), 2n, 99_999);
    expect(plan.rows.map((r) => r.recordedAt)).toEqual([1000, 2000, 2000, 3000]);
    expect(plan.rows.map((r) => r.schemaVersion)).toEqual([2, 2, 2, 2]);
    expect(plan.heads[0]).toMatchObject({ version: 5, updatedAt: 3000 });
  });
});

describe('shiftPositions', () => {
  it('moves the positions the plan drew, and only those', () => {
    const heads = new Map([['s', head('s', 2, 0)]]);
    const plan = planBatch(
      [append('s'), { kind: 'append', stream: 's', expectedVersion: 'any', events: [] }, { kind: 'delete', stream: 'old', expectedVersion: 'any' }],
      new Map([...heads, ['old', { ...head('old', 4, 0), position: 7n }]]),
      new Map(),
      100n,
      0,
    );
    const shifted = shiftPositions(plan, 100n, 50n);
    expect(shifted.rows.map((r) => r.position)).toEqual([150n]);
    expect(shifted.outcomes).toEqual([
      { ok: true, result: { version: 3, position: 150n } },
      { ok: true, result: { version: 3, position: 150n } },
      { ok: true, result: { version: 4, position: 7n } }, // an old stream's last event stays where it is
    ]);
    expect(shiftPositions(plan, 100n, 0n)).toBe(plan);
  });
});
