import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineEvents, defineProjection, defineWorkflow, openStore, startProjections, startWorkflows, type RecordedEvent } from '../../src/index.js';
import { dropSchema, freshSchema, postgres } from '../support/postgres.js';

// The factline command, run as a user runs it: the built file in a child process, in a folder of
// its own, with real store files.
const CLI = join(process.cwd(), 'dist/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'factline-cli-'));
const schemas: string[] = [];
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  for (const schema of schemas) await dropSchema(schema);
});

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function factline(args: readonly string[], env: Record<string, string> = {}): Promise<Result> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], { cwd: dir, env: { ...process.env, FACTLINE_STORE: '', ...env } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const lines = (text: string) => text.split('\n').filter((l) => l !== '');

/** The URL a serving command prints on standard error. */
function printedUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stderr! });
    rl.on('line', (line) => {
      const url = /(?:explorer and API at) (\S+)/.exec(line)?.[1];
      if (url) resolve(url);
    });
    child.on('exit', (code) => reject(new Error(`exited with ${code} before serving`)));
  });
}

describe('factline', () => {
  it('--help lists the commands; each command has its own --help; --version', async () => {
    const help = await factline(['--help']);
    expect(help.code).toBe(0);
    for (const name of ['migrate', 'append', 'read', 'tail', 'projections', 'workflows']) expect(help.stdout).toMatch(new RegExp(`^  ${name}\\s`, 'm'));
    const read = await factline(['read', '--help']);
    expect(read.stdout).toMatch(/^usage: factline read <stream>/);
    expect(read.stdout).toContain('--backward');
    expect((await factline(['help', 'append'])).stdout).toMatch(/^usage: factline append/);
    expect((await factline(['--version'])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('appends and reads back on the default store, ./data/factline.db', async () => {
    expect((await factline(['migrate'])).stdout).toContain('ready');
    expect(existsSync(join(dir, 'data/factline.db'))).toBe(true);
    expect((await factline(['append', 'cart-1', 'CartOpened', '{"customer":"ada"}'])).stdout.trim()).toBe('appended to cart-1: version 1, position 1');
    await factline(['append', 'cart-1', 'ItemAdded', '{"sku":"tea"}', '--expected-version', '1', '--metadata', '{"userId":"u1"}']);
    await factline(['append', 'cart-1', 'ItemAdded', '{"sku":"jam"}']);
    const human = lines((await factline(['read', 'cart-1'])).stdout);
    expect(human.map((l) => l.split(/\s+/)[3])).toEqual(['CartOpened', 'ItemAdded', 'ItemAdded']);
    expect(human[1]).toMatch(/^v2 {2}#2 {2}\d{4}-\d\d-\d\dT.* {2}ItemAdded {2}\{"sku":"tea"\}$/);
    const json = lines((await factline(['read', 'cart-1', '--json'])).stdout).map((l) => JSON.parse(l) as { version: number; metadata: object; position: string });
    expect(json.map((e) => e.version)).toEqual([1, 2, 3]);
    expect(json[1]).toMatchObject({ position: '2', metadata: { userId: 'u1' } });
    const range = lines((await factline(['read', 'cart-1', '--from', '2', '--backward', '--json'])).stdout).map((l) => (JSON.parse(l) as { version: number }).version);
    expect(range).toEqual([3, 2]);
    expect(lines((await factline(['read', 'cart-1', '--limit', '1'])).stdout)).toHaveLength(1);
    const none = await factline(['read', 'nothing-here']);
    expect(none).toMatchObject({ code: 0, stdout: '' });
    expect(none.stderr).toContain('no events in nothing-here');
  });

  it('says what went wrong and exits non-zero: 2 for a wrong call, 1 for a refused one', async () => {
    const conflict = await factline(['append', 'cart-9', 'A', '{}', '--expected-version', '5']);
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toMatch(/stream "cart-9" is at version 0, expected 5 \[CONCURRENCY\]/);
    const cases: [string[], RegExp][] = [
      [['frob'], /unknown command "frob"/],
      [['read'], /read needs <stream>/],
      [['read', 'a', 'b'], /too many arguments/],
      [['read', 'a', '--bogus'], /Unknown option '--bogus'/],
      [['read', 'a', '--from', 'x'], /--from must be a whole number/],
      [['append', 's', 'T', '{oops'], /<json> is not JSON/],
      [['workflows', 'frob'], /unknown workflows command/],
      [['workflows', 'list', '--status', 'done'], /unknown status "done"/],
      [['projections', 'frob'], /unknown projections command/],
    ];
    for (const [args, message] of cases) {
      const result = await factline(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toMatch(message);
      expect(result.stderr).toContain('factline --help');
    }
    const badStore = await factline(['read', 'x', '--store', 'mysql://nope']);
    expect(badStore.code).toBe(1);
    expect(badStore.stderr).toMatch(/unsupported store URL.*\[CONFIGURATION\]/);
    const badExpected = await factline(['append', 's', 'T', '{}', '--expected-version', 'soon']);
    expect(badExpected).toMatchObject({ code: 2 });
    expect(badExpected.stderr).toContain('--expected-version must be a version number, no_stream, stream_exists or any, not "soon"');
    const badEvent = await factline(['append', 's', '', '{}']);
    expect(badEvent.code).toBe(1);
    expect(badEvent.stderr).toContain('[VALIDATION]');
  });

  it('tail prints events as other processes commit them, filtered by type and prefix', async () => {
    const store = `sqlite:${join(dir, 'tail.db')}`;
    await factline(['append', 'order-0', 'OrderPlaced', '{"n":0}', '--store', store]); // before the tail: not shown
    const child = spawn(process.execPath, [CLI, 'tail', '--store', store, '--prefix', 'order-', '--types', 'OrderPlaced', '--limit', '2', '--json'], { cwd: dir });
    const out: string[] = [];
    createInterface({ input: child.stdout }).on('line', (l) => out.push(l));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await new Promise((resolve) => setTimeout(resolve, 800)); // the tail is up
    await factline(['append', 'cart-5', 'OrderPlaced', '{"n":"other stream"}', '--store', store]);
    await factline(['append', 'order-1', 'OrderShipped', '{"n":"other type"}', '--store', store]);
    await factline(['append', 'order-1', 'OrderPlaced', '{"n":1}', '--store', store]);
    await factline(['append', 'order-2', 'OrderPlaced', '{"n":2}', '--store', store]);
    expect(await exited).toBe(0);
    expect(out.map((l) => (JSON.parse(l) as { data: { n: number } }).data.n)).toEqual([1, 2]);
  });

  it('projections status and workflows list and show report what runs on the store', async () => {
    const url = `sqlite:${join(dir, 'running.db')}`;
    const store = await openStore(url);
    const counter = defineProjection({ name: 'counter', version: 2, async handle(_e, { documents }) { await documents('counts').upsert('all', { n: 1 }); } });
    const daemon = await startProjections(store, [counter]);
    const { position } = await store.append('s-1', [{ type: 'Ticked', data: {} }]);
    await daemon.waitFor(position);
    await daemon.close();
    const hello = defineWorkflow({ name: 'hello', run: async (ctx, input: { who: string }) => ctx.step('greet', () => `hello ${input.who}`) });
    const waits = defineWorkflow({ name: 'waits', run: async (ctx) => ctx.waitForEvent({ type: 'Never' }) });
    const engine = await startWorkflows(store, [hello, waits]);
    await (await engine.start(hello, { who: 'ada' }, { id: 'h-1' })).result();
    const waiting = await engine.start(waits, undefined, { id: 'w-1' });
    while ((await waiting.status()).status !== 'waiting') await new Promise((resolve) => setTimeout(resolve, 10));
    await engine.close();
    await store.close();

    const status = await factline(['projections', 'status', '--store', url]);
    expect(status.stdout).toMatch(/^counter \(generation 1, version 2\): live, at 1 of \d+, not running$/m);
    const statusJson = JSON.parse(lines((await factline(['projections', 'status', '--store', url, '--json'])).stdout)[0]!) as object;
    expect(statusJson).toMatchObject({ name: 'counter', status: 'live', checkpoint: '1' });

    const list = lines((await factline(['workflows', 'list', '--store', url])).stdout);
    expect(list).toHaveLength(2);
    expect(list[0]).toMatch(/^h-1 {2}hello@1 {2}completed/);
    expect(list[1]).toMatch(/^w-1 {2}waits@1 {2}waiting .*waiting for Never/);
    expect(lines((await factline(['workflows', 'list', '--status', 'completed', '--store', url])).stdout)).toHaveLength(1);
    const show = await factline(['workflows', 'show', 'h-1', '--store', url, '--json']);
    const shown = JSON.parse(show.stdout) as { result: string; history: { type: string }[] };
    expect(shown.result).toBe('hello ada');
    expect(shown.history.map((e) => e.type)).toEqual(['WorkflowStarted', 'WorkflowStepCompleted', 'WorkflowCompleted']);
    const human = lines((await factline(['workflows', 'show', 'h-1', '--store', url])).stdout);
    expect(human).toHaveLength(4);
    const missing = await factline(['workflows', 'show', 'nope', '--store', url]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no workflow instance "nope"');
  });

  it('streams lists streams by name, filtered by prefix and paged with --after and --limit', async () => {
    const store = ['--store', 'sqlite:./data/streams.db'];
    for (const name of ['order-2', 'order-10', 'cart-1', 'order1']) await factline(['append', name, 'T', '{}', ...store]);
    await factline(['append', 'order-2', 'T', '{}', ...store]);
    expect(lines((await factline(['streams', ...store])).stdout).map((l) => l.split(/\s+/)[0])).toEqual(['cart-1', 'order-10', 'order-2', 'order1']);
    const json = lines((await factline(['streams', '--prefix', 'order-', '--json', ...store])).stdout).map((l) => JSON.parse(l) as { stream: string; version: number });
    expect(json.map((s) => [s.stream, s.version])).toEqual([['order-10', 1], ['order-2', 2]]);
    expect(lines((await factline(['streams', '--after', 'order-10', '--limit', '1', ...store])).stdout)[0]).toMatch(/^order-2 {2}v2 {2}\d{4}-/);
    const none = await factline(['streams', '--prefix', 'nothing', ...store]);
    expect([none.code, none.stdout, none.stderr]).toEqual([0, '', 'no streams starting with "nothing"\n']);
  });

  it('reads the application\'s config: its store, and the projections that projections rebuild rebuilds', async () => {
    // The application's folder: its config (the fixture, importing Factline by absolute path) and
    // its node_modules (for tsx); the command runs from another folder.
    const app = join(dir, 'app');
    mkdirSync(app);
    symlinkSync(join(process.cwd(), 'node_modules'), join(app, 'node_modules'));
    const fixture = readFileSync('test/fixtures/factline.config.ts', 'utf8').replace("'../../src/index.js'", JSON.stringify(join(process.cwd(), 'src/index.js')));
    writeFileSync(join(app, 'factline.config.ts'), fixture);
    const config = ['--config', 'app/factline.config.ts'];
    await factline(['append', 'counter-1', 'Counted', '{"by":2}', ...config]);
    await factline(['append', 'counter-1', 'Counted', '{"by":3}', ...config]);
    // The config's relative path is relative to the config file, not to where the command runs.
    expect(existsSync(join(app, 'data/configured.db'))).toBe(true);
    expect(existsSync(join(dir, 'data/configured.db'))).toBe(false);
    const rebuilt = await factline(['projections', 'rebuild', 'totals', '--json', ...config]);
    expect(rebuilt.code).toBe(0);
    expect(JSON.parse(rebuilt.stdout)).toMatchObject({ name: 'totals', generation: 1, checkpoint: '2' });
    const again = await factline(['projections', 'rebuild', 'totals', ...config]);
    expect(again.stdout).toMatch(/^rebuilt totals: generation 2, at position 2, in \d+\.\d s\n$/);
    const store = await openStore(`sqlite:${join(app, 'data/configured.db')}`);
    expect(await store.documents('totals').get('counter-1')).toEqual({ total: 5 });
    await store.close();

    const unknown = await factline(['projections', 'rebuild', 'nope', ...config]);
    expect([unknown.code, unknown.stderr]).toEqual([2, expect.stringContaining('no projection "nope" in the config\nprojections in the config: totals')]);
    const noName = await factline(['projections', 'rebuild', ...config]);
    expect(noName.code).toBe(2);
    const missing = await factline(['streams', '--config', 'nowhere.ts']);
    expect([missing.code, missing.stderr]).toEqual([2, expect.stringContaining('no config file "nowhere.ts"')]);
    writeFileSync(join(dir, 'empty.config.mjs'), 'export const nothing = 1;\n');
    const empty = await factline(['streams', '--config', 'empty.config.mjs']);
    expect([empty.code, empty.stderr]).toEqual([2, expect.stringContaining('has no default export\nend it with: export default defineConfig({ ... })')]);
    // A mistake in the config is named as such.
    writeFileSync(join(dir, 'bad.config.mjs'), 'export default { deciders: [{ name: "x", prefix: "x-" }] };\n');
    const bad = await factline(['streams', '--config', 'bad.config.mjs']);
    expect([bad.code, bad.stderr]).toEqual([1, 'factline: factline config: deciders[0] ("x") needs a decider from defineDecider [CONFIGURATION]\n']);
  });

  it('serve answers the API with the token it prints, and stops on Ctrl-C; demo serves a filled store', async () => {
    const served = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--store', 'sqlite:./data/served.db'], { cwd: dir, env: { ...process.env, FACTLINE_STORE: '', FACTLINE_TOKEN: '' } });
    const url = await printedUrl(served);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#token=[\w-]{32}$/);
    const token = url.split('#token=')[1]!;
    const append = (auth?: string) =>
      fetch(new URL('api/streams/cart-9', url), { method: 'POST', headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) }, body: '[{"type":"CartOpened","data":{}}]' });
    expect((await append()).status).toBe(401);
    expect((await append(`Bearer ${token}`)).status).toBe(201);
    expect(((await (await fetch(new URL('api/streams/cart-9', url))).json()) as { version: number }).version).toBe(1);
    // The same port again: taken, said so, exit code 2.
    const taken = await factline(['serve', '--port', new URL(url).port, '--store', 'memory:']);
    expect([taken.code, taken.stderr]).toEqual([2, expect.stringContaining(`port ${new URL(url).port} is taken\nchoose another with --port`)]);
    served.kill('SIGINT');
    expect(await new Promise((resolve) => served.on('exit', resolve))).toBe(0);

    // A failure while answering is a bare 500 to the client, and its cause is printed for the operator.
    writeFileSync(join(dir, 'broken.config.mjs'), `export default { deciders: [{ name: 'broken', prefix: 'cart-', decider: {
      initialState: () => 0, evolve: () => { throw new Error('the evolve broke'); }, decide: () => [] } }] };\n`);
    const broken = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--store', 'sqlite:./data/served.db', '--config', 'broken.config.mjs'], { cwd: dir, env: { ...process.env, FACTLINE_STORE: '' } });
    const errors: string[] = [];
    createInterface({ input: broken.stderr }).on('line', (line) => errors.push(line));
    const brokenUrl = await printedUrl(broken);
    const failed = await fetch(new URL('api/streams/cart-9/state', brokenUrl));
    expect(failed.status).toBe(500);
    expect(await failed.text()).not.toContain('evolve broke');
    for (let i = 0; i < 100 && !errors.some((l) => l.includes('HTTP request failed: the evolve broke')); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(errors.find((l) => l.includes('HTTP request failed'))).toMatch(/^\d{4}-\d\d-\d\dT\S+ error HTTP request failed: the evolve broke \{"method":"GET","url":"\/api\/streams\/cart-9\/state"\}$/);
    broken.kill('SIGINT');
    expect(await new Promise((resolve) => broken.on('exit', resolve))).toBe(0);

    // FACTLINE_STORE names the application's store: the demo does not fill it.
    const demo = spawn(process.execPath, [CLI, 'demo', '--port', '0', '--token', 'the-demo-token-0123456789'], { cwd: dir, env: { ...process.env, FACTLINE_STORE: 'sqlite:./data/application.db' } });
    const demoUrl = await printedUrl(demo);
    expect(demoUrl).not.toContain('#token');
    const streams = (await (await fetch(new URL('api/streams?prefix=account-', demoUrl))).json()) as { streams: { stream: string }[] };
    expect(streams.streams.map((s) => s.stream)).toEqual(['account-ada', 'account-alan', 'account-edsger', 'account-grace']);
    const state = (await (await fetch(new URL('api/streams/account-ada/state?version=2', demoUrl))).json()) as { state: unknown };
    expect(state.state).toEqual({ owner: 'ada', balance: 1000, transfers: [] });
    demo.kill('SIGTERM');
    expect(await new Promise((resolve) => demo.on('exit', resolve))).toBe(0);
    expect(existsSync(join(dir, 'data/application.db'))).toBe(false);
  });

  it.skipIf(postgres.reason !== undefined)(`export from SQLite and import into PostgreSQL keep every event as it was${postgres.reason ? ` (skipped: ${postgres.reason})` : ''}`, { timeout: 60_000 }, async () => {
    const source = `sqlite:${join(dir, 'source.db')}`;
    // Events of an old shape (schema version 1) read through an upcaster: moved as stored, not upcast.
    const events = defineEvents({
      Renamed: { schema: z.object({ fullName: z.string() }), version: 2, upcast: { 1: (old) => ({ fullName: (old as { name: string }).name }) } },
    });
    const old = await openStore(source);
    await old.append('person-0', [{ type: 'Renamed', data: { name: 'Ada' } }]);
    for (let i = 0; i < 2500; i++) {
      await old.append(`s-${i % 30}`, [{ type: i % 2 ? 'Odd' : 'Even', data: { i, text: `é ${i}` }, ...(i % 3 ? {} : { metadata: { correlationId: `c-${i}` } }) }]);
    }
    await old.close();
    const store = await openStore(source, { events });
    await store.append('person-0', [{ type: 'Renamed', data: { fullName: 'Ada Lovelace' } }]);
    await store.close();
    const file = join(dir, 'moved.ndjson');
    const exported = await factline(['export', '--out', file, '--store', source]);
    expect(exported.stderr).toContain('exported 2,502 events');
    const schema = freshSchema();
    schemas.push(schema);
    const target = `${postgres.url}?schema=${schema}`;
    const imported = await factline(['import', file, '--store', target, '--json']);
    expect(JSON.parse(imported.stdout)).toEqual({ events: 2502, streams: 31, added: 2502 });
    // Everything but the position, which the target gives, is the same.
    const strip = (text: string) => lines(text).map((l) => ({ ...(JSON.parse(l) as object), position: undefined }));
    const again = join(dir, 'again.ndjson');
    await factline(['export', '--out', again, '--store', target]);
    expect(strip(readFileSync(again, 'utf8'))).toEqual(strip(readFileSync(file, 'utf8')));
    const moved = await openStore(target, { events });
    const person: RecordedEvent[] = [];
    for await (const e of moved.readStream('person-0')) person.push(e);
    expect(person.map((e) => e.data)).toEqual([{ fullName: 'Ada' }, { fullName: 'Ada Lovelace' }]);
    // Moved events are indexed by their correlation ids as appended ones are.
    const correlated: RecordedEvent[] = [];
    for await (const e of moved.correlated('c-300')) correlated.push(e);
    expect(correlated.map((e) => e.data)).toEqual([{ i: 300, text: 'é 300' }]);
    await moved.close();
    // Importing again adds nothing; into a store whose streams differ, it is refused, naming where.
    expect((await factline(['import', file, '--store', target])).stdout).toBe('imported 2,502 events in 31 streams: 0 new, the others were there already\n');
    const other = `sqlite:${join(dir, 'other.db')}`;
    await factline(['append', 's-7', 'Different', '{}', '--store', other]);
    const refused = await factline(['import', file, '--store', other]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/line\[\d+\]: s-7 from version 1: .*\[VALIDATION\]/);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir, 'bad.ndjson'), '{"id":"x"}\n');
    const bad = await factline(['import', join(dir, 'bad.ndjson'), '--store', other]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/line\[1\]: not an exported event/);
    // A line of the right shape whose schema version or time the store cannot keep is refused too.
    const line = { id: '01900000-0000-7000-8000-0000000000aa', stream: 'z-1', version: 1, position: '1', type: 'T', data: {}, schemaVersion: 0, recordedAt: '2026-01-01T00:00:00.000Z' };
    writeFileSync(join(dir, 'zero.ndjson'), `${JSON.stringify(line)}\n`);
    const zero = await factline(['import', join(dir, 'zero.ndjson'), '--store', other]);
    expect(zero.code).toBe(1);
    expect(zero.stderr).toMatch(/schemaVersion: must be an integer ≥ 1 \[VALIDATION\]/);
    expect(lines((await factline(['read', 'z-1', '--store', other])).stdout)).toEqual([]);
  });

  it.skipIf(postgres.reason !== undefined)(`works on PostgreSQL with --store or FACTLINE_STORE${postgres.reason ? ` (skipped: ${postgres.reason})` : ''}`, async () => {
    const schema = freshSchema();
    schemas.push(schema);
    const url = `${postgres.url}?schema=${schema}`;
    expect((await factline(['append', 'pg-1', 'Hello', '{"from":"cli"}', '--store', url])).code).toBe(0);
    const read = await factline(['read', 'pg-1', '--json'], { FACTLINE_STORE: url });
    expect((JSON.parse(read.stdout) as { data: object }).data).toEqual({ from: 'cli' });
  });
});
