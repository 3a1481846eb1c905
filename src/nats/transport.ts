import type { RecordedEvent } from '../events/types.js';

/**
 * Where a relay sends events: one broker behind four calls. NATS JetStream is one such; a Kafka or
 * RabbitMQ transport is one more implementation of this interface.
 */
export interface RelayTransport {
  /** Creates the destination (a JetStream stream, a topic) or checks the one that exists. */
  prepare(): Promise<void>;
  /**
   * Sends one message and resolves once the broker has stored it (its ack). The broker drops a
   * message whose id it has seen recently: sending again after a crash is safe.
   */
  send(message: OutgoingMessage): Promise<void>;
  /** True when sending may succeed later (connection lost, timeout); false when it never will. */
  transient(error: unknown): boolean;
  close(): Promise<void>;
}

/** An event as it leaves the store. */
export interface OutgoingMessage {
  /** The event's id: the broker's de-duplication key. */
  readonly id: string;
  readonly subject: string;
  readonly headers: Readonly<Record<string, string>>;
  /** JSON text of the event (see `encodeEvent`). */
  readonly body: string;
  readonly event: RecordedEvent;
}
