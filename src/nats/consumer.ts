import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { ConfigurationError, isValidationError } from '../events/errors.js';
import { internalsOf } from '../projections/internals.js';
import { decodeEvent } from './envelope.js';
import { deadLetter, inboxCollection, processOnce, type MessageHandler } from './inbox.js';
import { closeNats, connectNats, type NatsConnectionOptions } from './jetstream.js';
import { describe } from './describe.js';
import { delay } from '../events/delay.js';

export interface ConsumeFromNatsOptions extends NatsConnectionOptions {
  /** This service's store: the handler's appends and the inbox are written there. */
  readonly store: unknown;
  /** The JetStream stream to read. */
  readonly stream: string;
  /** The durable consumer's name: where it got to, kept by the server; also names the inbox. */
  readonly durable: string;
  readonly handler: MessageHandler;
  /** Only messages on these subjects. Default: all of the stream. */
  readonly filterSubjects?: readonly string[];
  /** Tries per message before `onFailure`. Default 5. */
  readonly retries?: number;
  /**
   * `'stop'` (default): the consumer stops on the message, which stays unacknowledged and comes
   * again when a consumer starts. `'dead-letter'`: it is recorded in the inbox with its error and
   * not handled again.
   */
  readonly onFailure?: 'stop' | 'dead-letter';
  /**
   * How long (ms) the server waits for an ack before it delivers the message again: how soon a
   * consumer that died is covered for. Default 30,000.
   */
  readonly ackWait?: number;
  /** Waits between tries: from `initial` ms doubling to `max`. Default 100 → 5,000. */
  readonly backoff?: { readonly initial?: number; readonly max?: number };
}

export interface ConsumerStatus {
  /** `running`; `failed`: stopped on a message (see `lastError`); `stopped`: closed. */
  readonly state: 'running' | 'failed' | 'stopped';
  /** Messages handled by this process. */
  readonly processed: number;
  /** Deliveries the inbox had seen already: skipped. */
  readonly duplicates: number;
  readonly deadLettered: number;
  readonly lastError: { readonly message: string; readonly eventId: string; readonly attempts: number; readonly at: Date } | undefined;
}

export interface NatsConsumer {
  status(): ConsumerStatus;
  /** Stops after the message in hand and closes the connection. */
  close(): Promise<void>;
}

const NAME = /^[A-Za-z0-9_-]{1,200}$/;

/**
 * Reads a JetStream stream through a durable consumer and hands each message to `handler` once:
 * its appends commit with an inbox entry in one transaction, so a message delivered again (after a
 * crash, a lost ack) is skipped. Messages are handled one at a time, in the stream's order: the
 * server hands out the next only once the last is acked (also after a crash, when the unacked one
 * comes again first), and a failing one is tried again in place, so those after it wait.
 */
export async function consumeFromNats(options: ConsumeFromNatsOptions): Promise<NatsConsumer> {
  const o = checkOptions(options);
  const core = internalsOf(o.store);
  const retries = o.retries ?? 5;
  const ackWait = o.ackWait ?? 30_000;
  const backoff = { initial: o.backoff?.initial ?? 100, max: o.backoff?.max ?? 5000 };
  const inbox = inboxCollection(o.durable);
  const nc = await connectNats(o, `factline consumer ${o.durable}`);
  try {
    await ensureConsumer(nc, o);
  } catch (error) {
    await closeNats(nc);
    throw error;
  }
  const stop = new AbortController();
  const aborted = new Promise<undefined>((resolve) => stop.signal.addEventListener('abort', () => resolve(undefined), { once: true }));
  let state: ConsumerStatus['state'] = 'running';
  let processed = 0;
  let duplicates = 0;
  let deadLettered = 0;
  let lastError: ConsumerStatus['lastError'];

  /** The store closed or the consumer is closing: leave the message for the next consumer. */
  const stopping = () => stop.signal.aborted || core.closed();

  const handle = async (msg: JsMsg): Promise<'acked' | 'stop'> => {
    // While it is handled, the broker holds the message for this consumer (a slow handler is not
    // given to another one too); on a stop, it goes to the next consumer at once.
    const holding = setInterval(() => msg.working(), Math.max(50, Math.floor(ackWait / 3)));
    try {
      const outcome = await handleHeld(msg);
      if (outcome === 'stop') msg.nak();
      return outcome;
    } finally {
      clearInterval(holding);
    }
  };

  const handleHeld = async (msg: JsMsg): Promise<'acked' | 'stop'> => {
    let event;
    try {
      event = decodeEvent(new TextDecoder().decode(msg.data));
    } catch (error) {
      core.logger.error({ consumer: o.durable, subject: msg.subject, sequence: msg.seq, err: error }, 'consumer: not a Factline event; dropped');
      msg.term(); // no reason given: servers before 2.10 do not take one, and deliver the message again
      return 'acked';
    }
    const trace = { traceparent: msg.headers?.get('traceparent') || undefined, tracestate: msg.headers?.get('tracestate') || undefined };
    const delivery = { consumer: o.durable, trace, subject: msg.subject, sequence: msg.seq, deliveries: msg.info.deliveryCount, signal: stop.signal };
    for (let attempt = 1; ; attempt++) {
      try {
        const outcome = await processOnce(core, inbox, event, o.handler, delivery);
        if (outcome === 'duplicate') duplicates++;
        else processed++;
        msg.ack();
        lastError = undefined;
        return 'acked';
      } catch (error) {
        if (stopping()) return 'stop';
        lastError = { message: describe(error), eventId: event.id, attempts: attempt, at: new Date() };
        core.logger.warn({ consumer: o.durable, eventId: event.id, attempt, err: error }, 'consumer handler failed');
        // A message that can never be taken (bad events) fails the same way each time: no waiting.
        if (attempt >= retries || isValidationError(error)) {
          if (o.onFailure === 'dead-letter') {
            await deadLetter(core, inbox, event, delivery, error);
            deadLettered++;
            msg.term();
            core.logger.error({ consumer: o.durable, eventId: event.id, err: error }, 'message sent to the dead letters');
            return 'acked';
          }
          core.logger.error({ consumer: o.durable, eventId: event.id, err: error }, 'consumer stopped: it failed on a message');
          return 'stop';
        }
        await delay(Math.min(backoff.max, backoff.initial * 2 ** (attempt - 1)), stop.signal);
      }
    }
  };

  // One pull of one message at a time: while a message is handled no pull is open on the server,
  // so a message let go on close is not handed to this consumer's stale pull, but to the next.
  const PULL_EXPIRES = 2000;
  const run = async () => {
    const consumer = await jetstream(nc).consumers.get(o.stream, o.durable);
    let failures = 0;
    while (!stopping()) {
      let msg;
      try {
        const pulled = consumer.next({ expires: PULL_EXPIRES });
        // Closing does not wait for the pull (the server may be away): what it brings later goes back.
        msg = await Promise.race([pulled, aborted]);
        if (msg === undefined) {
          void pulled.then((late) => late?.nak(), () => {});
          return;
        }
        failures = 0;
      } catch (error) {
        if (stopping()) return;
        // The server is away (a restart, a network cut): ask again, less often the longer it lasts.
        if (failures++ % 20 === 0) core.logger.warn({ consumer: o.durable, err: error }, 'consumer: reading failed, trying again');
        await delay(Math.min(backoff.max, backoff.initial * 2 ** Math.min(failures - 1, 10)), stop.signal);
        continue;
      }
      if (!msg) continue;
      if (stopping()) {
        msg.nak();
        return;
      }
      if ((await handle(msg)) === 'stop') {
        if (!stopping()) state = 'failed';
        return;
      }
    }
  };

  const running = run().catch((error: unknown) => {
    state = 'failed';
    core.logger.error({ consumer: o.durable, err: error }, 'consumer stopped');
  });

  let closing: Promise<void> | undefined;
  return {
    status: () => ({ state: state === 'running' && core.closed() ? 'stopped' : state, processed, duplicates, deadLettered, lastError }),
    close: () =>
      (closing ??= (async () => {
        stop.abort();
        await running;
        if (state === 'running') state = 'stopped';
        await closeNats(nc);
      })()),
  };
}

/**
 * Creates the durable consumer, or brings the one there to these settings: the subjects it reads,
 * the ack wait, and one message unacked at a time (what keeps the order).
 */
async function ensureConsumer(nc: NatsConnection, o: ConsumeFromNatsOptions): Promise<void> {
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(o.stream);
  } catch (error) {
    if (error instanceof JetStreamApiError && error.status === 404) throw new ConfigurationError(`JetStream stream "${o.stream}" does not exist: start the producing service's relay first`);
    throw error;
  }
  const filters = o.filterSubjects ? [...o.filterSubjects] : [];
  const settings = {
    max_ack_pending: 1,
    ack_wait: (o.ackWait ?? 30_000) * 1_000_000,
    ...(filters.length === 1 ? { filter_subject: filters[0]! } : filters.length > 1 ? { filter_subjects: filters } : {}),
  };
  let existing;
  try {
    existing = await jsm.consumers.info(o.stream, o.durable);
  } catch (error) {
    if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.ConsumerNotFound)) throw error;
  }
  if (!existing) {
    await jsm.consumers.add(o.stream, { durable_name: o.durable, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ...settings });
    return;
  }
  if (existing.config.ack_policy !== AckPolicy.Explicit) {
    throw new ConfigurationError(`consumer "${o.durable}" of stream "${o.stream}" exists without explicit acks: give another durable name`);
  }
  const c = existing.config;
  const reads = (c.filter_subjects ?? (c.filter_subject ? [c.filter_subject] : [])).join(' ');
  const same = c.max_ack_pending === 1 && c.ack_wait === settings.ack_wait && reads === filters.join(' ');
  if (same) return;
  try {
    await jsm.consumers.update(o.stream, o.durable, settings);
  } catch (error) {
    throw new ConfigurationError(`consumer "${o.durable}" of stream "${o.stream}" exists with other settings that cannot be changed (${describe(error)}): give another durable name`);
  }
}

function checkOptions(options: ConsumeFromNatsOptions): ConsumeFromNatsOptions {
  if (typeof options !== 'object' || options === null) throw new ConfigurationError('consumeFromNats takes an options object');
  const { stream, durable, handler, retries, onFailure, filterSubjects } = options;
  if (typeof stream !== 'string' || !NAME.test(stream)) throw new ConfigurationError('stream must be a JetStream stream name: letters, digits, _ and -');
  if (typeof durable !== 'string' || !NAME.test(durable)) throw new ConfigurationError('durable must be a consumer name: letters, digits, _ and -');
  if (typeof handler !== 'function') throw new ConfigurationError('handler must be a function (event, context) => ...');
  if (retries !== undefined && (!Number.isSafeInteger(retries) || retries < 1 || retries > 1000)) throw new ConfigurationError('retries must be an integer from 1 to 1000');
  if (options.ackWait !== undefined && (!Number.isSafeInteger(options.ackWait) || options.ackWait < 100)) throw new ConfigurationError('ackWait must be a whole number of ms, at least 100');
  if (onFailure !== undefined && onFailure !== 'stop' && onFailure !== 'dead-letter') throw new ConfigurationError("onFailure must be 'stop' or 'dead-letter'");
  if (filterSubjects !== undefined && (!Array.isArray(filterSubjects) || !filterSubjects.every((s) => typeof s === 'string' && s !== ''))) {
    throw new ConfigurationError('filterSubjects must be an array of subjects');
  }
  return options;
}
