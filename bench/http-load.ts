// The load for bench/http.ts, in a process of its own so that the server has its event loop to
// itself: `count` requests over `clients` keep-alive connections. Prints { seconds, latencies }.
import { Agent, request } from 'node:http';

const [url, method, pathTemplate, countText, clientsText, body = ''] = process.argv.slice(2) as [string, string, string, string, string, string?];
const count = Number(countText);
const clients = Number(clientsText);
const { hostname, port } = new URL(url);
const agent = new Agent({ keepAlive: true, maxSockets: clients });
const headers = body ? { 'content-type': 'application/json', authorization: `Bearer ${process.env.TOKEN ?? ''}`, 'content-length': String(Buffer.byteLength(body)) } : {};
const expected = method === 'POST' ? 201 : 200;

const call = (path: string) =>
  new Promise<void>((resolve, reject) => {
    const req = request({ host: hostname, port, path, method, agent, headers }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === expected ? resolve() : reject(new Error(`${method} ${path} answered ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body || undefined);
  });

const latencies: number[] = [];
const start = performance.now();
await Promise.all(
  Array.from({ length: clients }, async (_, client) => {
    for (let i = client; i < count; i += clients) {
      const t = performance.now();
      await call(pathTemplate.replace('{client}', String(client)));
      latencies.push(performance.now() - t);
    }
  }),
);
const seconds = (performance.now() - start) / 1000;
agent.destroy();
process.stdout.write(JSON.stringify({ seconds, latencies }));
