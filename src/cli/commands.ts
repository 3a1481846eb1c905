import { existsSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ValidationError } from '../events/errors.js';
import type { ExpectedVersion, Metadata, RecordedEvent } from '../events/types.js';
import { internalsOf } from '../projections/internals.js';
import type { EventStore } from '../store/event-store.js';
import { openStore } from '../store/open-store.js';
import { ACTIVE_STATUSES, FINAL_STATUSES, type WorkflowRow, type WorkflowStatus } from '../workflows/backend.js';
import { info } from '../workflows/engine.js';
import { historyStream } from '../workflows/history.js';
import { exportEvents, importEvents, progressBar } from './move.js';

/** A mistake in how the command was called: exit code 2, with a hint. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

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
}

interface Args {
  readonly values: Record<string, string | boolean | undefined>;
  readonly positionals: readonly string[];
}

const DEFAULT_STORE = 'sqlite:./data/factline.db';

const common: Options = {
  store: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

const COMMON_HELP = `  --store URL   the store: sqlite:PATH, postgres://…, memory: (default: $FACTLINE_STORE, else ${DEFAULT_STORE})
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
      const { events, streams } = await importEvents(store, file, bar);
      bar.end();
      print(values, { events, streams }, () => `imported ${events.toLocaleString('en')} events in ${streams.toLocaleString('en')} streams`);
      return 0;
    },
  },
  {
    name: 'projections',
    summary: 'projections: status',
    usage: 'factline projections status [--json]',
    details: 'Shows each projection generation: status, checkpoint against the head of the log, the process holding it, and a stored failure.',
    options: {},
    positionals: ['status'],
    action: async (store, { values, positionals }) => {
      if (positionals[0] !== 'status') throw new UsageError(`unknown projections command "${positionals[0]}"`, 'try: factline projections status');
      const { backend } = internalsOf(store);
      const [rows, head, now] = await Promise.all([backend.projections.projections(), backend.headPosition(), backend.projections.now()]);
      if (rows.length === 0 && !values.json) process.stderr.write('no projections have run on this store\n');
      for (const r of rows) {
        const owner = r.owner !== '' && r.leaseUntil > now ? r.owner : '';
        const json = { name: r.name, generation: r.generation, version: r.version, status: r.error ? 'failed' : r.status, checkpoint: String(r.checkpoint), head: String(head), behind: String(head - r.checkpoint), owner, error: r.error };
        print(values, json, () => `${r.name} (generation ${r.generation}, version ${r.version}): ${json.status}, at ${r.checkpoint} of ${head}${owner ? `, run by ${owner}` : ', not running'}${r.error ? `\n  error: ${r.error}` : ''}`);
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
        for (const row of rows) print(values, rowJson(row), () => rowLine(row));
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
        if (values.json) print(values, { ...rowJson(row), history: history.map(eventJson) }, () => '');
        else {
          process.stdout.write(`${rowLine(row)}\n`);
          for (const e of history) process.stdout.write(`  ${e.recordedAt.toISOString()}  ${e.type}  ${JSON.stringify(e.data)}\n`);
        }
        return 0;
      }
      throw new UsageError(`unknown workflows command "${sub ?? ''}"`, 'try: factline workflows list, or factline workflows show <id>');
    },
  },
];

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
  const { values, positionals } = parsed as Args;
  if (values.help) {
    process.stdout.write(commandHelp(command));
    return 0;
  }
  const required = command.positionals.filter((p) => !p.endsWith('?'));
  if (positionals.length < required.length) throw new UsageError(`${command.name} needs ${required.map((p) => `<${p}>`).join(' ')}`, `usage: ${command.usage}`);
  if (positionals.length > command.positionals.length) throw new UsageError(`too many arguments for ${command.name}`, `usage: ${command.usage}`);
  // An empty FACTLINE_STORE counts as unset.
  const url = (values.store as string | undefined) ?? (process.env.FACTLINE_STORE ? process.env.FACTLINE_STORE : DEFAULT_STORE);
  const store = await openStore(url);
  try {
    return await command.action(store, { values, positionals });
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

"factline <command> --help" shows a command's own options.
`;
}

function commandHelp(command: Command): string {
  return `usage: ${command.usage}\n\n${command.details}\n\noptions:\n${COMMON_HELP}\n`;
}

// --- output --------------------------------------------------------------------------------------

function print(values: Args['values'], json: object, human: () => string): void {
  process.stdout.write(`${values.json ? JSON.stringify(json) : human()}\n`);
}

function eventJson(e: RecordedEvent): object {
  return { id: e.id, stream: e.stream, version: e.version, position: String(e.position), type: e.type, data: e.data, metadata: e.metadata, schemaVersion: e.schemaVersion, recordedAt: e.recordedAt.toISOString() };
}

function rowJson(row: WorkflowRow): object {
  return info(row);
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
  throw new ValidationError([{ path: ['--expected-version'], message: 'must be a version number, no_stream, stream_exists or any' }]);
}
