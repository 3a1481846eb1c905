// OpenTelemetry: what tracing and metrics cost on appends. Rounds alternate between no SDK (the
// API's no-ops: what an application without OpenTelemetry runs) and an SDK as production wires one
// (every span sampled, a BatchSpanProcessor handing them to an exporter that drops them, a
// MeterProvider with a reader), so that drift in the disk's speed falls on both alike.
import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ExportResultCode, W3CTraceContextPropagator } from '@opentelemetry/core';
import { InMemoryMetricExporter, AggregationTemporality, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { EventStore } from 'factline';
import { N, data, printRow } from './scenarios.js';
import { timed, timedOps, rate, type Measured } from './stats.js';

const dropping: SpanExporter = {
  export: (_spans, done) => done({ code: ExportResultCode.SUCCESS }),
  shutdown: () => Promise.resolve(),
};

function sdk() {
  const contextManager = new AsyncLocalStorageContextManager();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(dropping)] });
  const meterProvider = new MeterProvider({
    readers: [new PeriodicExportingMetricReader({ exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE), exportIntervalMillis: 60_000 })],
  });
  const propagator = new W3CTraceContextPropagator();
  return {
    install() {
      context.setGlobalContextManager(contextManager.enable());
      trace.setGlobalTracerProvider(tracerProvider);
      propagation.setGlobalPropagator(propagator);
      metrics.setGlobalMeterProvider(meterProvider);
    },
    uninstall() {
      trace.disable();
      propagation.disable();
      metrics.disable();
      context.disable();
    },
    async shutdown() {
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
    },
  };
}

export async function telemetryScenarios(adapter: string, store: EventStore): Promise<void> {
  const otel = sdk();
  const rounds = 10;
  const ev = () => ({ type: 'Bench', data });
  const sequential = { off: [] as Measured[], on: [] as Measured[] };
  const concurrent = { off: [] as Measured[], on: [] as Measured[] };
  for (let r = 0; r < rounds; r++) {
    for (const mode of ['off', 'on'] as const) {
      if (mode === 'on') otel.install();
      sequential[mode].push(await timedOps(N.singles / rounds, 1, (i) => store.append(`otel-${mode}-${r}-${i}`, [ev()])));
      concurrent[mode].push(
        await timed((N.writers * N.perWriter) / rounds, () =>
          Promise.all(
            Array.from({ length: N.writers }, async (_, w) => {
              for (let i = 0; i < N.perWriter / rounds; i++) await store.append(`otel-${mode}-w${w}-${i % 50}`, [ev()]);
            }),
          ).then(() => undefined),
        ),
      );
      if (mode === 'on') otel.uninstall();
    }
  }
  await otel.shutdown();
  const row = (scenario: string, parts: Measured[]) => {
    const result = merge(parts);
    printRow({ scenario, adapter, result });
    return result;
  };
  const a0 = row('(h) sequential 1-event appends, no OTel SDK', sequential.off);
  const a1 = row('(h) sequential 1-event appends, OTel SDK', sequential.on);
  const b0 = row(`(h) ${N.writers} concurrent writers, no OTel SDK`, concurrent.off);
  const b1 = row(`(h) ${N.writers} concurrent writers, OTel SDK`, concurrent.on);
  console.log(`(h) with an SDK, ${adapter}: sequential ${(rate(a1) / rate(a0)).toFixed(2)}×, concurrent ${(rate(b1) / rate(b0)).toFixed(2)}× the throughput without`);
}

function merge(parts: readonly Measured[]): Measured {
  return {
    events: parts.reduce((n, p) => n + p.events, 0),
    seconds: parts.reduce((n, p) => n + p.seconds, 0),
    ...(parts.some((p) => p.latencies) ? { latencies: parts.flatMap((p) => p.latencies ?? []).sort((x, y) => x - y) } : {}),
  };
}
