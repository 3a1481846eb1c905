import { ConfigurationError } from '../events/errors.js';
import type { RecordedEvent } from '../events/types.js';
import { startProjections, type ProjectionStatus, type WaitForOptions } from '../projections/daemon.js';
import { BatchFailure, defineReactor, withBatchHandler } from '../projections/define.js';
import { internalsOf } from '../projections/internals.js';
import { encodeEvent, eventHeaders } from './envelope.js';
import type { OutgoingMessage, RelayTransport } from './transport.js';
import { delay } from '../events/delay.js';
import { tracedPublish } from '../observability/spans.js';
import type { TraceCarrier } from '../observability/telemetry.js';

export interface RelayOptions {
  /** Names the relay's checkpoint and lease: one relay per name across all processes. */
  readonly name: string;
  /** The subject of every event, or a function choosing one per event. */
  readonly subject: string | ((event: RecordedEvent) => string);
  /** Only events of these types. Default: all. */
  readonly types?: readonly string[];
  /** Only events of streams whose name starts with this. Default: all. */
  readonly streamPrefix?: string;
  /** Events read and sent per checkpoint. Default 500. */
  readonly batchSize?: number;
  /** A relay whose lease lapses this long (ms) is taken over by another process. Default 10,000. */
  readonly leaseTtl?: number;
  /**
   * When the broker refuses an event for good (too large, a subject no stream captures): `'stop'`
   * (default) stops the relay on it until restarted; `'dead-letter'` records it and goes on.
   */
  readonly onFailure?: 'stop' | 'dead-letter';
}

export interface Relay {
  /** Checkpoint, lag, state (`live`, `standby` when another process relays, `failed`) and last error. */
  status(): ProjectionStatus;
  /** Resolves once every event up to `position` (an append's) is with the broker. */
  waitFor(position: bigint, options?: Pick<WaitForOptions, 'timeout'>): Promise<void>;
  /** Stops after the batch in flight, releases the lease and closes the transport. */
  close(): Promise<void>;
}

const RETRY = { initial: 100, max: 5000 };

/**
 * Sends the store's committed events to a broker, in order, and records how far it got only after
 * the broker has acked: a crash sends some events again, which the broker drops by id. Events of
 * one stream are sent one after the other; different streams' events are in flight together.
 */
export async function relay(store: unknown, transport: RelayTransport, options: RelayOptions): Promise<Relay> {
  const core = internalsOf(store);
  const o = checkRelayOptions(options);
  const subjectOf = typeof o.subject === 'string' ? () => o.subject as string : o.subject;
  await transport.prepare();

  const send = async (message: OutgoingMessage, signal: AbortSignal) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await transport.send(message);
      } catch (error) {
        // A broker that is down or restarting comes back: wait for it, however long that takes.
        if (!transport.transient(error) || signal.aborted) throw error;
        if (attempt === 1 || attempt % 20 === 0) core.logger.warn({ relay: o.name, eventId: message.id, attempt, err: error }, 'relay: broker unavailable, retrying');
        await delay(Math.min(RETRY.max, RETRY.initial * 2 ** Math.min(attempt - 1, 10)), signal);
      }
    }
  };

  const reactor = withBatchHandler(
    defineReactor({
      name: o.name,
      ...(o.types ? { types: o.types } : {}),
      retries: 3,
      onFailure: o.onFailure ?? 'stop',
      handle: () => {
        throw new Error('relays take whole batches');
      },
    }),
    async (events, { signal }) => {
      // Each stream's events chain on the previous one's ack: per-stream order survives a failure
      // in the middle, as nothing after a failed event of its stream was sent.
      const tails = new Map<string, Promise<void>>();
      const sent = events.map((event) => {
        if (o.streamPrefix !== undefined && !event.stream.startsWith(o.streamPrefix)) return Promise.resolve();
        const previous = tails.get(event.stream) ?? Promise.resolve();
        const next = previous.then(() => tracedPublish(o.name, event, (trace) => send(toMessage(event, subjectOf(event), trace), signal)));
        tails.set(event.stream, next);
        return next;
      });
      const results = await Promise.allSettled(sent);
      const failed = results.findIndex((r) => r.status === 'rejected');
      if (failed >= 0) throw new BatchFailure(failed, (results[failed] as PromiseRejectedResult).reason);
    },
  );
  let daemon;
  try {
    daemon = await startProjections(store, [reactor], { batchSize: o.batchSize ?? 500, leaseTtl: o.leaseTtl ?? 10_000, backoff: RETRY });
  } catch (error) {
    await transport.close();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    status: () => daemon.status()[0]!,
    waitFor: (position, waitOptions) => daemon.waitFor(position, { ...(waitOptions?.timeout === undefined ? {} : { timeout: waitOptions.timeout }) }),
    close: () =>
      (closing ??= (async () => {
        await daemon.close();
        await transport.close();
      })()),
  };
}

function toMessage(event: RecordedEvent, subject: string, trace: TraceCarrier | undefined): OutgoingMessage {
  const problem = subjectProblem(subject);
  if (problem) throw new ConfigurationError(`the subject chosen for event ${event.id} ${problem}`);
  return { id: event.id, subject, headers: { ...eventHeaders(event), ...trace }, body: encodeEvent(event), event };
}

/** Why a subject cannot be published to: dot-separated tokens, no spaces, no wildcards. */
export function subjectProblem(subject: unknown): string | undefined {
  if (typeof subject !== 'string' || subject === '') return 'must be a non-empty string';
  if (subject.length > 1024) return 'is longer than 1024 characters';
  const tokens = subject.split('.');
  if (tokens.some((t) => t === '')) return `"${subject}" has an empty token`;
  if (tokens.some((t) => /[\s*>]/.test(t))) return `"${subject}" has a space or a wildcard (* >)`;
  return undefined;
}

function checkRelayOptions(options: RelayOptions): RelayOptions {
  if (typeof options !== 'object' || options === null) throw new ConfigurationError('relay options must be an object');
  const { subject, streamPrefix, types } = options;
  if (typeof subject !== 'function') {
    const problem = subjectProblem(subject);
    if (problem) throw new ConfigurationError(`subject ${problem}`);
  }
  if (streamPrefix !== undefined && (typeof streamPrefix !== 'string' || streamPrefix === '')) throw new ConfigurationError('streamPrefix must be a non-empty string');
  if (types !== undefined && (!Array.isArray(types) || types.length === 0)) throw new ConfigurationError('types must be a non-empty array of event types');
  return options;
}
