import { connect } from 'node:net';
import type { TestProject } from 'vitest/node';

/**
 * Checks that NATS (with JetStream) answers at 127.0.0.1:4222 or `FACTLINE_TEST_NATS`. Without it
 * the NATS tests skip, saying why, except in CI, where that is a failure.
 */
export default async function setup(project: TestProject): Promise<void> {
  const servers = process.env.FACTLINE_TEST_NATS ?? '127.0.0.1:4222';
  const [host, port] = servers.split(':');
  const error = await new Promise<Error | undefined>((resolve) => {
    const socket = connect({ host: host!, port: Number(port ?? 4222), timeout: 3000 });
    socket.once('data', (chunk: Buffer) => {
      socket.destroy();
      resolve(chunk.toString().startsWith('INFO') ? undefined : new Error('not a NATS server'));
    });
    socket.once('error', resolve);
    socket.once('timeout', () => {
      socket.destroy();
      resolve(new Error('timed out'));
    });
  });
  if (!error) {
    project.provide('nats', { servers });
    return;
  }
  const reason = `NATS is not reachable at ${servers} (${error.message}); set FACTLINE_TEST_NATS to use another server`;
  if (process.env.CI) throw new Error(`${reason}. CI needs it.`);
  console.warn(`\nSkipping the NATS tests: ${reason}\n`);
  project.provide('nats', { reason });
}

declare module 'vitest' {
  export interface ProvidedContext {
    nats: { servers?: string; reason?: string };
  }
}
