import { readFileSync } from 'node:fs';
import {
  ROOT_CONTEXT,
  SpanStatusCode,
  context,
  metrics,
  propagation,
  trace,
  type Attributes,
  type Context,
  type Counter,
  type Histogram,
  type Link,
  type MeterProvider,
  type Span,
  type SpanContext,
  type SpanKind,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';

/**
 * Factline's side of OpenTelemetry: spans and metrics through `@opentelemetry/api` only. Until the
 * application registers an SDK, the API hands out no-ops and this costs a few calls per append.
 * The tracer and the meter are looked up on use, not at import, so an SDK registered after the
 * store was opened (or replaced, as tests do) is the one used.
 */

const NAME = 'factline';

let version: string | undefined | null = null;
function packageVersion(): string | undefined {
  if (version === null) {
    try {
      version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version;
    } catch {
      version = undefined;
    }
  }
  return version;
}

let traced: { provider: TracerProvider; tracer: Tracer } | undefined;
function tracer(): Tracer {
  const provider = trace.getTracerProvider();
  if (traced?.provider !== provider) traced = { provider, tracer: provider.getTracer(NAME, packageVersion()) };
  return traced.tracer;
}

type SpanOptions = { readonly kind?: SpanKind; readonly attributes?: Attributes; readonly links?: Link[] };

/** A new span under `parent`, not made active: for work that starts no spans of its own. */
export function startSpan(name: string, options: SpanOptions, parent: Context = context.active()): Span {
  return tracer().startSpan(name, options, parent);
}

/** Runs `fn` in a new span, made the active one, under `parent` (default: the active context). */
export async function inSpan<T>(
  name: string,
  options: SpanOptions,
  fn: (span: Span) => Promise<T> | T,
  parent: Context = context.active(),
): Promise<T> {
  const span = tracer().startSpan(name, options, parent);
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (error) {
    failed(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** Marks a span failed with the error (its exception event, its status, `error.type`). */
export function failed(span: Span, error: unknown): void {
  if (!span.isRecording()) return;
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  span.setAttribute('error.type', errorType(error));
}

function errorType(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.name : '_OTHER';
}

/** Bigint positions as span attributes: numbers while exact (below 2^53), else decimal text. */
export function position(value: bigint): number | string {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : String(value);
}

// --- trace context in event metadata -------------------------------------------------------------

/** The metadata fields that carry a trace context: W3C Trace Context's. */
const TRACE_FIELDS = ['traceparent', 'tracestate'] as const;
export type TraceCarrier = { traceparent?: string; tracestate?: string };

/**
 * The active trace context as the app's propagator writes it (W3C `traceparent`, `tracestate`),
 * or undefined when there is none to write: no SDK, no propagator, no active span.
 */
export function traceCarrier(from: Context = context.active()): TraceCarrier | undefined {
  const written: Record<string, string> = {};
  propagation.inject(from, written);
  if (written.traceparent === undefined) return undefined;
  return written.tracestate === undefined ? { traceparent: written.traceparent } : { traceparent: written.traceparent, tracestate: written.tracestate };
}

/** `base` with the trace context that `metadata` carries, if it carries one. */
export function traceContextOf(metadata: { readonly [key: string]: unknown } | undefined, base: Context = context.active()): Context {
  const traceparent = metadata?.traceparent;
  if (typeof traceparent !== 'string') return base;
  const carrier: Record<string, string> = {};
  for (const field of TRACE_FIELDS) {
    const value = metadata![field];
    if (typeof value === 'string') carrier[field] = value;
  }
  return propagation.extract(base, carrier);
}

/** The span context that `metadata` carries, when it carries a valid one. */
function spanContextOf(metadata: { readonly [key: string]: unknown } | undefined): SpanContext | undefined {
  if (typeof metadata?.traceparent !== 'string') return undefined;
  const found = trace.getSpanContext(traceContextOf(metadata, ROOT_CONTEXT));
  return found && trace.isSpanContextValid(found) ? found : undefined;
}

/** Runs `fn` in the trace context `carrier` describes (none: in the active one). */
export function inTraceContext<T>(carrier: TraceCarrier | undefined, fn: () => T): T {
  if (carrier === undefined) return fn();
  return context.with(traceContextOf(carrier), fn);
}

/**
 * Runs `fn` in the trace context of incoming headers (`traceparent`), unless a span is already
 * active (an HTTP instrumentation made the request's server span: that one is the parent).
 */
export function inHeadersTrace<T>(headers: { readonly [key: string]: unknown }, fn: () => T): T {
  if (trace.getSpan(context.active()) !== undefined || typeof headers.traceparent !== 'string') return fn();
  return context.with(traceContextOf(headers), fn);
}

/** Most distinct event traces a batch span links to (the SDK keeps 128 links by default). */
const MAX_LINKS = 32;

/** Links to the distinct traces that events came from, at most `MAX_LINKS`. */
export function linksOf(events: readonly { readonly metadata: { readonly [key: string]: unknown } }[]): Link[] {
  const links: Link[] = [];
  const seen = new Set<string>();
  for (const event of events) {
    if (links.length >= MAX_LINKS) break;
    const traceparent = event.metadata.traceparent;
    if (typeof traceparent !== 'string' || seen.has(traceparent)) continue;
    seen.add(traceparent);
    const spanContext = spanContextOf(event.metadata);
    if (spanContext) links.push({ context: spanContext });
  }
  return links;
}

// --- metrics --------------------------------------------------------------------------------------

interface Instruments {
  readonly appendDuration: Histogram;
  readonly appended: Counter;
}

/** What a projection daemon reports: per projection, the events it has still to apply. */
export type LagSource = () => readonly { readonly name: string; readonly kind: string; readonly owner: boolean; readonly lag: { readonly events: bigint } }[];
/** What a workflow engine reports: instances by status, in its store. */
export type WorkflowCountSource = () => Promise<readonly { readonly status: string; readonly count: number }[]>;

// The observable gauges read every daemon and engine of the process: the meter is global, they are not.
const lagSources = new Set<LagSource>();
const workflowSources = new Map<object, { read: WorkflowCountSource; users: number }>();

let measured: { provider: MeterProvider; instruments: Instruments } | undefined;

/** The instruments on the current meter, made (with the observable gauges) when the meter changes. */
function instruments(): Instruments {
  const provider = metrics.getMeterProvider();
  if (measured?.provider === provider) return measured.instruments;
  const meter = provider.getMeter(NAME, packageVersion());
  const made: Instruments = {
    appendDuration: meter.createHistogram('factline.append.duration', {
      description: 'Duration of appends, from the call to its outcome (validation, group commit and commit).',
      unit: 'ms',
      advice: { explicitBucketBoundaries: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000] },
    }),
    appended: meter.createCounter('factline.events.appended', { description: 'Events appended (committed).', unit: '{event}' }),
  };
  meter
    .createObservableGauge('factline.projection.lag', { description: 'Events a projection or reactor has still to apply, where this process holds its lease.', unit: '{event}' })
    .addCallback((result) => {
      const lags = new Map<string, { kind: string; events: bigint }>();
      for (const source of lagSources) {
        for (const s of source()) {
          if (!s.owner) continue;
          const seen = lags.get(s.name);
          if (!seen || s.lag.events > seen.events) lags.set(s.name, { kind: s.kind, events: s.lag.events });
        }
      }
      for (const [name, { kind, events }] of lags) result.observe(Number(events), { 'factline.projection.name': name, 'factline.projection.kind': kind });
    });
  meter
    .createObservableGauge('factline.workflows', { description: 'Workflow instances, by status.', unit: '{instance}' })
    .addCallback(async (result) => {
      const counts = new Map<string, number>();
      for (const { read } of workflowSources.values()) {
        // A store closed under its engine has nothing to say.
        const rows = await read().catch(() => []);
        for (const { status, count } of rows) counts.set(status, (counts.get(status) ?? 0) + count);
      }
      for (const [status, count] of counts) result.observe(count, { 'factline.workflow.status': status });
    });
  measured = { provider, instruments: made };
  return made;
}

const OK: Attributes = Object.freeze({ 'factline.outcome': 'ok' });

/** Records an append's duration and outcome, and counts its events when it succeeded. */
export function appendMeasured(ms: number, events: number, failure: { readonly error: unknown } | undefined): void {
  const { appendDuration, appended } = instruments();
  if (failure === undefined) {
    appendDuration.record(ms, OK);
    if (events > 0) appended.add(events);
  } else {
    appendDuration.record(ms, { 'factline.outcome': 'error', 'error.type': errorType(failure.error) });
  }
}

/** Reports a daemon's lag through `factline.projection.lag` until the returned function is called. */
export function reportLag(source: LagSource): () => void {
  instruments();
  lagSources.add(source);
  return () => void lagSources.delete(source);
}

/**
 * Reports a store's workflow counts through `factline.workflows` until the returned function is
 * called. Engines on the same store (`key`) are counted once.
 */
export function reportWorkflows(key: object, read: WorkflowCountSource): () => void {
  instruments();
  const entry = workflowSources.get(key) ?? { read, users: 0 };
  entry.users++;
  workflowSources.set(key, entry);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    if (--entry.users === 0) workflowSources.delete(key);
  };
}

/** Makes sure the instruments (and so the gauges) exist on the meter registered now. */
export function refreshInstruments(): void {
  instruments();
}
