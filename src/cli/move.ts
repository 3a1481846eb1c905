// export and import: a store's events as NDJSON, one event per line in position order, as stored
// (data not upcast, with its schema version), so that importing them elsewhere keeps ids,
// versions, metadata and times.
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { ValidationError } from '../events/errors.js';
import type { Metadata } from '../events/types.js';
import { internalsOf, type ImportedEvent } from '../projections/internals.js';
import type { AppendResult, EventStore } from '../store/event-store.js';

const PAGE = 1000;
/** Events in one append of an import: consecutive events of one stream. */
const RUN = 500;
/** Appends of an import in flight at once: group commit puts them in few transactions, in order. */
const WINDOW = 16;

interface Line {
  id: string;
  stream: string;
  version: number;
  position: string;
  type: string;
  data: unknown;
  metadata?: Metadata;
  schemaVersion: number;
  recordedAt: string;
}

/** Writes every event to `out` (a file, or stdout when undefined); returns how many. */
export async function exportEvents(store: EventStore, out: string | undefined, progress: Progress): Promise<number> {
  const { backend } = internalsOf(store);
  const total = await backend.headPosition();
  const sink = out === undefined ? process.stdout : createWriteStream(out);
  let after = 0n;
  let count = 0;
  for (;;) {
    const page = await backend.readAll({ after, limit: PAGE });
    if (page.length === 0) break;
    let text = '';
    for (const e of page) {
      const line: Line = {
        id: e.id,
        stream: e.stream,
        version: e.version,
        position: String(e.position),
        type: e.type,
        data: JSON.parse(e.data) as unknown,
        ...(e.metadata === null ? {} : { metadata: JSON.parse(e.metadata) as Metadata }),
        schemaVersion: e.schemaVersion,
        recordedAt: new Date(e.recordedAt).toISOString(),
      };
      text += `${JSON.stringify(line)}\n`;
    }
    if (!sink.write(text)) await once(sink, 'drain');
    count += page.length;
    after = page.at(-1)!.position;
    progress(count, Number(total), 'events');
  }
  if (sink !== process.stdout) {
    sink.end();
    await once(sink, 'finish');
  }
  return count;
}

/** Appends the events of an export, in its order; returns how many events and streams. */
export async function importEvents(store: EventStore, file: string, progress: Progress): Promise<{ events: number; streams: number }> {
  const { importAppend } = internalsOf(store);
  const size = statSync(file).size;
  const input = createReadStream(file, { encoding: 'utf8' });
  const lines = createInterface({ input, crlfDelay: Infinity });
  const streams = new Set<string>();
  const inFlight = new Set<Promise<AppendResult>>();
  let failure: ValidationError | undefined;
  let run: { stream: string; first: number; line: number; events: ImportedEvent[] } | undefined;
  let count = 0;
  let n = 0;
  const flush = async () => {
    if (!run) return;
    const { stream, first, line, events } = run;
    run = undefined;
    const append = importAppend(stream, events, first === 1 ? 'no_stream' : first - 1);
    inFlight.add(append);
    append.then(
      () => inFlight.delete(append),
      (error: unknown) => {
        inFlight.delete(append);
        failure ??= new ValidationError([{ path: ['line', line], message: `${stream} from version ${first}: ${(error as Error).message}` }]);
      },
    );
    if (inFlight.size >= WINDOW) await Promise.race(inFlight).catch(() => {});
  };
  for await (const text of lines) {
    n++;
    if (failure) break;
    if (text.trim() === '') continue;
    const e = parseLine(text, n);
    if (run && (run.stream !== e.stream || run.events.length >= RUN || run.first + run.events.length !== e.version)) await flush();
    run ??= { stream: e.stream, first: e.version, line: n, events: [] };
    run.events.push({ id: e.id, type: e.type, data: e.data, ...(e.metadata ? { metadata: e.metadata } : {}), schemaVersion: e.schemaVersion, recordedAt: Date.parse(e.recordedAt) });
    streams.add(e.stream);
    count++;
    if (count % PAGE === 0) progress(input.bytesRead, size, 'bytes');
  }
  await flush();
  await Promise.allSettled(inFlight);
  if (failure) throw failure;
  progress(size, size, 'bytes');
  return { events: count, streams: streams.size };
}

function parseLine(text: string, n: number): Line {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ValidationError([{ path: ['line', n], message: `not JSON: ${(error as Error).message}` }]);
  }
  const e = value as Partial<Line> | null;
  const ok =
    typeof e === 'object' && e !== null && typeof e.id === 'string' && typeof e.stream === 'string' && Number.isSafeInteger(e.version) && (e.version ?? 0) >= 1 &&
    typeof e.type === 'string' && 'data' in e && Number.isSafeInteger(e.schemaVersion) && typeof e.recordedAt === 'string' && !Number.isNaN(Date.parse(e.recordedAt));
  if (!ok) throw new ValidationError([{ path: ['line', n], message: 'not an exported event: it needs id, stream, version, type, data, schemaVersion and recordedAt' }]);
  return e as Line;
}

/** Reports how far a long job is: done of total, in some unit. */
export type Progress = (done: number, total: number, unit: string) => void;

/** A progress bar on a terminal; nothing when stderr is not one (a summary follows either way). */
export function progressBar(label: string): Progress & { end(): void } {
  const tty = process.stderr.isTTY;
  let drawn = false;
  let last = 0;
  const draw: Progress = (done, total, unit) => {
    const now = Date.now();
    if (!tty || (now - last < 100 && done < total)) return;
    last = now;
    const share = total > 0 ? Math.min(1, done / total) : 1;
    const width = 30;
    const bar = '█'.repeat(Math.round(share * width)).padEnd(width, '░');
    process.stderr.write(`\r${label} ${bar} ${(share * 100).toFixed(0).padStart(3)}%  ${done.toLocaleString('en')} ${unit}`);
    drawn = true;
  };
  return Object.assign(draw, {
    end() {
      if (drawn) process.stderr.write('\n');
    },
  });
}
