import { DataPointType, type MetricData } from '@opentelemetry/sdk-metrics';
import { afterAll, afterEach, expect } from 'vitest';
import { ConcurrencyError, defineProjection, defineWorkflow, startProjections, startWorkflows, type ProjectionDaemon, type WorkflowEngine } from '../../src/index.js';
import { conformance } from '../conformance/harness.js';
import { installMetrics } from '../support/otel.js';

let otel: ReturnType<typeof installMetrics> | undefined;
afterAll(() => otel?.uninstall());

const running: (ProjectionDaemon | WorkflowEngine)[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.close();
  await otel?.uninstall();
  otel = undefined;
});

/** The data points of a metric as [attributes, value] pairs. */
function points(metric: MetricData | undefined): [Record<string, unknown>, unknown][] {
  if (!metric) return [];
  return metric.dataPoints.map((p) => [p.attributes, metric.dataPointType === DataPointType.HISTOGRAM ? (p.value as { count: number }).count : p.value]);
}

conformance('metrics', ({ open, test }) => {
  test('appends: duration by outcome, events counted; the SDK may be registered after the store was opened', async () => {
    const store = await open();
    await store.append('before', [{ type: 'A', data: {} }]); // no SDK yet: nothing recorded anywhere
    otel = installMetrics();
    await store.append('s', [{ type: 'A', data: {} }, { type: 'B', data: {} }]);
    await store.append('s', [{ type: 'C', data: {} }], { expectedVersion: 2 });
    await expect(store.append('s', [{ type: 'D', data: {} }], { expectedVersion: 0 })).rejects.toThrow(ConcurrencyError);
    const got = await otel.collect();
    const duration = got.get('factline.append.duration')!;
    expect(duration.descriptor).toMatchObject({ unit: 'ms' });
    expect(points(duration)).toEqual([
      [{ 'factline.outcome': 'ok' }, 2],
      [{ 'factline.outcome': 'error', 'error.type': 'CONCURRENCY' }, 1],
    ]);
    expect(points(got.get('factline.events.appended'))).toEqual([[{}, 3]]);
  });

  test('factline.projection.lag: the events a projection has still to apply, from the daemon’s status', async () => {
    otel = installMetrics();
    const store = await open();
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const slow = defineProjection({
      name: 'slow',
      version: 1,
      async handle() {
        await held;
      },
    });
    const daemon = await startProjections(store, [slow], { batchSize: 1 });
    running.push(daemon);
    const { position } = await store.append('s', [1, 2, 3].map((n) => ({ type: 'N', data: { n } })));
    const lag = async () => points((await otel!.collect()).get('factline.projection.lag'));
    await expect.poll(lag).toEqual([[{ 'factline.projection.name': 'slow', 'factline.projection.kind': 'projection' }, 3]]);
    release();
    await daemon.waitFor(position);
    await expect.poll(lag).toEqual([[{ 'factline.projection.name': 'slow', 'factline.projection.kind': 'projection' }, 0]]);
  });

  test('factline.workflows: instances by status', async () => {
    otel = installMetrics();
    const store = await open();
    const wf = defineWorkflow({
      name: 'w',
      async run(ctx, input: { fail: boolean }) {
        if (input.fail) await ctx.step('fails', () => Promise.reject(new Error('no')));
        return 'ok';
      },
    });
    const engine = await startWorkflows(store, [wf], { pollInterval: 20 });
    running.push(engine);
    for (const fail of [false, false, true]) await (await engine.start(wf, { fail })).result().catch(() => undefined);
    const counts = points((await otel.collect()).get('factline.workflows')).sort(([a], [b]) => String(a['factline.workflow.status']).localeCompare(String(b['factline.workflow.status'])));
    expect(counts).toEqual([
      [{ 'factline.workflow.status': 'completed' }, 2],
      [{ 'factline.workflow.status': 'failed' }, 1],
    ]);
  });
});
