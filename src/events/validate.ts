import {
  EventTooLargeError,
  InvalidStreamNameError,
  ValidationError,
  type ValidationIssue,
} from './errors.js';
import { findNonJson, utf8Length } from './json.js';
import type { ExpectedVersion, NewEvent } from './types.js';
import { isUuid, uuidv7 } from './uuid.js';

export const MAX_NAME_LENGTH = 256;
// C0 and C1 control characters, DEL included.
export const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** An event checked and serialized, ready for any adapter to write as it is. */
export interface PreparedEvent {
  readonly id: string;
  readonly type: string;
  /** JSON text of `data`, exactly what is read back. */
  readonly data: string;
  /** JSON text of the metadata, or null when there is none. */
  readonly metadata: string | null;
  /** `metadata.correlationId` and `metadata.causationId`, for the indexes that find an event by them. */
  readonly correlationId: string | null;
  readonly causationId: string | null;
  readonly schemaVersion: number;
  /** True when the caller chose the id; only such ids can already be in the store. */
  readonly idGiven: boolean;
  /** When it was recorded, for an event moved from another store (epoch ms); else the commit's time. */
  readonly recordedAt?: number;
}

export function checkStreamName(stream: unknown): asserts stream is string {
  const reason = nameProblem(stream);
  if (reason) throw new InvalidStreamNameError(stream, reason);
}

/** Why a stream name, an event type, a correlation or a causation id cannot be one; undefined when it can. */
export function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'must be a string';
  if (name.length === 0) return 'must not be empty';
  if (name.length > MAX_NAME_LENGTH) return `longer than ${MAX_NAME_LENGTH} characters`;
  if (CONTROL.test(name)) return 'contains a control character';
  if (!name.isWellFormed()) return 'contains a lone surrogate';
  return undefined;
}

/** An options argument: absent, or an object. */
export function checkOptions(value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null) throw new ValidationError([{ path: ['options'], message: 'must be an object' }]);
  return value as Record<string, unknown>;
}

export function checkExpectedVersion(value: unknown): ExpectedVersion {
  if (value === undefined) return 'any';
  if (value === 'any' || value === 'no_stream' || value === 'stream_exists') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  throw new ValidationError([
    { path: ['options', 'expectedVersion'], message: "must be a version (integer ≥ 0), 'any', 'no_stream' or 'stream_exists'" },
  ]);
}

/**
 * Checks every event of one append and serializes it; throws before anything is written.
 * All issues are collected so that one error names every bad event.
 */
export function prepareEvents(
  stream: string,
  events: unknown,
  maxEventSize: number,
  versionOf: (type: string) => number = () => 1,
  links: Links = 'check',
): PreparedEvent[] {
  if (!Array.isArray(events)) throw new ValidationError([{ path: ['events'], message: 'must be an array' }]);
  const issues: ValidationIssue[] = [];
  const prepared: PreparedEvent[] = [];
  const ids = new Set<string>();
  for (let i = 0; i < events.length; i++) {
    const event = prepareEvent(events[i], i, issues, versionOf, links);
    if (!event) continue;
    if (ids.has(event.id)) issues.push({ path: ['events', i, 'id'], message: `id ${event.id} appears twice in this append` });
    ids.add(event.id);
    const size = serializedSize(event, maxEventSize);
    if (size > maxEventSize) throw new EventTooLargeError(stream, i, size, maxEventSize);
    prepared.push(event);
  }
  if (issues.length > 0) throw new ValidationError(issues);
  return prepared;
}

/**
 * `'check'`: a correlation or causation id in the metadata must be a valid one. `'keep'`, for
 * events moved from a store older than that rule: metadata is kept as it is, and an id that is
 * not valid is left out of the indexes (as the schema migrations do).
 */
export type Links = 'check' | 'keep';

function prepareEvent(event: unknown, i: number, issues: ValidationIssue[], versionOf: (type: string) => number, links: Links): PreparedEvent | undefined {
  const at = (...path: (string | number)[]) => ['events', i, ...path];
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    issues.push({ path: at(), message: 'must be an object with type and data' });
    return undefined;
  }
  const { type, data, id, metadata } = event as NewEvent;
  const before = issues.length;
  const typeProblem = nameProblem(type);
  if (typeProblem) issues.push({ path: at('type'), message: typeProblem });
  if (id !== undefined && (typeof id !== 'string' || !isUuid(id))) issues.push({ path: at('id'), message: 'must be a UUID' });
  if (data === undefined) issues.push({ path: at('data'), message: 'is required (use null for no data)' });
  else pushIssue(issues, findNonJson(data, at('data')));
  if (metadata !== undefined) checkMetadata(metadata, at('metadata'), issues, links);
  if (issues.length > before) return undefined;
  return {
    id: id === undefined ? uuidv7() : id.toLowerCase(),
    type,
    data: JSON.stringify(data),
    metadata: metadata === undefined || isEmpty(metadata) ? null : JSON.stringify(metadata),
    ...linksOf(metadata),
    schemaVersion: versionOf(type),
    idGiven: id !== undefined,
  };
}

// Correlation and causation ids follow the rules of a stream name: small index entries, and
// columns that hold what the metadata says.
function checkMetadata(metadata: unknown, path: (string | number)[], issues: ValidationIssue[], links: Links): void {
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    issues.push({ path, message: 'must be a plain object' });
    return;
  }
  for (const key of ['correlationId', 'causationId'] as const) {
    const value = (metadata as Record<string, unknown>)[key];
    if (value === undefined) continue;
    const problem = links === 'check' || typeof value !== 'string' ? nameProblem(value) : undefined;
    if (problem) issues.push({ path: [...path, key], message: problem });
  }
  pushIssue(issues, findNonJson(metadata, path));
}

/**
 * The correlation and causation ids that index an event, from its metadata: each when it is a
 * valid id, else null. A causation id that is a UUID names an event: lower-cased, as event ids
 * are stored, so that it is found whatever its case (as `getEvents` finds ids).
 */
export function linksOf(metadata: unknown): { correlationId: string | null; causationId: string | null } {
  const { correlationId, causationId } = (typeof metadata === 'object' && metadata !== null ? metadata : {}) as Record<string, unknown>;
  const cause = linkOf(causationId);
  return { correlationId: linkOf(correlationId), causationId: cause !== null && isUuid(cause) ? cause.toLowerCase() : cause };
}

/** The value when it is a valid correlation or causation id, else null. */
export function linkOf(value: unknown): string | null {
  return nameProblem(value) === undefined ? (value as string) : null;
}

function pushIssue(issues: ValidationIssue[], issue: ValidationIssue | undefined): void {
  if (issue) issues.push(issue);
}

function isEmpty(object: object): boolean {
  for (const key in object) if ((object as Record<string, unknown>)[key] !== undefined) return false;
  return true;
}

/** UTF-8 bytes of data and metadata; counted exactly only when the quick bound does not settle it. */
function serializedSize(event: PreparedEvent, limit: number): number {
  const units = event.data.length + (event.metadata?.length ?? 0);
  // Each UTF-16 unit is at most 3 UTF-8 bytes, so a short event needs no counting.
  if (units * 3 <= limit) return units;
  return utf8Length(event.data) + (event.metadata === null ? 0 : utf8Length(event.metadata));
}
