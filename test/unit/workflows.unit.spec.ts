import { describe, expect, it } from 'vitest';
import { ValidationError, type RecordedEvent } from '../../src/index.js';
import { Batcher } from '../../src/workflows/batcher.js';
import { toMs } from '../../src/workflows/duration.js';
import { H, readHistory } from '../../src/workflows/history.js';

describe('durations', () => {
  it.each([
    [0, 0],
    [250, 250],
    ['500ms', 500],
    ['30s', 30_000],
    ['1.5s', 1500],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['2d', 172_800_000],
  ])('%s is %d ms', (text, ms) => {
    expect(toMs(text, ['d'])).toBe(ms);
  });

  it.each([['soon'], [''], ['5'], ['5 m'], ['1h x'], [-1], [Number.NaN], [Infinity], [null], [{}], ['9'.repeat(50) + 'd'], [1e15]])('refuses %j', (value) => {
    expect(() => toMs(value, ['options', 'timeout'])).toThrow(ValidationError);
  });
});

describe('reading a history', () => {
  const event = (type: string, data: object, position = 1n): RecordedEvent => ({
    id: '00000000-0000-4000-8000-000000000000',
    stream: 'workflow-x-1',
    version: 1,
    position,
    type,
    data,
    metadata: {},
    schemaVersion: 1,
    recordedAt: new Date(0),
  });

  it('gathers what each operation did, by its number, and how the instance ended', () => {
    const history = readHistory([
      event(H.started, { workflow: 'x', version: 2, input: { a: 1 }, after: '7' }),
      event(H.stepFailed, { seq: 0, step: 's', attempt: 1, error: { name: 'Error', message: 'e' }, final: false }),
      event(H.stepCompleted, { seq: 0, step: 's', result: 5 }),
      event(H.timerScheduled, { seq: 1, until: 100 }),
      event(H.timerFired, { seq: 1 }),
      event(H.eventAwaited, { seq: 2, type: 'Paid', after: '7', timeoutAt: null }),
      event(H.eventReceived, { seq: 2, eventId: 'e1', position: '9' }),
      event(H.valueRecorded, { seq: 3, kind: 'random', value: 0.5 }),
      event(H.stepFailed, { seq: 4, step: 't', attempt: 2, error: { name: 'Error', message: 'no' }, final: true }),
      event(H.compensationFailed, { index: 0, name: 'undo', attempt: 1, error: { name: 'Error', message: 'u' }, final: false }),
      event(H.compensationCompleted, { index: 0, name: 'undo' }),
      event(H.compensated, { error: { name: 'StepFailedError', message: 'no' } }),
    ]);
    expect(history.version).toBe(2);
    expect(history.input).toEqual({ a: 1 });
    expect(history.after).toBe(7n);
    expect(history.ops.get(0)).toEqual({ kind: 'step', name: 's', attempts: 2, done: { result: 5 } });
    expect(history.ops.get(1)).toEqual({ kind: 'sleep', until: 100, fired: true });
    expect(history.ops.get(2)).toEqual({ kind: 'wait', type: 'Paid', after: 7n, timeoutAt: null, timedOut: false, received: { eventId: 'e1', position: 9n } });
    expect(history.ops.get(3)).toEqual({ kind: 'random', value: 0.5 });
    expect(history.ops.get(4)).toEqual({ kind: 'step', name: 't', attempts: 2, failed: { name: 'Error', message: 'no' } });
    expect(history.compensations.get(0)).toEqual({ name: 'undo', attempts: 2, done: true });
    expect(history.ending).toEqual({ status: 'compensated', error: { name: 'StepFailedError', message: 'no' } });
  });

  it('an empty history has started nothing', () => {
    const history = readHistory([]);
    expect(history).toMatchObject({ version: 0, after: undefined, ending: undefined, cancelRequested: false });
    expect(history.ops.size).toBe(0);
  });
});

describe('the row batcher', () => {
  it('gathers calls made while a batch runs into the next batch, each with its own answer', async () => {
    const batches: number[][] = [];
    const batcher = new Batcher<number, number>(async (items) => {
      batches.push([...items]);
      await new Promise((resolve) => setTimeout(resolve, 5));
      return items.map((i) => i * 10);
    });
    const first = batcher.submit(1);
    const second = batcher.submit(2);
    await new Promise((resolve) => setImmediate(resolve));
    const third = batcher.submit(3);
    expect(await Promise.all([first, second, third])).toEqual([10, 20, 30]);
    expect(batches).toEqual([[1, 2], [3]]);
  });

  it('a failed batch fails each of its calls, and the next batch still runs', async () => {
    let fail = true;
    const batcher = new Batcher<number, number>((items) => {
      if (fail) {
        fail = false;
        return Promise.reject(new Error('down'));
      }
      return Promise.resolve(items);
    });
    await expect(Promise.all([batcher.submit(1), batcher.submit(2)])).rejects.toThrow('down');
    expect(await batcher.submit(3)).toBe(3);
  });
});
