import { ValidationError } from '../events/errors.js';
import type { Metadata, RecordedEvent } from '../events/types.js';
import { isUuid } from '../events/uuid.js';

/** Headers every relayed message carries besides the broker's id header. */
export const HEADERS = {
  type: 'Factline-Type',
  stream: 'Factline-Stream',
  version: 'Factline-Version',
  position: 'Factline-Position',
} as const;

/** An event received from another service: as the producing store recorded it. */
export type ReceivedEvent = RecordedEvent;

/**
 * The message body: the event as JSON, with the position as a string (a bigint) and the time as
 * ISO 8601, so that consumers in any language can read it.
 */
export function encodeEvent(event: RecordedEvent): string {
  return JSON.stringify({
    id: event.id,
    stream: event.stream,
    version: event.version,
    position: event.position.toString(),
    type: event.type,
    data: event.data,
    metadata: event.metadata,
    schemaVersion: event.schemaVersion,
    recordedAt: event.recordedAt.toISOString(),
  });
}

/** The headers of a relayed event: what it is, and the trace it belongs to. */
export function eventHeaders(event: RecordedEvent): Record<string, string> {
  const headers: Record<string, string> = {
    [HEADERS.type]: event.type,
    [HEADERS.stream]: event.stream,
    [HEADERS.version]: String(event.version),
    [HEADERS.position]: event.position.toString(),
  };
  for (const key of ['traceparent', 'tracestate'] as const) {
    const value = event.metadata[key];
    if (typeof value === 'string') headers[key] = value;
  }
  return headers;
}

/** Reads a message body back into an event; a ValidationError names what is wrong. */
export function decodeEvent(body: string): ReceivedEvent {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    throw new ValidationError([{ path: ['body'], message: 'is not JSON' }]);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ValidationError([{ path: ['body'], message: 'must be an event object' }]);
  const e = raw as Record<string, unknown>;
  const issues: { path: string[]; message: string }[] = [];
  const expect = (ok: boolean, field: string, message: string) => {
    if (!ok) issues.push({ path: ['body', field], message });
  };
  expect(typeof e.id === 'string' && isUuid(e.id), 'id', 'must be a UUID');
  expect(typeof e.stream === 'string' && e.stream !== '', 'stream', 'must be a stream name');
  expect(Number.isSafeInteger(e.version) && (e.version as number) >= 1, 'version', 'must be an integer ≥ 1');
  expect(typeof e.position === 'string' && /^[1-9][0-9]{0,18}$/.test(e.position), 'position', 'must be a positive integer as a string');
  expect(typeof e.type === 'string' && e.type !== '', 'type', 'must be an event type');
  expect('data' in e, 'data', 'is required');
  expect(typeof e.metadata === 'object' && e.metadata !== null && !Array.isArray(e.metadata), 'metadata', 'must be an object');
  expect(Number.isSafeInteger(e.schemaVersion) && (e.schemaVersion as number) >= 1, 'schemaVersion', 'must be an integer ≥ 1');
  expect(typeof e.recordedAt === 'string' && !Number.isNaN(Date.parse(e.recordedAt)), 'recordedAt', 'must be an ISO 8601 time');
  if (issues.length > 0) throw new ValidationError(issues);
  return {
    id: (e.id as string).toLowerCase(),
    stream: e.stream as string,
    version: e.version as number,
    position: BigInt(e.position as string),
    type: e.type as string,
    data: e.data,
    metadata: e.metadata as Metadata,
    schemaVersion: e.schemaVersion as number,
    recordedAt: new Date(e.recordedAt as string),
  };
}
