import { afterEach, expect } from 'vitest';
import {
  ConfigurationError,
  NonDeterminismError,
  StepFailedError,
  ValidationError,
  WorkflowFailedError,
  defineDecider,
  defineWorkflow,
  handle,
  startWorkflows,
  withContext,
  type EventStore,
  type RecordedEvent,
  type WorkflowDefinition,
  type WorkflowEngine,
  type WorkflowHandle,
  type WorkflowEngineOptions,
} from '../../src/index.js';
import { collect, conformance } from './harness.js';
import { internalsOf } from '../../src/projections/internals.js';

const engines: WorkflowEngine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close();
});

const FAST: WorkflowEngineOptions = { pollInterval: 20, leaseTtl: 2000 };

async function engineOn(store: EventStore, workflows: readonly WorkflowDefinition<unknown, unknown, RecordedEvent>[], options: WorkflowEngineOptions = FAST) {
  const engine = await startWorkflows(store, workflows, options);
  engines.push(engine);
  return engine;
}

const types = (events: readonly RecordedEvent[]) => events.map((e) => e.type);

/** A counter per key, to see how often a step's function really ran. */
function counter() {
  const counts = new Map<string, number>();
  return {
    hit: (key: string): void => void counts.set(key, (counts.get(key) ?? 0) + 1),
    of: (key: string) => counts.get(key) ?? 0,
  };
}

type AccountEvent = RecordedEvent<'Deposited', { amount: number }> | RecordedEvent<'Withdrawn', { amount: number }>;
const account = defineDecider<number, { type: 'deposit' | 'withdraw'; amount: number }, AccountEvent>({
  initialState: () => 0,
  evolve: (balance, e) => (e.type === 'Deposited' ? balance + e.data.amount : balance - e.data.amount),
  decide: (c, balance) => {
    if (c.type === 'withdraw' && balance < c.amount) throw new Error('insufficient funds');
    return { type: c.type === 'deposit' ? 'Deposited' : 'Withdrawn', data: { amount: c.amount } };
  },
});

conformance('workflows', ({ open, test }) => {
  test('runs steps in order, records each in the history and returns the result', async () => {
    const store = await open();
    const wf = defineWorkflow({
      name: 'add',
      async run(ctx, input: { a: number; b: number }) {
        const sum = await ctx.step('sum', () => input.a + input.b);
        const doubled = await ctx.step('double', () => sum * 2);
        return { sum, doubled, id: ctx.id };
      },
    });
    const engine = await engineOn(store, [wf]);
    const run = await engine.start(wf, { a: 2, b: 3 }, { id: 'x1' });
    expect(await run.result()).toEqual({ sum: 5, doubled: 10, id: 'x1' });
    expect((await run.status()).status).toBe('completed');
    const history = await collect(store.readStream('workflow-add-x1'));
    expect(types(history)).toEqual(['WorkflowStarted', 'WorkflowStepCompleted', 'WorkflowStepCompleted', 'WorkflowCompleted']);
    expect(history[0]!.data).toEqual({ workflow: 'add', version: 1, input: { a: 2, b: 3 }, after: '0' });
    expect(history[1]!.data).toEqual({ seq: 0, step: 'sum', result: 5 });
    expect(await engine.history('x1')).toEqual(history);
  });

  test('the same id is the same instance: started once, its handle returned', async () => {
    const store = await open();
    const runs = counter();
    const wf = defineWorkflow({
      name: 'once',
      async run(ctx, input: number) {
        return ctx.step('count', () => {
          runs.hit('count');
          return input;
        });
      },
    });
    const engine = await engineOn(store, [wf]);
    const [a, b] = await Promise.all([engine.start(wf, 1, { id: 'same' }), engine.start(wf, 2, { id: 'same' })]);
    expect(await a.result()).toBe(await b.result());
    const again = await engine.start(wf, 3, { id: 'same' });
    expect(await again.result()).toBe(await a.result());
    expect(runs.of('count')).toBe(1);
    expect(await engine.list()).toHaveLength(1);
  });

  test('an id taken by another workflow, bad ids, inputs and unknown workflows are refused', async () => {
    const store = await open();
    const a = defineWorkflow({ name: 'a', run: async (_ctx, input: unknown) => Promise.resolve(input) });
    const b = defineWorkflow({ name: 'b', run: async () => Promise.resolve(1) });
    const other = defineWorkflow({ name: 'other', run: async () => Promise.resolve(1) });
    const engine = await engineOn(store, [a, b]);
    await (await engine.start(a, 1, { id: 'taken' })).result();
    await expect(engine.start(b, undefined, { id: 'taken' })).rejects.toThrow(/already the id of a "a" workflow/);
    await expect(engine.start(a, 1, { id: '' })).rejects.toBeInstanceOf(ValidationError);
    await expect(engine.start(a, 1, { id: 'x'.repeat(201) })).rejects.toBeInstanceOf(ValidationError);
    await expect(engine.start(a, 1, { id: 'bad\u0000id' })).rejects.toBeInstanceOf(ValidationError);
    await expect(engine.start(a, { when: new Date() }, { id: 'date' })).rejects.toBeInstanceOf(ValidationError);
    await expect(engine.start(a, { n: Number.NaN })).rejects.toBeInstanceOf(ValidationError);
    await expect(engine.start(other, undefined)).rejects.toBeInstanceOf(ConfigurationError);
    await expect(engine.list({ limit: 0 })).rejects.toBeInstanceOf(ValidationError);
    await expect(engine.list({ status: 'done' as never })).rejects.toBeInstanceOf(ValidationError);
    expect(await engine.get('nope')).toBeUndefined();
    expect(await engine.list()).toHaveLength(1);
    await expect(startWorkflows(store, [])).rejects.toBeInstanceOf(ConfigurationError);
    await expect(startWorkflows(store, [a, a])).rejects.toBeInstanceOf(ConfigurationError);
    await expect(startWorkflows(store, [a], { concurrency: 0 })).rejects.toBeInstanceOf(ConfigurationError);
    expect(() => defineWorkflow({ name: 'bad name', run: async () => Promise.resolve() })).toThrow(ConfigurationError);
    // A '-' could make two instances' history streams one: 'a-b' with id 'c' and 'a' with id 'b-c'.
    expect(() => defineWorkflow({ name: 'a-b', run: async () => Promise.resolve() })).toThrow(ConfigurationError);
    expect(() => defineWorkflow({ name: 'v', version: 0, run: async () => Promise.resolve() })).toThrow(ConfigurationError);
  });

  test('a step is retried with backoff, each failed try recorded; its result is kept as JSON, and one that cannot be fails the step', async () => {
    const store = await open();
    const runs = counter();
    const wf = defineWorkflow({
      name: 'flaky',
      async run(ctx) {
        const value = await ctx.step(
          'flaky',
          ({ attempt }) => {
            runs.hit('flaky');
            if (attempt < 3) throw new Error(`try ${attempt}`);
            return attempt;
          },
          { retries: 3, backoff: { initial: 5, factor: 2 } },
        );
        const kept = await ctx.step('kept as JSON', () => ({ at: new Date(0), big: 10n, skipped: undefined }));
        const circular: Record<string, unknown> = {};
        circular.self = circular;
        const error = await ctx.step('circular', () => circular).catch((e: unknown) => e);
        return { value, kept, error: (error as StepFailedError).error.message };
      },
    });
    const engine = await engineOn(store, [wf]);
    const result = await (await engine.start(wf, undefined, { id: 'f' })).result();
    expect(result).toEqual({ value: 3, kept: { at: '1970-01-01T00:00:00.000Z', big: '10' }, error: expect.stringMatching(/cannot be kept as JSON/) as unknown });
    expect(runs.of('flaky')).toBe(3);
    const failed = (await engine.history('f')).filter((e) => e.type === 'WorkflowStepFailed').map((e) => e.data);
    expect(failed).toEqual([
      { seq: 0, step: 'flaky', attempt: 1, error: { name: 'Error', message: 'try 1' }, final: false },
      { seq: 0, step: 'flaky', attempt: 2, error: { name: 'Error', message: 'try 2' }, final: false },
      expect.objectContaining({ seq: 2, step: 'circular', attempt: 1, final: true }),
    ]);
  });

  test('a step that fails for good runs the compensations registered so far, last first, and ends compensated', async () => {
    const store = await open();
    const order: string[] = [];
    const wf = defineWorkflow({
      name: 'saga',
      async run(ctx) {
        await ctx.step('reserve', () => order.push('reserve'));
        ctx.compensate('release', () => void order.push('release'));
        await ctx.step('charge', () => order.push('charge'));
        ctx.compensate('refund', () => void order.push('refund'));
        await ctx.step('ship', () => {
          throw new Error('no courier');
        });
        ctx.compensate('never', () => void order.push('never'));
      },
    });
    const engine = await engineOn(store, [wf]);
    const run = await engine.start(wf, undefined, { id: 's' });
    const error = await run.result().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(error).toMatchObject({ status: 'compensated', error: { code: 'STEP_FAILED' } });
    expect(order).toEqual(['reserve', 'charge', 'refund', 'release']);
    expect(types(await engine.history('s')).slice(-3)).toEqual(['WorkflowCompensationCompleted', 'WorkflowCompensationCompleted', 'WorkflowCompensated']);
    expect((await run.status()).status).toBe('compensated');
  });

  test('a compensation that fails for good ends the instance failed, keeping both errors', async () => {
    const store = await open();
    const wf = defineWorkflow({
      name: 'badUndo',
      async run(ctx) {
        ctx.compensate('undo', () => {
          throw new Error('cannot undo');
        }, { retries: 1, backoff: 1 });
        await ctx.step('do', () => {
          throw new Error('cannot do');
        });
      },
    });
    const engine = await engineOn(store, [wf]);
    const run = await engine.start(wf, undefined, { id: 'b' });
    await expect(run.result()).rejects.toMatchObject({ status: 'failed' });
    const info = await run.status();
    expect(info.status).toBe('failed');
    expect(info.error).toMatchObject({ code: 'STEP_FAILED', compensationError: { message: 'cannot undo' } });
    expect(types(await engine.history('b')).filter((t) => t === 'WorkflowCompensationFailed')).toHaveLength(2);
  });

  test('a workflow without compensations that throws ends failed; it may catch a failed step and go on', async () => {
    const store = await open();
    const wf = defineWorkflow({
      name: 'catches',
      async run(ctx, input: { rethrow: boolean }) {
        try {
          await ctx.step('fails', () => {
            throw Object.assign(new Error('nope'), { code: 'E_NOPE' });
          });
        } catch (error) {
          if (input.rethrow) throw error;
          return { caught: (error as StepFailedError).error };
        }
        return { caught: null };
      },
    });
    const engine = await engineOn(store, [wf]);
    expect(await (await engine.start(wf, { rethrow: false })).result()).toEqual({ caught: { name: 'Error', message: 'nope', code: 'E_NOPE' } });
    const failing = await engine.start(wf, { rethrow: true });
    await expect(failing.result()).rejects.toMatchObject({ code: 'WORKFLOW_FAILED', status: 'failed' });
  });

  test('countByStatus counts the instances of each status, the ones with none left out (the factline.workflows gauge)', async () => {
    const store = await open();
    const workflows = internalsOf(store).backend.workflows;
    expect(await workflows.countByStatus()).toEqual([]);
    const wf = defineWorkflow({
      name: 'counted',
      async run(ctx, input: { outcome: 'ok' | 'fail' | 'wait' }) {
        if (input.outcome === 'fail') await ctx.step('fails', () => Promise.reject(new Error('no')));
        if (input.outcome === 'wait') await ctx.waitForEvent({ type: 'NeverComes' });
        return input.outcome;
      },
    });
    const engine = await engineOn(store, [wf]);
    for (const outcome of ['ok', 'ok', 'fail'] as const) await (await engine.start(wf, { outcome })).result().catch(() => undefined);
    const waiting = await engine.start(wf, { outcome: 'wait' });
    await expect.poll(async () => (await waiting.status()).status).toBe('waiting');
    const counts = await workflows.countByStatus();
    expect([...counts].sort((a, b) => a.status.localeCompare(b.status))).toEqual([
      { status: 'completed', count: 2 },
      { status: 'failed', count: 1 },
      { status: 'waiting', count: 1 },
    ]);
  });

  test('a durable timer fires after its time, also on a new engine after the first closed', async () => {
    const store = await open();
    const wf = defineWorkflow({
      name: 'nap',
      async run(ctx) {
        const before = ctx.now().getTime();
        await ctx.sleep('300ms');
        return { before, after: ctx.now().getTime() };
      },
    });
    const first = await engineOn(store, [wf]);
    const run = await first.start(wf, undefined, { id: 'n' });
    await until(async () => (await run.status()).status === 'sleeping');
    const info = await run.status();
    expect(info.wakeAt).toBeInstanceOf(Date);
    await first.close();
    const second = await engineOn(store, [wf]);
    const result = (await (await second.get('n'))!.result()) as { before: number; after: number };
    expect(result.after - result.before).toBeGreaterThanOrEqual(300);
    expect(types(await second.history('n'))).toEqual([
      'WorkflowStarted',
      'WorkflowValueRecorded',
      'WorkflowTimerScheduled',
      'WorkflowTimerFired',
      'WorkflowValueRecorded',
      'WorkflowCompleted',
    ]);
  });

  test('completed steps are not run again and recorded values are the same when an instance is resumed', async () => {
    const store = await open();
    const runs = counter();
    const seen: number[][] = [];
    const wf = defineWorkflow({
      name: 'resume',
      async run(ctx) {
        const random = ctx.random();
        const now = ctx.now().getTime();
        await ctx.step('once', () => runs.hit('once'));
        seen.push([random, now]);
        await ctx.sleep(100);
        await ctx.step('after', () => runs.hit('after'));
        return [random, now];
      },
    });
    const engine = await engineOn(store, [wf]);
    const result = await (await engine.start(wf, undefined)).result();
    expect(runs.of('once')).toBe(1);
    expect(runs.of('after')).toBe(1);
    expect(seen).toHaveLength(2); // the first run, then the replay after the timer
    expect(seen[0]).toEqual(seen[1]);
    expect(result).toEqual(seen[0]);
  });

  test('waitForEvent gets the first matching event after the start, each wait its own, and times out with undefined', async () => {
    const store = await open();
    const wf = defineWorkflow({
      name: 'waiter',
      async run(ctx, input: { order: string }) {
        const match = (e: RecordedEvent) => (e.data as { order: string }).order === input.order;
        const first = await ctx.waitForEvent({ type: 'Paid', match }, { timeout: '10s' });
        const second = await ctx.waitForEvent({ type: 'Paid', match }, { timeout: '10s' });
        const none = await ctx.waitForEvent({ type: 'Refunded', match }, { timeout: 200 });
        return [first?.data, second?.data, none ?? 'timed out'];
      },
    });
    await store.append('payments', [{ type: 'Paid', data: { order: 'o1', n: 0 } }]); // before the start: not seen
    const engine = await engineOn(store, [wf]);
    const run = await engine.start(wf, { order: 'o1' }, { id: 'w' });
    await store.append('payments', [{ type: 'Paid', data: { order: 'o2', n: 1 } }, { type: 'Paid', data: { order: 'o1', n: 2 } }]);
    await until(async () => (await run.status()).status === 'waiting');
    await store.append('payments', [{ type: 'Paid', data: { order: 'o1', n: 3 } }]);
    const started = Date.now();
    expect(await run.result()).toEqual([{ order: 'o1', n: 2 }, { order: 'o1', n: 3 }, 'timed out']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    const history = types(await engine.history('w'));
    expect(history.filter((t) => t === 'WorkflowEventReceived')).toHaveLength(2);
    expect(history).toContain('WorkflowWaitTimedOut');
  });

  test('a wait sees events committed after start() was called, before the instance ran', async () => {
    const store = await open();
    const wf = defineWorkflow({
      name: 'quickReply',
      async run(ctx) {
        await ctx.step('slow start', () => new Promise((resolve) => setTimeout(resolve, 50)));
        const reply = await ctx.waitForEvent({ type: 'Reply' }, { timeout: '10s' });
        return reply?.data;
      },
    });
    await store.append('replies', [{ type: 'Reply', data: { n: 0 } }]); // before start(): not seen
    const engine = await engineOn(store, [wf]);
    const run = await engine.start(wf, undefined);
    await store.append('replies', [{ type: 'Reply', data: { n: 1 } }]);
    expect(await run.result()).toEqual({ n: 1 });
  });

  test("a process manager's waits see the events after the event that started it", async () => {
    const store = await open();
    const wf = defineWorkflow({
      name: 'paidOrder',
      startOn: { type: 'Placed', id: (e) => (e.data as { order: string }).order },
      async run(ctx, input: { order: string }) {
        const paid = await ctx.waitForEvent({ type: 'Paid', match: (e) => (e.data as { order: string }).order === input.order }, { timeout: '10s' });
        return paid?.data;
      },
    });
    // Placed and Paid both committed before any engine runs: the wait still sees Paid.
    await store.append('o-1', [{ type: 'Paid', data: { order: 'early' } }]);
    await store.append('o-1', [{ type: 'Placed', data: { order: 'o-1' } }, { type: 'Paid', data: { order: 'o-1' } }]);
    const engine = await engineOn(store, [wf]);
    expect(await (await waitForHandle(engine, 'o-1')).result()).toEqual({ order: 'o-1' });
  });

  test('steps append in the instance\'s correlation, caused by what started it, across a restart', async () => {
    const store = await open();
    const wf = defineWorkflow({
      name: 'noted',
      startOn: { type: 'Requested', id: (e) => (e.data as { id: string }).id },
      async run(ctx) {
        await ctx.step('first', async () => void (await store.append(`note-${ctx.id}`, [{ type: 'Noted', data: 1 }])));
        await ctx.waitForEvent({ type: 'Go', match: (e) => (e.data as { id: string }).id === ctx.id });
        await ctx.step('second', async () => void (await store.append(`note-${ctx.id}`, [{ type: 'Noted', data: 2 }])));
      },
    });
    const first = await engineOn(store, [wf]);
    // A process manager's instance: started by an event appended in a request's context.
    await withContext({ correlationId: 'flow-1', userId: 'ada' }, () => store.append('requests', [{ type: 'Requested', data: { id: 'n1' } }]));
    const [requested] = await collect(store.readStream('requests'));
    await until(async () => (await (await first.get('n1'))?.status())?.status === 'waiting');
    await first.close();
    // Another engine, in no context at all, carries on.
    const second = await engineOn(store, [wf]);
    await store.append('go', [{ type: 'Go', data: { id: 'n1' } }]);
    await (await second.get('n1'))!.result({ timeout: 10_000 });
    const expected = { correlationId: 'flow-1', causationId: requested!.id, userId: 'ada' };
    expect((await collect(store.readStream('note-n1'))).map((e) => e.metadata)).toEqual([expected, expected]);
    const history = await second.history('n1');
    expect(history[0]!.metadata).toEqual(expected);
    expect(history.every((e) => e.metadata.correlationId === 'flow-1')).toBe(true);

    // Started with no context: the instance starts a correlation of its own, its WorkflowStarted event.
    const plain = defineWorkflow({ name: 'plain', run: (ctx) => ctx.step('only', async () => void (await store.append('plain-notes', [{ type: 'Noted', data: 3 }]))) });
    const third = await engineOn(store, [plain]);
    await (await third.start(plain, undefined, { id: 'p1' })).result({ timeout: 10_000 });
    const [started] = await third.history('p1');
    expect((await collect(store.readStream('plain-notes')))[0]!.metadata).toEqual({ correlationId: started!.id, causationId: started!.id });
  });

  test('a store closed under a running engine does not hold the process: its loops end', async () => {
    const store = await open();
    const wf = defineWorkflow({
      name: 'lingering',
      startOn: { type: 'Asked', id: (e) => (e.data as { id: string }).id },
      async run(ctx) {
        await ctx.waitForEvent({ type: 'Answered' });
      },
    });
    const engine = await engineOn(store, [wf]);
    await store.append('asks', [{ type: 'Asked', data: { id: 'l1' } }]);
    await until(async () => (await (await engine.get('l1'))?.status())?.status === 'waiting');
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    try {
      await store.close();
      await new Promise((resolve) => setTimeout(resolve, 100));
      // The engine's loops stopped following a closed store instead of spinning on it.
      expect(ticks).toBeGreaterThan(3);
    } finally {
      clearInterval(timer);
    }
  });

  test('a wait survives a restart: the event appended while no engine ran is received', async () => {
    const store = await open();
    const wf = defineWorkflow({
      name: 'approval',
      async run(ctx) {
        const approved = await ctx.waitForEvent({ type: 'Approved', match: (e) => (e.data as { id: string }).id === ctx.id });
        return approved?.stream;
      },
    });
    const first = await engineOn(store, [wf]);
    const run = await first.start(wf, undefined, { id: 'a1' });
    await until(async () => (await run.status()).status === 'waiting');
    await first.close();
    await store.append('approvals', [{ type: 'Approved', data: { id: 'a1' } }]);
    const second = await engineOn(store, [wf]);
    expect(await (await second.get('a1'))!.result({ timeout: 10_000 })).toBe('approvals');
  });

  test('a retryIf that throws means no retry: the step fails for good, recorded', async () => {
    const store = await open();
    const wf = defineWorkflow({
      name: 'badRetryIf',
      async run(ctx) {
        await ctx.step('s', () => {
          throw new Error('boom');
        }, { retries: 3, backoff: 1, retryIf: () => { throw new Error('retryIf broke'); } });
      },
    });
    const engine = await engineOn(store, [wf]);
    await expect((await engine.start(wf, undefined, { id: 'ri' })).result()).rejects.toMatchObject({ status: 'failed', error: { code: 'STEP_FAILED' } });
    expect(types(await engine.history('ri')).filter((t) => t === 'WorkflowStepFailed')).toHaveLength(1);
  });

  test('a step appending through handle appends once, even when it is run again', async () => {
    const store = await open();
    let failNext = true;
    const wf = defineWorkflow({
      name: 'pay',
      async run(ctx) {
        return ctx.step(
          'deposit',
          async () => {
            const done = await handle(store, 'account-1', account, { type: 'deposit', amount: 10 });
            const again = await handle(store, 'account-2', account, { type: 'deposit', amount: 5 });
            // The effect happened but the step "crashes" before it is recorded: it runs again.
            if (failNext) {
              failNext = false;
              throw new Error('lost the reply');
            }
            return [done.version, again.version];
          },
          { retries: 1, backoff: 1 },
        );
      },
    });
    const engine = await engineOn(store, [wf]);
    expect(await (await engine.start(wf, undefined)).result()).toEqual([1, 1]);
    expect(await collect(store.readStream('account-1'))).toHaveLength(1);
    expect(await collect(store.readStream('account-2'))).toHaveLength(1);
  });

  test('ctx.idempotencyKey is the step’s, the same on every try, and refused outside a step', async () => {
    const store = await open();
    const keys: string[] = [];
    const wf = defineWorkflow({
      name: 'keys',
      async run(ctx) {
        await ctx.step(
          'k',
          (step) => {
            keys.push(ctx.idempotencyKey, step.idempotencyKey);
            if (step.attempt === 1) throw new Error('again');
          },
          { retries: 1, backoff: 1 },
        );
        try {
          return ctx.idempotencyKey;
        } catch (error) {
          return (error as Error).name;
        }
      },
    });
    const engine = await engineOn(store, [wf]);
    expect(await (await engine.start(wf, undefined, { id: 'k1' })).result()).toBe('ConfigurationError');
    expect(new Set(keys)).toEqual(new Set(['workflow-keys-k1/0']));
    expect(keys).toHaveLength(4);
  });

  test('code that no longer replays its history stops the instance with NonDeterminismError', async () => {
    const store = await open();
    const before = defineWorkflow({
      name: 'shape',
      async run(ctx) {
        await ctx.step('a', () => 1);
        await ctx.sleep(200);
        await ctx.step('b', () => 2);
      },
    });
    const after = defineWorkflow({
      name: 'shape',
      async run(ctx) {
        await ctx.step('renamed', () => 1);
        await ctx.sleep(200);
        await ctx.step('b', () => 2);
      },
    });
    const first = await engineOn(store, [before]);
    const run = await first.start(before, undefined, { id: 'd' });
    await until(async () => (await run.status()).status === 'sleeping');
    await first.close();
    const second = await engineOn(store, [after]);
    const error = await (await second.get('d'))!.result().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NonDeterminismError);
    expect((error as Error).message).toMatch(/operation 1 is step "a" in the history, but the code now does step "renamed"/);
    const info = await run.status();
    expect(info).toMatchObject({ status: 'failed', error: { code: 'NON_DETERMINISM' } });
    // Nothing was written for the diverging code, and no compensation ran.
    expect(types(await second.history('d')).at(-1)).toBe('WorkflowTimerScheduled');
  });

  test('code that drops an operation the history has is non-determinism too', async () => {
    const store = await open();
    const before = defineWorkflow({
      name: 'drop',
      async run(ctx) {
        await ctx.step('a', () => 1);
        await ctx.step('b', () => 2);
        await ctx.sleep(200);
      },
    });
    const after = defineWorkflow({
      name: 'drop',
      async run(ctx) {
        await ctx.step('a', () => 1);
        await ctx.sleep(200);
      },
    });
    const first = await engineOn(store, [before]);
    const run = await first.start(before, undefined, { id: 'd2' });
    await until(async () => (await run.status()).status === 'sleeping');
    await first.close();
    const second = await engineOn(store, [after]);
    await expect((await second.get('d2'))!.result()).rejects.toBeInstanceOf(NonDeterminismError);
  });

  test('versions: instances finish on the code they started with, new ones start on the newest', async () => {
    const store = await open();
    const v1 = defineWorkflow({
      name: 'greet',
      async run(ctx) {
        await ctx.sleep(200);
        return 'v1';
      },
    });
    const v2 = defineWorkflow({
      name: 'greet',
      version: 2,
      async run(ctx) {
        await ctx.step('new step', () => 1);
        return 'v2';
      },
    });
    const old = await engineOn(store, [v1]);
    const inFlight = await old.start(v1, undefined, { id: 'old' });
    await until(async () => (await inFlight.status()).status === 'sleeping');
    await old.close();
    const both = await engineOn(store, [v1, v2]);
    const fresh = await both.start(v2, undefined, { id: 'new' });
    expect(await fresh.result()).toBe('v2');
    expect(await (await both.get('old'))!.result()).toBe('v1');
    expect((await fresh.status()).version).toBe(2);
    // An engine without the old version leaves old instances alone.
    const onlyV2 = defineWorkflow({ name: 'slow', version: 2, run: async () => Promise.resolve('x') });
    const v1Slow = defineWorkflow({ name: 'slow', run: async (ctx) => ctx.sleep(100) });
    const e1 = await engineOn(store, [v1Slow]);
    const s = await e1.start(v1Slow, undefined, { id: 'slow1' });
    await until(async () => (await s.status()).status === 'sleeping');
    await e1.close();
    await engineOn(store, [onlyV2]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await s.status()).status).toBe('sleeping');
  });

  test('cancel stops a waiting instance: its compensations run and it ends cancelled', async () => {
    const store = await open();
    const undone: string[] = [];
    const wf = defineWorkflow({
      name: 'cancellable',
      async run(ctx) {
        await ctx.step('book', () => 'booked');
        ctx.compensate('unbook', () => void undone.push('unbook'));
        await ctx.waitForEvent({ type: 'Never' });
      },
    });
    const engine = await engineOn(store, [wf]);
    const run = await engine.start(wf, undefined, { id: 'c' });
    await until(async () => (await run.status()).status === 'waiting');
    const info = await engine.cancel('c');
    expect(info?.cancelRequested).toBe(true);
    await expect(run.result()).rejects.toMatchObject({ status: 'cancelled' });
    expect(undone).toEqual(['unbook']);
    expect(types(await engine.history('c')).slice(-3)).toEqual(['WorkflowCancelRequested', 'WorkflowCompensationCompleted', 'WorkflowCancelled']);
    // Cancelling again, or an ended or unknown instance, changes nothing.
    expect((await engine.cancel('c'))?.status).toBe('cancelled');
    expect(await engine.cancel('unknown')).toBeUndefined();
  });

  test('cancel reaches a step running in this engine: its signal is aborted', async () => {
    const store = await open();
    const wf = defineWorkflow({
      name: 'long',
      async run(ctx) {
        await ctx.step('long', ({ signal }) => new Promise((resolve, reject) => {
          const timer = setTimeout(resolve, 20_000);
          signal.addEventListener('abort', () => {
            clearTimeout(timer);
            reject(new Error('aborted'));
          });
        }));
      },
    });
    const engine = await engineOn(store, [wf]);
    const run = await engine.start(wf, undefined, { id: 'l' });
    await until(async () => (await engine.history('l')).length > 0 || (await run.status()).status === 'running');
    await engine.cancel('l');
    await expect(run.result({ timeout: 5000 })).rejects.toMatchObject({ status: 'cancelled' });
  });

  test('a cancel from another engine while a step runs is not lost when the instance then sleeps', async () => {
    const store = await open();
    const wf = defineWorkflow({
      name: 'sleepsAfter',
      async run(ctx) {
        await ctx.step('slow', () => new Promise((resolve) => setTimeout(resolve, 150)));
        await ctx.sleep('1h');
      },
    });
    const runner = await engineOn(store, [wf], { pollInterval: 20, leaseTtl: 30_000 });
    const other = await engineOn(store, [wf], { pollInterval: 20, leaseTtl: 30_000 });
    const run = await runner.start(wf, undefined, { id: 'x' });
    await other.cancel('x');
    await expect(run.result({ timeout: 5000 })).rejects.toMatchObject({ status: 'cancelled' });
  });

  test('a step the code forgot to await fails in the history, not in the process', async () => {
    const store = await open();
    const wf = defineWorkflow({
      name: 'forgotAwait',
      async run(ctx) {
        void ctx.step('unawaited', () => {
          throw new Error('nobody listens');
        });
        return Promise.resolve('done');
      },
    });
    const engine = await engineOn(store, [wf]);
    expect(await (await engine.start(wf, undefined, { id: 'f' })).result()).toBe('done');
    expect(types(await engine.history('f'))).toEqual(['WorkflowStarted', 'WorkflowStepFailed', 'WorkflowCompleted']);
  });

  test('branches under Promise.all replay in the order they first ran', async () => {
    const store = await open();
    const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const wf = defineWorkflow({
      name: 'branches',
      async run(ctx) {
        const out = await Promise.all(
          [50, 5, 25].map(async (ms, i) => {
            const first = await ctx.step(`first ${i}`, async () => (await wait(ms), i));
            return ctx.step(`then ${first}`, () => first * 10);
          }),
        );
        await ctx.sleep(30); // the rest of the run is a replay
        return [out, ctx.random() < 1];
      },
    });
    const engine = await engineOn(store, [wf]);
    expect(await (await engine.start(wf, undefined, { id: 'b' })).result()).toEqual([[0, 10, 20], true]);
    const steps = (await engine.history('b')).filter((e) => e.type === 'WorkflowStepCompleted').map((e) => (e.data as { step: string }).step);
    expect(steps).toEqual(['first 1', 'then 1', 'first 2', 'then 2', 'first 0', 'then 0']);
  });

  test('a compensation a branch registers after its step, while another branch fails, runs', async () => {
    const store = await open();
    const undone: string[] = [];
    const wf = defineWorkflow({
      name: 'branchUndo',
      async run(ctx) {
        await Promise.all([
          ctx.step('fails', async () => {
            await new Promise((resolve) => setTimeout(resolve, 10));
            throw new Error('boom');
          }),
          (async () => {
            await ctx.step('reserve', () => new Promise((resolve) => setTimeout(resolve, 80)));
            ctx.compensate('release', () => void undone.push('release'));
          })(),
        ]);
      },
    });
    const engine = await engineOn(store, [wf]);
    await expect((await engine.start(wf, undefined)).result()).rejects.toMatchObject({ status: 'compensated' });
    expect(undone).toEqual(['release']);
  });

  test('a cancel during a step’s backoff starts no new try; it compensates and ends cancelled', async () => {
    const store = await open();
    const tries: number[] = [];
    const undone: string[] = [];
    const wf = defineWorkflow({
      name: 'cancelBackoff',
      async run(ctx) {
        ctx.compensate('undo', () => void undone.push('undo'));
        await ctx.step('flaky', ({ attempt }) => {
          tries.push(attempt);
          if (attempt === 1) throw new Error('boom');
        }, { retries: 5, backoff: '10s' });
      },
    });
    const engine = await engineOn(store, [wf]);
    const run = await engine.start(wf, undefined, { id: 'cb' });
    await until(async () => (await engine.history('cb')).some((e) => e.type === 'WorkflowStepFailed'));
    await engine.cancel('cb');
    await expect(run.result({ timeout: 5000 })).rejects.toMatchObject({ status: 'cancelled' });
    expect(tries).toEqual([1]);
    expect(undone).toEqual(['undo']);
  });

  test('a cancel that comes while a step’s records are being written starts no later step', async () => {
    const store = await open();
    const ran: string[] = [];
    const wf = defineWorkflow({
      name: 'cancelBetween',
      async run(ctx) {
        await ctx.step('first', () => void ran.push('first'));
        ctx.now(); // recorded: the next step writes it first
        await ctx.step('second', () => void ran.push('second'));
      },
    });
    const engine = await engineOn(store, [wf]);
    const append = store.append.bind(store);
    store.append = async (stream, events, options) => {
      if (stream === 'workflow-cancelBetween-cbw') {
        await engine.cancel('cbw');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return append(stream, events, options);
    };
    const run = await engine.start(wf, undefined, { id: 'cbw' });
    await expect(run.result({ timeout: 5000 })).rejects.toMatchObject({ status: 'cancelled' });
    expect(ran).toEqual(['first']);
  });

  test('close during a compensation hands the instance back at once; another engine finishes it', async () => {
    const store = await open();
    let closing = true;
    let undoing = false;
    const wf = defineWorkflow({
      name: 'closeUndo',
      async run(ctx) {
        ctx.compensate('undo', ({ signal }) => {
          undoing = true;
          return closing ? new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')))) : 'undone';
        });
        await ctx.step('fail', () => {
          throw new Error('boom');
        });
      },
    });
    const first = await engineOn(store, [wf], { pollInterval: 20, leaseTtl: 60_000 });
    await first.start(wf, undefined, { id: 'cu' });
    await until(() => Promise.resolve(undoing));
    await first.close();
    closing = false;
    const second = await engineOn(store, [wf], { pollInterval: 20, leaseTtl: 60_000 });
    await expect((await second.get('cu'))!.result({ timeout: 5000 })).rejects.toMatchObject({ status: 'compensated' });
  });

  test('a closing engine keeps its leases while its steps finish: no other engine runs them meanwhile', async () => {
    const store = await open();
    let running = 0;
    let most = 0;
    const wf = defineWorkflow({
      name: 'slowClose',
      async run(ctx) {
        await ctx.step('slow', async () => {
          most = Math.max(most, ++running);
          await new Promise((resolve) => setTimeout(resolve, 600)); // ignores its signal
          running--;
        });
      },
    });
    const first = await engineOn(store, [wf], { pollInterval: 20, leaseTtl: 150 });
    const run = await first.start(wf, undefined, { id: 'sc' });
    await until(() => Promise.resolve(running === 1));
    await engineOn(store, [wf], { pollInterval: 20, leaseTtl: 150 });
    await first.close();
    await run.result({ timeout: 5000 });
    expect(most).toBe(1);
  });

  test('starts made side by side keep to the concurrency', async () => {
    const store = await open();
    let running = 0;
    let most = 0;
    const wf = defineWorkflow({
      name: 'bounded',
      async run(ctx) {
        await ctx.step('work', async () => {
          most = Math.max(most, ++running);
          await new Promise((resolve) => setTimeout(resolve, 20));
          running--;
        });
      },
    });
    const engine = await engineOn(store, [wf], { pollInterval: 20, leaseTtl: 2000, concurrency: 2 });
    const runs = await Promise.all(Array.from({ length: 12 }, () => engine.start(wf, undefined)));
    await Promise.all(runs.map((r) => r.result()));
    expect(most).toBeLessThanOrEqual(2);
  });

  test('a timer and a wait finish while another branch’s step is still running', async () => {
    const store = await open();
    const seen: Record<string, number> = {};
    const started = Date.now();
    const wf = defineWorkflow({
      name: 'race',
      async run(ctx) {
        const slow = ctx.step('slow', () => new Promise((resolve) => setTimeout(() => resolve('slow'), 1500)));
        const first = await Promise.race([slow, ctx.sleep(100).then(() => 'timer')]);
        seen.timer = Date.now() - started;
        const event = await Promise.race([slow, ctx.waitForEvent({ type: 'Ping' }).then((e) => e?.type)]);
        seen.event = Date.now() - started;
        await slow;
        return [first, event];
      },
    });
    const engine = await engineOn(store, [wf]);
    const run = await engine.start(wf, undefined, { id: 'rc' });
    await until(() => Promise.resolve(seen.timer !== undefined));
    await store.append('pings', [{ type: 'Ping', data: {} }]);
    expect(await run.result()).toEqual(['timer', 'Ping']);
    expect(seen.timer).toBeLessThan(1000);
    expect(seen.event).toBeLessThan(1400);
    expect(types(await engine.history('rc'))).toEqual(expect.arrayContaining(['WorkflowTimerFired', 'WorkflowEventReceived']));
  });

  test('a step failing while another branch’s step succeeds replays in the order they were recorded', async () => {
    const store = await open();
    const wf = defineWorkflow({
      name: 'failOrder',
      async run(ctx) {
        let releaseB: () => void = () => {};
        const b = new Promise<void>((resolve) => (releaseB = resolve));
        await Promise.all([
          (async () => {
            try {
              await ctx.step('a', () => {
                setTimeout(releaseB, 0);
                throw new Error('no');
              });
            } catch {
              // handled: the branch goes on
            }
            await ctx.step('a2', () => 'a2');
          })(),
          (async () => {
            await ctx.step('b', () => b.then(() => 'b'));
            await ctx.step('b2', () => 'b2');
          })(),
        ]);
        await ctx.sleep(30); // the rest is a replay
        return 'ok';
      },
    });
    const engine = await engineOn(store, [wf]);
    for (let i = 0; i < 5; i++) expect(await (await engine.start(wf, undefined)).result()).toBe('ok');
  });

  test('a match that throws fails the wait, recorded: the code may catch it, and a replay agrees', async () => {
    const store = await open();
    const wf = defineWorkflow({
      name: 'badMatch',
      async run(ctx) {
        let caught = '';
        try {
          await ctx.waitForEvent({ type: 'Ping', match: () => { throw new Error('bad match'); } });
        } catch (error) {
          caught = (error as Error).message;
        }
        await ctx.step('after', () => 1);
        await ctx.sleep(30);
        return caught;
      },
    });
    const engine = await engineOn(store, [wf]);
    const run = await engine.start(wf, undefined, { id: 'bm' });
    await store.append('pings', [{ type: 'Ping', data: {} }]);
    expect(await run.result()).toBe('bad match');
    expect(types(await engine.history('bm'))).toContain('WorkflowWaitFailed');
  });

  test('after a cancel, compensations get a live signal and their backoff', async () => {
    const store = await open();
    const seen: { attempt: number; aborted: boolean }[] = [];
    const wf = defineWorkflow({
      name: 'undoAfterCancel',
      async run(ctx) {
        ctx.compensate('undo', ({ attempt, signal }) => {
          seen.push({ attempt, aborted: signal.aborted });
          if (attempt === 1) throw new Error('first undo fails');
        }, { retries: 2, backoff: 50 });
        await ctx.waitForEvent({ type: 'Never' });
      },
    });
    const engine = await engineOn(store, [wf]);
    const run = await engine.start(wf, undefined, { id: 'uc' });
    await until(async () => (await run.status()).status === 'waiting');
    await engine.cancel('uc');
    const info = await run.result().catch(() => run.status());
    expect(info).toMatchObject({ status: 'cancelled' });
    expect((info as { error?: unknown }).error).toBeUndefined();
    expect(seen).toEqual([{ attempt: 1, aborted: false }, { attempt: 2, aborted: false }]);
  });

  test('a cancel while the engine loads the instance’s history is not lost', async () => {
    const store = await open();
    const ran: string[] = [];
    const wf = defineWorkflow({
      name: 'cancelLoad',
      async run(ctx) {
        await ctx.sleep(50);
        await ctx.step('after', () => void ran.push('after'));
      },
    });
    const engine = await engineOn(store, [wf]);
    const readStream = store.readStream.bind(store);
    let loading = false;
    store.readStream = (stream, options) => {
      if (!stream.startsWith('workflow-cancelLoad-')) return readStream(stream, options);
      loading = true;
      return (async function* () {
        await new Promise((resolve) => setTimeout(resolve, 200));
        yield* readStream(stream, options);
      })();
    };
    const run = await engine.start(wf, undefined, { id: 'cl' });
    await until(() => Promise.resolve(loading));
    await engine.cancel('cl');
    await expect(run.result({ timeout: 5000 })).rejects.toMatchObject({ status: 'cancelled' });
    expect(ran).toEqual([]);
  });

  test('a store error while a replay reads a received event abandons that run only; the instance goes on', async () => {
    const store = await open();
    const wf = defineWorkflow({
      name: 'readFails',
      async run(ctx) {
        const event = await ctx.waitForEvent({ type: 'Approved' });
        await ctx.sleep(30);
        return event?.type;
      },
    });
    const engine = await engineOn(store, [wf]);
    const run = await engine.start(wf, undefined, { id: 'rf' });
    await until(async () => (await run.status()).status === 'waiting');
    const getEvents = store.getEvents.bind(store);
    let failures = 1;
    store.getEvents = (ids) => (failures-- > 0 ? Promise.reject(new Error('database went away')) : getEvents(ids));
    await store.append('approvals', [{ type: 'Approved', data: {} }]);
    expect(await run.result({ timeout: 10_000 })).toBe('Approved');
    expect(failures).toBeLessThan(0);
  });

  test('result() gives up after its timeout with TimeoutError', async () => {
    const store = await open();
    const wf = defineWorkflow({ name: 'forever', run: async (ctx) => ctx.sleep('1h') });
    const engine = await engineOn(store, [wf]);
    const run = await engine.start(wf, undefined);
    await expect(run.result({ timeout: 100 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    await expect(run.result({ timeout: '50ms' })).rejects.toMatchObject({ code: 'TIMEOUT' });
    await expect(run.result({ timeout: Number.NaN })).rejects.toBeInstanceOf(ValidationError);
    await expect(run.result({ timeout: 'soon' })).rejects.toBeInstanceOf(ValidationError);
  });

  test('a process manager starts one instance per id from the events, once, across restarts', async () => {
    const store = await open();
    const started: string[] = [];
    const wf = defineWorkflow<{ order: string }, string>({
      name: 'fulfil',
      startOn: { type: 'OrderPlaced', id: (e) => `order-${(e.data as { order: string }).order}` },
      async run(ctx, input) {
        await ctx.step('note', () => void started.push(input.order));
        return input.order;
      },
    });
    await store.append('orders', [
      { type: 'OrderPlaced', data: { order: 'a' } },
      { type: 'OrderPlaced', data: { order: 'b' } },
      { type: 'OrderPlaced', data: { order: 'a' } },
      { type: 'Other', data: {} },
    ]);
    const first = await engineOn(store, [wf]);
    await until(async () => (await first.list({ status: 'completed' })).length === 2);
    await first.close();
    await store.append('orders', [{ type: 'OrderPlaced', data: { order: 'c' } }]);
    const second = await engineOn(store, [wf]);
    expect(await (await waitForHandle(second, 'order-c')).result()).toBe('c');
    expect(started.sort()).toEqual(['a', 'b', 'c']);
    expect((await second.list()).map((i) => i.id).sort()).toEqual(['order-a', 'order-b', 'order-c']);
  });

  test('list pages by creation and filters by status and workflow', async () => {
    const store = await open();
    const quick = defineWorkflow({ name: 'quick', run: async () => Promise.resolve(1) });
    const slow = defineWorkflow({ name: 'sleepy', run: async (ctx) => ctx.sleep('1h') });
    const engine = await engineOn(store, [quick, slow]);
    for (let i = 0; i < 5; i++) await (await engine.start(quick, undefined, { id: `q${i}` })).result();
    const s = await engine.start(slow, undefined, { id: 's0' });
    await until(async () => (await s.status()).status === 'sleeping');
    const page1 = await engine.list({ limit: 2 });
    const page2 = await engine.list({ limit: 2, after: page1.at(-1)!.id });
    expect([...page1, ...page2].map((i) => i.id)).toEqual(['q0', 'q1', 'q2', 'q3']);
    expect((await engine.list({ status: 'sleeping' })).map((i) => i.id)).toEqual(['s0']);
    expect((await engine.list({ workflow: 'quick' })).map((i) => i.id)).toHaveLength(5);
    await expect(engine.list({ after: 'missing' })).rejects.toBeInstanceOf(ValidationError);
  });

  test('bad arguments to context operations fail the workflow with a clear error', async () => {
    const store = await open();
    const cases: Record<string, (ctx: Parameters<WorkflowDefinition['run']>[0]) => Promise<unknown>> = {
      duration: (ctx) => ctx.sleep('soon'),
      negative: (ctx) => ctx.sleep(-1),
      retries: (ctx) => ctx.step('s', () => 1, { retries: -1 }),
      name: (ctx) => ctx.step('', () => 1),
      waitType: (ctx) => ctx.waitForEvent({ type: '' }),
      timeout: (ctx) => ctx.waitForEvent({ type: 'X' }, { timeout: 'later' }),
      stepTimeout: (ctx) => ctx.step('s', () => 1, { timeout: '30d' }), // longer than a timer can wait
      backoff: (ctx) => ctx.step('s', () => 1, { backoff: { max: '60d' } }),
      retryIf: (ctx) => ctx.step('s', () => 1, { retryIf: 'yes' as never }),
    };
    const wf = defineWorkflow({ name: 'badArgs', run: (ctx, input: string) => cases[input]!(ctx) });
    const engine = await engineOn(store, [wf]);
    for (const name of Object.keys(cases)) {
      const error = await (await engine.start(wf, name)).result().catch((e: unknown) => e);
      expect(error, name).toMatchObject({ status: 'failed', error: { code: 'VALIDATION' } });
    }
  });

  test('close hands running instances back; another engine finishes them without running a step twice', async () => {
    const store = await open();
    const runs = counter();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const wf = defineWorkflow({
      name: 'handover',
      async run(ctx) {
        await ctx.step('first', async () => {
          runs.hit('first');
          await gate;
        });
        await ctx.step('second', () => runs.hit('second'));
        return 'done';
      },
    });
    const first = await engineOn(store, [wf]);
    const run = await first.start(wf, undefined, { id: 'h' });
    await until(() => Promise.resolve(runs.of('first') === 1));
    const closing = first.close();
    release();
    await closing;
    const second = await engineOn(store, [wf]);
    expect(await (await second.get('h'))!.result()).toBe('done');
    expect(runs.of('first')).toBe(1);
    expect(runs.of('second')).toBe(1);
    await expect(first.start(wf, undefined)).rejects.toBeInstanceOf(ConfigurationError);
    expect(run.id).toBe('h');
  });
});

async function until(check: () => Promise<boolean>, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function waitForHandle(engine: WorkflowEngine, id: string): Promise<WorkflowHandle> {
  let handle: WorkflowHandle | undefined;
  await until(async () => (handle = await engine.get(id)) !== undefined);
  return handle!;
}
