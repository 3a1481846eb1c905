import { existsSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { ExpectedVersion, Metadata, RecordedEvent } from '../events/types.js';
import { internalsOf } from '../projections/internals.js';
import type { EventStore } from '../store/event-store.js';
import { openStore } from '../store/open-store.js';
import { ACTIVE_STATUSES, FINAL_STATUSES, type WorkflowRow, type WorkflowStatus } from '../workflows/backend.js';
import { info } from '../workflows/engine.js';
import { historyStream } from '../workflows/history.js';
import { randomBytes } from 'node:crypto';
import type { FactlineConfig } from '../config.js';
import { serveHttp } from '../http/index.js';
import { eventJson, projectionJson, streamJson } from '../http/json.js';
import { startProjections } from '../projections/daemon.js';
import { rebuildProjection } from '../projections/rebuild.js';
import { loadConfig } from './config.js';
import { stderrLogger } from './logger.js';
import { seedDemo } from './demo.js';
import { exportEvents, importEvents, progressBar } from './move.js';
import { UsageError } from './usage.js';

export { UsageError };

type Options = NonNullable<ParseArgsConfig['options']>;

interface Command {
  readonly name: string;
  readonly summary: string;
  /** Arguments and options, as `--help` shows them. */
  readonly usage: string;
  readonly details: string;
  readonly options: Options;
  readonly positionals: readonly string[];
  readonly action: (store: EventStore, args: Args) => Promise<number>;
  /** The store when none is named (else the config's, else sqlite:./data/factline.db). */
  readonly defaultStore?: string;
}

const SERVE_OPTIONS: Options = { port: { type: 'string' }, host: { type: 'string' }, token: { type: 'string' } };

interface Args {
  readonly values: Record<string, string | boolean | undefined>;
  readonly positionals: readonly string[];
  readonly config: FactlineConfig;
}

const DEFAULT_STORE = 'sqlite:./data/factline.db';

const common: Options = {
  store: { type: 'string' },
  config: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

const COMMON_HELP = `  --store URL   the store: sqlite:PATH, postgres://…, memory: (default: $FACTLINE_STORE, else the config's store, else ${DEFAULT_STORE})
  --config FILE the application's config (default: factline.config.{ts,mts,js,mjs} here, if there is one)
  --json        output for scripts: one JSON object per line
  -h, --help    this help`;

export const commands: readonly Command[] = [
  {
    name: 'migrate',
    summary: 'create or upgrade the store’s tables',
    usage: 'factline migrate [--store URL]',
    details: 'Opening a store brings its schema to the version this Factline knows; this does only that, and says so.',
    options: {},
    positionals: [],
    action: async (_store, { values }) => {
      print(values, { ok: true }, () => 'the store is ready: its schema is up to date');
      return Promise.resolve(0);
    },
  },
  {
    name: 'append',
    summary: 'append one event to a stream',
    usage: "factline append <stream> <type> <json> [--expected-version N|no_stream|stream_exists|any] [--metadata '{…}']",
    details: "Appends an event of type <type> whose data is <json>. Example: factline append cart-1 ItemAdded '{\"sku\":\"tea\"}'",
    options: { 'expected-version': { type: 'string' }, metadata: { type: 'string' } },
    positionals: ['stream', 'type', 'json'],
    action: async (store, { values, positionals }) => {
      const [stream, type, text] = positionals as [string, string, string];
      const data = parseJson(text, '<json>');
      const metadata = values.metadata === undefined ? undefined : (parseJson(values.metadata as string, '--metadata') as Metadata);
      const expectedVersion = expected(values['expected-version'] as string | undefined);
      const result = await store.append(stream, [{ type, data, ...(metadata ? { metadata } : {}) }], expectedVersion === undefined ? {} : { expectedVersion });
      print(values, { stream, version: result.version, position: String(result.position) }, () => `appended to ${stream}: version ${result.version}, position ${result.position}`);
      return 0;
    },
  },
  {
    name: 'read',
    summary: 'print the events of a stream',
    usage: 'factline read <stream> [--from N] [--to N] [--backward] [--limit N] [--json]',
    details: 'Prints version, position, time, type and data of each event, oldest first (newest first with --backward).',
    options: { from: { type: 'string' }, to: { type: 'string' }, backward: { type: 'boolean' }, limit: { type: 'string' } },
    positionals: ['stream'],
    action: async (store, { values, positionals }) => {
      const stream = positionals[0]!;
      const options = {
        ...(values.from !== undefined ? { from: int(values.from as string, '--from') } : {}),
        ...(values.to !== undefined ? { to: int(values.to as string, '--to') } : {}),
        ...(values.limit !== undefined ? { limit: int(values.limit as string, '--limit') } : {}),
        ...(values.backward ? { direction: 'backward' as const } : {}),
      };
      let count = 0;
      for await (const event of store.readStream(stream, options)) {
        count++;
        print(values, eventJson(event), () => `v${event.version}  #${event.position}  ${event.recordedAt.toISOString()}  ${event.type}  ${JSON.stringify(event.data)}`);
      }
      if (count === 0 && !values.json) process.stderr.write(`no events in ${stream}${Object.keys(options).length > 0 ? ' in that range' : ''}\n`);
      return 0;
    },
  },
  {
    name: 'streams',
    summary: 'list streams, by name',
    usage: 'factline streams [--prefix P] [--after NAME] [--limit N] [--json]',
    details: 'Lists the streams that have events, in code point order of their names, with version, last update and whether deleted.',
    options: { prefix: { type: 'string' }, after: { type: 'string' }, limit: { type: 'string' } },
    positionals: [],
    action: async (store, { values }) => {
      const limit = values.limit === undefined ? undefined : int(values.limit as string, '--limit');
      let count = 0;
      const options = { ...(values.prefix ? { prefix: values.prefix as string } : {}), ...(values.after ? { after: values.after as string } : {}), ...(limit === undefined ? {} : { limit }) };
      for await (const s of store.listStreams(options)) {
        count++;
        print(values, streamJson(s), () => `${s.stream}  v${s.version}  ${s.updatedAt.toISOString()}${s.deleted ? '  (deleted)' : ''}`);
      }
      if (count === 0 && !values.json) process.stderr.write(`no streams${values.prefix ? ` starting with "${values.prefix as string}"` : ''}\n`);
      return 0;
    },
  },
  {
    name: 'tail',
    summary: 'follow new events live (Ctrl-C to stop)',
    usage: 'factline tail [--types A,B] [--prefix P] [--from-start] [--limit N] [--json]',
    details: 'Prints each event committed from now on (with --from-start, from the beginning), across all streams, in commit order.',
    options: { types: { type: 'string' }, prefix: { type: 'string' }, 'from-start': { type: 'boolean' }, limit: { type: 'string' } },
    positionals: [],
    action: async (store, { values }) => {
      const limit = values.limit === undefined ? Infinity : int(values.limit as string, '--limit');
      const controller = new AbortController();
      process.once('SIGINT', () => controller.abort());
      process.once('SIGTERM', () => controller.abort());
      const after = values['from-start'] ? 0n : await internalsOf(store).backend.headPosition();
      const types = (values.types as string | undefined)?.split(',').filter((t) => t !== '');
      if (!values.json) process.stderr.write(`following ${values.prefix ? `streams ${values.prefix}*` : 'every stream'}${types ? ` (${types.join(', ')})` : ''}: Ctrl-C to stop\n`);
      let seen = 0;
      for await (const event of store.subscribe({ after, signal: controller.signal, ...(types ? { types } : {}), ...(values.prefix ? { streamPrefix: values.prefix as string } : {}) })) {
        print(values, eventJson(event), () => `#${event.position}  ${event.stream}  v${event.version}  ${event.type}  ${JSON.stringify(event.data)}`);
        if (++seen >= limit) controller.abort();
      }
      return 0;
    },
  },
  {
    name: 'export',
    summary: 'write every event to NDJSON (to move a store)',
    usage: 'factline export [--out FILE]',
    details: 'One event per line in position order, as stored: id, stream, version, type, data, metadata, schema version and time. To standard output unless --out names a file.',
    options: { out: { type: 'string' } },
    positionals: [],
    action: async (store, { values }) => {
      const out = values.out as string | undefined;
      const bar = progressBar('exporting');
      const count = await exportEvents(store, out, bar);
      bar.end();
      process.stderr.write(`exported ${count.toLocaleString('en')} events${out ? ` to ${out}` : ''}\n`);
      return 0;
    },
  },
  {
    name: 'import',
    summary: 'append the events of an export (ids, versions, metadata and times kept)',
    usage: 'factline import <file>',
    details: 'Appends each stream\'s events at their versions, so an import into a store that has other events in those streams is refused. Importing the same file again adds nothing.',
    options: {},
    positionals: ['file'],
    action: async (store, { values, positionals }) => {
      const file = positionals[0]!;
      if (!existsSync(file)) throw new UsageError(`no file "${file}"`, 'make one with: factline export --out FILE');
      const bar = progressBar('importing');
      const { backend } = internalsOf(store);
      const before = await backend.headPosition();
      const { events, streams } = await importEvents(store, file, bar);
      // Events already in the store are not written again: the log grew by the new ones only.
      const added = Number((await backend.headPosition()) - before);
      bar.end();
      print(values, { events, streams, added }, () =>
        `imported ${events.toLocaleString('en')} events in ${streams.toLocaleString('en')} streams: ${added === events ? 'all new' : `${added.toLocaleString('en')} new, the others were there already`}`,
      );
      return 0;
    },
  },
  {
    name: 'projections',
    summary: 'projections: status, rebuild <name>',
    usage: 'factline projections status [--json] | factline projections rebuild <name>',
    details: `status: each projection generation: status, checkpoint against the head of the log, the process holding it, and a stored failure.
rebuild: builds the projection (from the config's projections) again from the first event, beside the one serving reads, and swaps it in when it has caught up.`,
    options: {},
    positionals: ['status|rebuild', 'name?'],
    action: async (store, { values, positionals, config }) => {
      if (positionals[0] === 'rebuild') return rebuild(store, positionals[1], config, values);
      if (positionals[0] !== 'status') throw new UsageError(`unknown projections command "${positionals[0]}"`, 'try: factline projections status, or factline projections rebuild <name>');
      const { backend } = internalsOf(store);
      const [rows, head, now] = await Promise.all([backend.projections.projections(), backend.headPosition(), backend.projections.now()]);
      if (rows.length === 0 && !values.json) process.stderr.write('no projections have run on this store\n');
      for (const r of rows) {
        const json = { ...projectionJson(r, head, now), head: String(head) };
        print(values, json, () => `${r.name} (generation ${r.generation}, version ${r.version}): ${json.status}, at ${r.checkpoint} of ${head}${json.owner ? `, run by ${json.owner}` : ', not running'}${r.error ? `\n  error: ${r.error}` : ''}`);
      }
      return 0;
    },
  },
  {
    name: 'workflows',
    summary: 'workflows: list, show <id>',
    usage: 'factline workflows list [--status S] [--workflow NAME] [--limit N] [--json] | factline workflows show <id> [--json]',
    details: `list: instances, oldest first (statuses: ${[...ACTIVE_STATUSES, ...FINAL_STATUSES].join(', ')}). show: one instance and its history.`,
    options: { status: { type: 'string' }, workflow: { type: 'string' }, limit: { type: 'string' } },
    positionals: ['list|show', 'id?'],
    action: async (store, { values, positionals }) => {
      const backend = internalsOf(store).backend.workflows;
      const [sub, id] = positionals;
      if (sub === 'list') {
        const status = values.status as WorkflowStatus | undefined;
        if (status !== undefined && ![...ACTIVE_STATUSES, ...FINAL_STATUSES].includes(status)) {
          throw new UsageError(`unknown status "${status}"`, `statuses: ${[...ACTIVE_STATUSES, ...FINAL_STATUSES].join(', ')}`);
        }
        const limit = values.limit === undefined ? 100 : int(values.limit as string, '--limit');
        const rows = await backend.list({ limit, ...(status ? { status } : {}), ...(values.workflow ? { name: values.workflow as string } : {}) });
        if (rows.length === 0 && !values.json) process.stderr.write('no workflow instances\n');
        for (const row of rows) print(values, info(row), () => rowLine(row));
        return 0;
      }
      if (sub === 'show') {
        if (id === undefined) throw new UsageError('workflows show needs an instance id', 'try: factline workflows list');
        const row = await backend.get(id);
        if (!row) {
          process.stderr.write(`factline: no workflow instance "${id}"\n`);
          return 1;
        }
        const history: RecordedEvent[] = [];
        for await (const event of store.readStream(historyStream(row.name, row.id))) history.push(event);
        if (values.json) print(values, { ...info(row), history: history.map(eventJson) }, () => '');
        else {
          process.stdout.write(`${rowLine(row)}\n`);
          for (const e of history) process.stdout.write(`  ${e.recordedAt.toISOString()}  ${e.type}  ${JSON.stringify(e.data)}\n`);
        }
        return 0;
      }
      throw new UsageError(`unknown workflows command "${sub ?? ''}"`, 'try: factline workflows list, or factline workflows show <id>');
    },
  },
  {
    name: 'serve',
    summary: 'serve the HTTP API and the explorer page',
    usage: 'factline serve [--port N (default 4000)] [--host H (default 127.0.0.1)] [--token T]',
    details: `Serves the JSON API and the explorer (streams, time travel with the config's deciders, causation, live tail, projections, workflows) until Ctrl-C.
Binds 127.0.0.1 unless --host says otherwise; beyond loopback every call needs the token. Appends and rebuilds always need it:
--token, else $FACTLINE_TOKEN, else a new random one, printed in the URL to open.`,
    options: SERVE_OPTIONS,
    positionals: [],
    action: (store, { values, config }) => serve(store, values, config, 4000),
  },
  {
    name: 'demo',
    summary: 'serve the explorer over a store filled with a small example history',
    usage: 'factline demo [--port N (default 4000)] [--host H (default 127.0.0.1)] [--token T] [--store URL (default memory:)]',
    details: 'Fills a store with accounts and transfers, then serves it like factline serve, with their decider and projection registered. The store is one in memory (nothing is written to disk) unless --store names one; FACTLINE_STORE and the config are not used.',
    options: SERVE_OPTIONS,
    positionals: [],
    defaultStore: 'memory:',
    action: async (store, { values }) => {
      const demo = await seedDemo(store);
      process.stderr.write(`the demo store holds ${demo.events} events in ${demo.streams} streams\n`);
      const daemon = await startProjections(store, demo.projections);
      try {
        return await serve(store, values, { deciders: demo.deciders, projections: demo.projections }, 4000);
      } finally {
        await daemon.close();
      }
    },
  },
];

async function serve(store: EventStore, values: Args['values'], config: FactlineConfig, defaultPort: number): Promise<number> {
  const port = values.port === undefined ? defaultPort : int(values.port as string, '--port');
  const host = (values.host as string | undefined) ?? '127.0.0.1';
  const given = (values.token as string | undefined) ?? (process.env.FACTLINE_TOKEN ? process.env.FACTLINE_TOKEN : undefined);
  const token = given ?? randomBytes(24).toString('base64url');
  const serving = await serveHttp(store, { host, port, token, deciders: config.deciders ?? [], projections: config.projections ?? [] }).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new UsageError(`port ${port} is taken`, 'choose another with --port');
    throw error;
  });
  const open = given === undefined ? `${serving.url}#token=${token}` : serving.url;
  if (values.json) print(values, { url: serving.url, ...(given === undefined ? { token } : {}) }, () => '');
  else process.stderr.write(`explorer and API at ${open}\n${given === undefined ? 'appends and rebuilds need that token (Authorization: Bearer …); set --token or FACTLINE_TOKEN to choose it\n' : ''}Ctrl-C to stop\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await serving.close();
  return 0;
}

async function rebuild(store: EventStore, name: string | undefined, config: FactlineConfig, values: Args['values']): Promise<number> {
  const known = (config.projections ?? []).map((p) => p.name);
  if (name === undefined) throw new UsageError('projections rebuild needs a projection name', known.length > 0 ? `projections in the config: ${known.join(', ')}` : 'list your projections in factline.config.ts: projections: [...]');
  const projection = config.projections?.find((p) => p.name === name);
  if (!projection) {
    throw new UsageError(`no projection "${name}" in the config`, known.length > 0 ? `projections in the config: ${known.join(', ')}` : 'list your projections in factline.config.ts: projections: [...]');
  }
  const bar = progressBar(`rebuilding ${name}`);
  const started = Date.now();
  const built = await rebuildProjection(store, projection, { onProgress: (p) => bar(Number(p.done), Number(p.total), 'positions') });
  bar.end();
  print(values, { name, generation: built.generation, checkpoint: String(built.checkpoint), ms: Date.now() - started }, () => `rebuilt ${name}: generation ${built.generation}, at position ${built.checkpoint}, in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return 0;
}

export function findCommand(name: string): { readonly name: string; run(argv: readonly string[]): Promise<number> } | undefined {
  const command = commands.find((c) => c.name === name);
  return command && { name: command.name, run: (argv) => run(command, argv) };
}

async function run(command: Command, argv: readonly string[]): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options: { ...common, ...command.options }, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/\. To specify a positional argument.*$/s, ''), `usage: ${command.usage}`);
  }
  const { values, positionals } = parsed as Omit<Args, 'config'>;
  if (values.help) {
    process.stdout.write(commandHelp(command));
    return 0;
  }
  const required = command.positionals.filter((p) => !p.endsWith('?'));
  if (positionals.length < required.length) throw new UsageError(`${command.name} needs ${required.map((p) => `<${p}>`).join(' ')}`, `usage: ${command.usage}`);
  if (positionals.length > command.positionals.length) throw new UsageError(`too many arguments for ${command.name}`, `usage: ${command.usage}`);
  const { config } = await loadConfig(values.config as string | undefined);
  // An empty FACTLINE_STORE counts as unset.
  // A command with a store of its own (demo: memory) takes only --store: FACTLINE_STORE and the
  // config name the application's store, which it must not fill.
  const url =
    (values.store as string | undefined) ??
    command.defaultStore ??
    (process.env.FACTLINE_STORE ? process.env.FACTLINE_STORE : (config.store ?? DEFAULT_STORE));
  const store = await openStore(url, { ...config.options, logger: config.options?.logger ?? stderrLogger() });
  try {
    return await command.action(store, { values, positionals, config });
  } finally {
    await store.close();
  }
}

export function helpText(topic?: string): string {
  const command = topic === undefined ? undefined : commands.find((c) => c.name === topic);
  if (command) return commandHelp(command);
  const width = Math.max(...commands.map((c) => c.name.length));
  return `factline: the Factline event store from the command line

usage: factline <command> [options]

commands:
${commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

options of every command:
${COMMON_HELP}

"factline <command> --help" shows how to call a command, and its own options.
`;
}

function commandHelp(command: Command): string {
  return `usage: ${command.usage}\n\n${command.details}\n\noptions of every command:\n${COMMON_HELP}\n`;
}

// --- output --------------------------------------------------------------------------------------

function print(values: Args['values'], json: object, human: () => string): void {
  process.stdout.write(`${values.json ? JSON.stringify(json) : human()}\n`);
}

function rowLine(row: WorkflowRow): string {
  const i = info(row);
  const extra = [i.waitingFor && `waiting for ${i.waitingFor}`, i.wakeAt && `due ${i.wakeAt.toISOString()}`, i.error && `error: ${i.error.message}`].filter(Boolean);
  return `${row.id}  ${row.name}@${row.version}  ${row.status}  updated ${i.updatedAt.toISOString()}${extra.length > 0 ? `  (${extra.join('; ')})` : ''}`;
}

// --- input ---------------------------------------------------------------------------------------

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new UsageError(`${what} is not JSON: ${(error as Error).message}`, `quote it for the shell, for example: '{"sku":"tea"}'`);
  }
}

function int(text: string, what: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) throw new UsageError(`${what} must be a whole number, not "${text}"`);
  return n;
}

function expected(text: string | undefined): ExpectedVersion | undefined {
  if (text === undefined) return undefined;
  if (text === 'any' || text === 'no_stream' || text === 'stream_exists') return text;
  if (/^\d+$/.test(text)) return Number(text);
  throw new UsageError(`--expected-version must be a version number, no_stream, stream_exists or any, not "${text}"`);
}
