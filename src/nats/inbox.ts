import { inEventContext } from '../context/message-context.js';
import { ConfigurationError } from '../events/errors.js';
import { describe } from './describe.js';
import type { NewEvent } from '../events/types.js';
import type { StoreInternals, AtomicAppend } from '../projections/internals.js';
import type { AppendOptions } from '../store/event-store.js';
import type { ReceivedEvent } from './envelope.js';
import { tracedConsume } from '../observability/spans.js';
import type { TraceCarrier } from '../observability/telemetry.js';

/** What a consumer's handler works with besides the event. */
export interface ConsumerContext {
  /**
   * Appends to this service's store. They are committed after the handler returns, in one
   * transaction with the message's inbox entry: all of them and the entry, or nothing.
   */
  append(stream: string, events: readonly NewEvent[], options?: AppendOptions): void;
  /** The subject the message came on. */
  readonly subject: string;
  /** 1 on first delivery; more when the broker delivers it again. */
  readonly deliveries: number;
  /** Aborted when the consumer closes: stop long work (the message comes again). */
  readonly signal: AbortSignal;
}

export type MessageHandler = (event: ReceivedEvent, context: ConsumerContext) => Promise<void> | void;

/** The inbox of a durable consumer: a collection user code cannot name (`$` is not allowed there). */
export const inboxCollection = (durable: string) => `$inbox:${durable}`;

class AlreadyProcessed extends Error {}

export interface Delivery {
  /** The consumer's name, for its spans. */
  readonly consumer: string;
  /** The trace context the message's headers carry, if any. */
  readonly trace: TraceCarrier;
  readonly subject: string;
  readonly sequence: number;
  readonly deliveries: number;
  readonly signal: AbortSignal;
}

/**
 * Hands `event` to `handler` once per inbox: in the event's message context (its correlation,
 * caused by it), then commits the handler's appends with the inbox entry. `'duplicate'` when the
 * inbox had it already: the handler did not run, or its effects were rolled back.
 */
export async function processOnce(core: StoreInternals, inbox: string, event: ReceivedEvent, handler: MessageHandler, delivery: Delivery): Promise<'processed' | 'duplicate'> {
  if ((await core.backend.projections.documents.get(inbox, event.id)) !== undefined) return 'duplicate';
  const appends: AtomicAppend[] = [];
  let handling = true;
  const context: ConsumerContext = {
    append: (stream, events, options) => {
      // Kept for later, it would be lost: the message is acked once the handler has returned.
      if (!handling) throw new ConfigurationError('ctx.append after the handler returned: await the work that appends');
      appends.push({ stream, events, ...(options === undefined ? {} : { options }) });
    },
    subject: delivery.subject,
    deliveries: delivery.deliveries,
    signal: delivery.signal,
  };
  try {
    await tracedConsume(delivery.consumer, event, delivery.trace, () => inEventContext(event, async () => {
      try {
        await handler(event, context);
      } finally {
        handling = false;
      }
      await core.appendAtomically(appends, async (tx) => {
        // Another consumer of the same inbox got there first: roll back.
        if ((await tx.documents.get(inbox, event.id)) !== undefined) throw new AlreadyProcessed();
        const entry = { subject: delivery.subject, sequence: delivery.sequence, stream: event.stream, version: event.version, at: new Date().toISOString() };
        await tx.put(inbox, event.id, JSON.stringify(entry));
      });
    }));
  } catch (error) {
    if (error instanceof AlreadyProcessed) return 'duplicate';
    throw error;
  }
  return 'processed';
}

/** Records a message given up on, so that it is not handled again; its error is kept in the entry. */
export async function deadLetter(core: StoreInternals, inbox: string, event: ReceivedEvent, delivery: Delivery, error: unknown): Promise<void> {
  const message = describe(error);
  await core.appendAtomically([], async (tx) => {
    const entry = { subject: delivery.subject, sequence: delivery.sequence, stream: event.stream, version: event.version, at: new Date().toISOString(), error: message };
    await tx.put(inbox, event.id, JSON.stringify(entry));
  });
}
