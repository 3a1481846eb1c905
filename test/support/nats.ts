import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { inject } from 'vitest';

/** The test run's NATS server, or why there is none. */
export const nats = inject('nats');

let shared: NatsConnection | undefined;

async function connection(): Promise<NatsConnection> {
  shared ??= await connect({ servers: nats.servers! });
  return shared;
}

/** A JetStream stream name no other test uses. */
export function freshStream(): string {
  return `T_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
}

export async function deleteStream(name: string): Promise<void> {
  const jsm = await jetstreamManager(await connection());
  await jsm.streams.delete(name).catch(() => false);
}

/** The ids (`Nats-Msg-Id`) of every message stored in a stream, in stream order. */
export async function storedIds(stream: string): Promise<string[]> {
  const jsm = await jetstreamManager(await connection());
  const info = await jsm.streams.info(stream);
  const ids: string[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (m) ids.push(m.header.get('Nats-Msg-Id'));
  }
  return ids;
}

export async function closeNats(): Promise<void> {
  const c = shared;
  shared = undefined;
  await c?.close();
}

/** Polls `check` until it returns true, or fails after `timeout` ms saying what it waited for. */
export async function eventually(what: string, check: () => Promise<boolean> | boolean, timeout = 20_000): Promise<void> {
  const until = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
