import { ConfigurationError } from '../events/errors.js';
import { connectNats, JetStreamTransport, type NatsConnectionOptions } from './jetstream.js';
import { relay, type Relay, type RelayOptions } from './relay.js';
import type { StreamConfig } from '@nats-io/jetstream';

export interface RelayToNatsOptions extends NatsConnectionOptions, Omit<RelayOptions, 'name' | 'subject'> {
  /** The JetStream stream: created with `subjects` when missing, checked when there. */
  readonly stream: string;
  /** The subject of every event, or a function choosing one per event (then give `subjects`). */
  readonly subject: RelayOptions['subject'];
  /** What the stream captures, when it is created here. Default: `[subject]`. */
  readonly subjects?: readonly string[];
  /** Settings for a stream created here (replicas, retention, `duplicate_window` in ns). */
  readonly streamConfig?: Partial<StreamConfig>;
  /** Names the relay's checkpoint. Default `nats:<stream>`. */
  readonly name?: string;
}

/**
 * Publishes the store's events to a JetStream stream, each once (the event id is the
 * `Nats-Msg-Id`), in order per stream, from a checkpoint moved only after the broker's ack.
 */
export async function relayToNats(store: unknown, options: RelayToNatsOptions): Promise<Relay> {
  const { stream, subject, subjects, streamConfig, name, servers, connection, ...rest } = checkTarget(options);
  const nc = await connectNats({ servers, ...(connection ? { connection } : {}) }, `factline relay ${stream}`);
  const transport = new JetStreamTransport(nc, {
    stream,
    subjects: subjects ? [...subjects] : [subject as string],
    ...(streamConfig ? { streamConfig } : {}),
  });
  try {
    return await relay(store, transport, { ...rest, name: name ?? `nats:${stream}`, subject });
  } catch (error) {
    await transport.close();
    throw error;
  }
}

function checkTarget(options: RelayToNatsOptions): RelayToNatsOptions {
  if (typeof options !== 'object' || options === null) throw new ConfigurationError('relayToNats takes an options object');
  if (typeof options.stream !== 'string' || !/^[A-Za-z0-9_-]{1,200}$/.test(options.stream)) throw new ConfigurationError('stream must be a JetStream stream name: letters, digits, _ and -');
  if (typeof options.subject === 'function' && options.subjects === undefined) throw new ConfigurationError('with a subject function, give the subjects the stream captures');
  if (options.subjects !== undefined && (!Array.isArray(options.subjects) || options.subjects.length === 0)) throw new ConfigurationError('subjects must be a non-empty array');
  return options;
}

export { relay, type Relay, type RelayOptions } from './relay.js';
export { consumeFromNats, type ConsumeFromNatsOptions, type ConsumerStatus, type NatsConsumer } from './consumer.js';
export type { ConsumerContext, MessageHandler } from './inbox.js';
export { decodeEvent, encodeEvent, HEADERS, type ReceivedEvent } from './envelope.js';
export type { NatsConnectionOptions } from './jetstream.js';
export type { OutgoingMessage, RelayTransport } from './transport.js';
