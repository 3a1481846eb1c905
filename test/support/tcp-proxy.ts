import net from 'node:net';

export interface Proxy {
  readonly port: number;
  /**
   * The next message from the client that contains `marker` (a prepared statement's name, say)
   * reaches the server, but its reply never reaches the client: the connection is cut.
   */
  loseNextReplyTo(marker: string): void;
  close(): Promise<void>;
}

/** A TCP proxy in front of PostgreSQL that can cut a connection at the worst moment. */
export async function startProxy(host: string, port: number): Promise<Proxy> {
  const sockets = new Set<net.Socket>();
  let armed: Buffer | undefined;
  const server = net.createServer((client) => {
    const upstream = net.connect(port, host);
    sockets.add(client).add(upstream);
    let cut = false;
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      if (armed && chunk.includes(armed)) {
        armed = undefined;
        cut = true;
        setTimeout(end, 200); // long enough for the server to commit
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!cut) client.write(chunk);
    });
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    loseNextReplyTo: (marker) => void (armed = Buffer.from(marker)),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
