import { connect, headers, errors, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type StreamConfig } from '@nats-io/jetstream';
import { ConfigurationError } from '../events/errors.js';
import type { OutgoingMessage, RelayTransport } from './transport.js';

/** How to reach NATS: the servers, and any other connection option of the NATS client. */
export interface NatsConnectionOptions {
  /** `'127.0.0.1:4222'` or several. */
  readonly servers: string | readonly string[];
  /** Passed to the NATS client as they are (credentials, TLS, names). */
  readonly connection?: Omit<ConnectionOptions, 'servers'>;
}

/** Connects, and keeps reconnecting for as long as the connection is open. */
export function connectNats(options: NatsConnectionOptions, name: string): Promise<NatsConnection> {
  const servers = typeof options.servers === 'string' ? [options.servers] : [...options.servers];
  if (servers.length === 0 || !servers.every((s) => typeof s === 'string' && s !== '')) {
    throw new ConfigurationError('servers must be a NATS address such as "127.0.0.1:4222", or a list of them');
  }
  return connect({ name, maxReconnectAttempts: -1, reconnectTimeWait: 250, ...options.connection, servers });
}

export interface JetStreamTargetOptions {
  /** The JetStream stream the events are stored in. */
  readonly stream: string;
  /** Subjects the stream is created with, when it does not exist. */
  readonly subjects: readonly string[];
  /** Other settings for a stream created here (storage, retention, replicas, duplicate window). */
  readonly streamConfig?: Partial<StreamConfig>;
  /** How long to wait for each ack, ms. Default 5,000. */
  readonly ackTimeout?: number;
}

/** Publishes to a JetStream stream; each message is stored once per id within the duplicate window. */
export class JetStreamTransport implements RelayTransport {
  private readonly js: JetStreamClient;

  constructor(
    private readonly nc: NatsConnection,
    private readonly target: JetStreamTargetOptions,
  ) {
    this.js = jetstream(nc, { timeout: target.ackTimeout ?? 5000 });
  }

  /** What the stream captures, as `prepare` found or made it. */
  private captured: readonly string[] = [];

  async prepare(): Promise<void> {
    const jsm = await jetstreamManager(this.nc);
    const { stream, subjects } = this.target;
    let found;
    try {
      found = await jsm.streams.info(stream);
    } catch (error) {
      if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound)) throw error;
      found = await jsm.streams.add({ storage: 'file', ...this.target.streamConfig, name: stream, subjects: [...subjects] });
    }
    this.captured = found.config.subjects ?? [];
    const missing = subjects.filter((s) => !this.captures(s));
    if (missing.length > 0) {
      throw new ConfigurationError(`JetStream stream "${stream}" does not capture ${missing.join(', ')}: add them to its subjects, or relay to subjects it has`);
    }
  }

  /** True when the stream's subjects cover `subject` (which may have wildcards itself). */
  captures(subject: string): boolean {
    return this.captured.some((pattern) => covers(pattern, subject));
  }

  async send(message: OutgoingMessage): Promise<void> {
    // Checked here, where it is certain: JetStream would answer "no responders", which also means
    // a stream between leaders, and that is worth waiting for.
    if (!this.captures(message.subject)) throw new ConfigurationError(`JetStream stream "${this.target.stream}" does not capture subject "${message.subject}"`);
    const h = headers();
    for (const [key, value] of Object.entries(message.headers)) h.set(key, value);
    h.set('Content-Type', 'application/json');
    // A subject that another stream captures is refused rather than stored there.
    await this.js.publish(message.subject, message.body, { msgID: message.id, headers: h, expect: { streamName: this.target.stream } });
  }

  transient(error: unknown): boolean {
    if (error instanceof errors.TimeoutError || error instanceof errors.NoRespondersError || error instanceof errors.ConnectionError) return true;
    // "No responders" to a publish, which the client reports as JetStream not enabled: the stream
    // has no leader just now (a restart, an election). Its subject was checked before publishing.
    const cause = error instanceof Error ? error.cause : undefined;
    if (cause instanceof errors.RequestError && cause.isNoResponders()) return true;
    if (error instanceof errors.RequestError || error instanceof errors.ClosedConnectionError) return !this.nc.isClosed();
    // 503: JetStream is not ready yet, as just after a server restart.
    if (error instanceof JetStreamApiError) return error.status === 503;
    return false;
  }

  close(): Promise<void> {
    return closeNats(this.nc);
  }
}

/** Drains the connection, or just closes it when it cannot drain (the server is down). */
export async function closeNats(nc: NatsConnection): Promise<void> {
  if (nc.isClosed()) return;
  await nc.drain().catch(() => nc.close());
}

/**
 * True when subject pattern `pattern` matches every subject `subject` matches: token by token,
 * `*` covers one token (or a `*`), `>` the rest.
 */
export function covers(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || s[i] === '>') return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}
