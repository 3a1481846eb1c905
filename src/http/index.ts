import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigurationError } from '../events/errors.js';
import type { EventStore } from '../store/event-store.js';
import { DEFAULT_MAX_BODY, createHttpApp, type HttpAppOptions } from './app.js';

export { createHttpApp, type HttpApp, type HttpAppOptions } from './app.js';
export type { DeciderEntry } from '../config.js';

export interface ServeOptions extends HttpAppOptions {
  /** Default 127.0.0.1. Beyond loopback every call needs the token. */
  readonly host?: string;
  /** Default 4000; 0 picks a free port. */
  readonly port?: number;
}

export interface Serving {
  /** Where it listens, such as http://127.0.0.1:4000/ */
  readonly url: string;
  readonly server: Server;
  /** Stops taking connections, answers what is in flight (closing its connection), waits for rebuilds it started. */
  close(): Promise<void>;
}

const LOOPBACK = /^(?:127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** Serves the HTTP API and the explorer. Bound to 127.0.0.1 unless told otherwise. */
export async function serveHttp(store: EventStore, options: ServeOptions = {}): Promise<Serving> {
  const { host = '127.0.0.1', port = 4000, ...rest } = options;
  const exposed = !LOOPBACK.test(host);
  if (exposed && rest.token === undefined) {
    throw new ConfigurationError(`serving on ${host} (beyond this machine) needs a token, and then every call needs it: give one, or bind 127.0.0.1`);
  }
  // On loopback reads are open: only loopback names may be asked for, so that a page on another
  // site cannot rebind its domain to 127.0.0.1 and read the store through the browser.
  const allowedHosts = rest.allowedHosts ?? (exposed ? undefined : [...new Set([host, 'localhost', '127.0.0.1', '[::1]'])].map((h) => (h.includes(':') && !h.startsWith('[') ? `[${h}]` : h)));
  const app = createHttpApp(store, { ...rest, protectReads: rest.protectReads ?? exposed, ...(allowedHosts ? { allowedHosts } : {}) });
  const server = createServer(app);
  // A client that asks before sending its body (Expect: 100-continue) is told to go on only when
  // the body it declares fits; otherwise it gets the 413 without sending it.
  const limit = rest.maxBodySize ?? DEFAULT_MAX_BODY;
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (!(Number(req.headers['content-length']) > limit)) res.writeContinue();
    app(req, res);
  });
  // Slow or stalled clients do not hold connections for ever.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  // Bound to every interface, the address to open on this machine is loopback's.
  const shown = address.address === '0.0.0.0' ? '127.0.0.1' : address.address === '::' ? '[::1]' : address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}/`,
    server,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Answers from now on close their connection; idle ones go now, and any left after a grace.
      const stopping = app.close();
      server.closeIdleConnections();
      const grace = setTimeout(() => server.closeAllConnections(), 2_000);
      await Promise.all([closed, stopping]);
      clearTimeout(grace);
    },
  };
}
