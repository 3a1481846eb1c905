import pg from 'pg';

const FIRST_RETRY = 100;
const LAST_RETRY = 5000;

/**
 * LISTENs on the store's channel on a connection of its own (a pooled one could be handed to
 * someone else), and passes each notified position on. When the connection drops it reconnects
 * with backoff and then reports the current head, so commits made meanwhile still wake readers.
 * Returns the function that stops it.
 */
export function listen(
  pool: pg.Pool,
  channel: string,
  onCommit: (position: bigint) => void,
  head: () => Promise<bigint>,
): () => Promise<void> {
  let stopped = false;
  let client: pg.Client | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let delay = FIRST_RETRY;

  const retry = (broken: pg.Client) => {
    if (stopped || client !== broken) return;
    client = undefined;
    broken.end().catch(() => {});
    timer = setTimeout(() => void connect(), delay);
    delay = Math.min(delay * 2, LAST_RETRY);
  };

  const connect = async () => {
    if (stopped) return;
    const c = new pg.Client(pool.options);
    client = c;
    c.on('notification', (message) => {
      if (message.channel === channel && message.payload) onCommit(BigInt(message.payload));
    });
    c.on('error', () => retry(c));
    c.on('end', () => retry(c));
    try {
      await c.connect();
      await c.query(`LISTEN "${channel}"`);
      delay = FIRST_RETRY;
      onCommit(await head());
    } catch {
      retry(c);
    }
  };

  void connect();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await client?.end().catch(() => {});
  };
}
