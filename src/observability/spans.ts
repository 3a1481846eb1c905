import { INVALID_SPAN_CONTEXT, ROOT_CONTEXT, SpanKind, context, trace, type Attributes, type Context, type Span, type SpanContext } from '@opentelemetry/api';
import { inheritContext } from '../context/message-context.js';
import type { NewEvent, RecordedEvent } from '../events/types.js';
import { appendMeasured, failed, inSpan, inTraceContext, linksOf, position, refreshInstruments, startSpan, traceCarrier, traceContextOf, type TraceCarrier } from './telemetry.js';

/**
 * The spans Factline makes, one function each, so that their names and attributes live in one
 * place (docs/tracing.md lists them). Each wraps the work it measures and changes nothing else.
 */

const text = (value: unknown) => (typeof value === 'string' ? value : String(value));

/**
 * `factline.append`: one per append call (group commit may write it in one transaction with
 * others; each keeps its span). The events get the span's trace context in their metadata, under
 * their own fields: a handler of them continues the trace. Also records the append metrics.
 */
export async function tracedAppend<R extends { readonly version: number; readonly position: bigint }>(
  stream: string,
  events: readonly NewEvent[],
  append: (events: readonly NewEvent[]) => Promise<R>,
): Promise<R> {
  const count = Array.isArray(events) ? events.length : 0;
  const started = performance.now();
  // Not made active: nothing inside starts a span, and activating costs a context switch per append.
  const parent = context.active();
  const span = startSpan('factline.append', { kind: SpanKind.PRODUCER, attributes: { 'factline.stream.name': text(stream), 'factline.event.count': count } }, parent);
  let failure: { readonly error: unknown } | undefined;
  try {
    // Without an SDK the span has no context of its own: the parent's, if any, is what goes on.
    // An unsampled span has one, and passes its decision on.
    const own = span.spanContext();
    const carrier = traceCarrier(own === INVALID_SPAN_CONTEXT || !trace.isSpanContextValid(own) ? parent : trace.setSpan(parent, span));
    const result = await append(carrier ? inheritContext(events, carrier) : events);
    if (span.isRecording()) span.setAttributes({ 'factline.stream.version': result.version, 'factline.position': position(result.position) });
    return result;
  } catch (error) {
    failure = { error };
    failed(span, error);
    throw error;
  } finally {
    span.end();
    appendMeasured(performance.now() - started, count, failure);
  }
}

/**
 * `factline.read_stream` / `factline.read_all`: one per page fetched from the database, not per
 * event (thousands of spans for one read) nor per iteration (a span open as long as the caller
 * loops, which times the caller, and never ends if the iterator is dropped).
 */
export async function tracedPage<T>(name: 'factline.read_stream' | 'factline.read_all', attributes: Attributes, read: () => Promise<readonly T[]>): Promise<readonly T[]> {
  const span = startSpan(name, { attributes });
  try {
    const page = await read();
    span.setAttribute('factline.event.count', page.length);
    return page;
  } catch (error) {
    failed(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** `factline.handle`: a command, from loading to the recorded events; its append is a child. */
export function tracedHandle<T>(stream: string, fn: (span: Span) => Promise<T>): Promise<T> {
  return inSpan('factline.handle', { attributes: { 'factline.stream.name': text(stream) } }, fn);
}

/**
 * `factline.projection.batch`: a batch of a projection or reactor, its effects and checkpoint
 * committed together; linked to the traces that appended its events (a batch has many parents).
 */
export function tracedBatch<T>(
  projection: { readonly name: string; readonly kind: string; readonly generation: number | undefined },
  events: readonly RecordedEvent[],
  checkpoint: bigint,
  fn: () => Promise<T>,
): Promise<T> {
  // A new meter since the daemon started (an SDK registered late) gets the gauges here.
  refreshInstruments();
  const attributes: Attributes = {
    'factline.projection.name': projection.name,
    'factline.projection.kind': projection.kind,
    'factline.event.count': events.length,
    'factline.projection.checkpoint': position(checkpoint),
    ...(projection.generation === undefined ? {} : { 'factline.projection.generation': projection.generation }),
  };
  return inSpan('factline.projection.batch', { kind: SpanKind.CONSUMER, attributes, links: linksOf(events) }, fn, ROOT_CONTEXT);
}

/**
 * `factline.reactor`: a reactor handling one event, a child of the span that appended it (the
 * trace goes on across the hop), linked to its batch. What the handler appends joins that trace.
 */
export function tracedReaction<T>(reactor: string, event: RecordedEvent, fn: () => Promise<T> | T): Promise<T> {
  const batch = context.active();
  const parent = traceContextOf(event.metadata, batch);
  // Appended without a trace: a child of its batch. Else a child of its append, linked to the batch.
  const batchSpan = parent === batch ? undefined : validSpanContext(batch);
  const attributes: Attributes = {
    'factline.reactor.name': reactor,
    'factline.event.id': event.id,
    'factline.event.type': event.type,
    'factline.stream.name': event.stream,
    'factline.position': position(event.position),
  };
  return inSpan('factline.reactor', { kind: SpanKind.CONSUMER, attributes, links: batchSpan ? [{ context: batchSpan }] : [] }, fn, parent);
}

function validSpanContext(active: Context): SpanContext | undefined {
  const found = trace.getSpanContext(active);
  return found && trace.isSpanContextValid(found) ? found : undefined;
}

/**
 * `factline.workflow.step` (or `factline.workflow.compensation`): one try of a step, a child of
 * the trace the instance was started in, whichever engine runs it and after any restart.
 */
export function tracedStep<T>(
  kind: 'step' | 'compensation',
  step: { readonly workflow: string; readonly id: string; readonly name: string; readonly attempt: number },
  started: TraceCarrier | undefined,
  fn: () => Promise<T> | T,
): Promise<T> {
  const attributes: Attributes = {
    'factline.workflow.name': step.workflow,
    'factline.workflow.instance.id': step.id,
    'factline.workflow.step.name': step.name,
    'factline.workflow.step.attempt': step.attempt,
  };
  return inTraceContext(started, () => inSpan(`factline.workflow.${kind}`, { attributes }, fn));
}

const eventAttributes = (event: RecordedEvent): Attributes => ({
  'factline.event.id': event.id,
  'factline.event.type': event.type,
  'factline.stream.name': event.stream,
  'factline.position': position(event.position),
});

/**
 * `factline.relay.publish`: one event sent to a broker and acked, a child of the span that
 * appended it; the message carries this span's trace context, so the consumer's span is its child.
 */
export function tracedPublish<T>(relay: string, event: RecordedEvent, fn: (carrier: TraceCarrier | undefined) => Promise<T>): Promise<T> {
  const attributes: Attributes = { 'factline.relay.name': relay, ...eventAttributes(event) };
  return inSpan('factline.relay.publish', { kind: SpanKind.PRODUCER, attributes }, () => fn(traceCarrier()), traceContextOf(event.metadata, ROOT_CONTEXT));
}

/**
 * `factline.consume`: a message from another service handled and committed with its inbox entry,
 * a child of the span that published it (or appended it); what the handler appends joins the trace.
 */
export function tracedConsume<T>(consumer: string, event: RecordedEvent, headers: TraceCarrier, fn: () => Promise<T>): Promise<T> {
  const parent = traceContextOf(headers.traceparent === undefined ? event.metadata : headers, ROOT_CONTEXT);
  return inSpan('factline.consume', { kind: SpanKind.CONSUMER, attributes: { 'factline.consumer.name': consumer, ...eventAttributes(event) } }, fn, parent);
}
