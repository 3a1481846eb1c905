import { ValidationError } from '../events/errors.js';
import { CONTROL, checkOptions, nameProblem } from '../events/validate.js';
import { MAX_POSITION } from './backend.js';
import type { CausationChainOptions, CorrelatedOptions, ListStreamsOptions, ReadAllOptions, ReadStreamOptions, SubscribeOptions } from './event-store.js';

export interface StreamRead {
  readonly from: number;
  readonly to: number;
  readonly direction: 'forward' | 'backward';
  readonly limit: number;
  readonly until?: number;
}

export interface AllRead {
  readonly after: bigint;
  readonly limit: number;
  readonly types?: readonly string[];
  readonly streamPrefix?: string;
}

// A lone surrogate cannot be in a stored name, and databases would each read it differently.
const isText = (value: unknown): value is string => typeof value === 'string' && value.isWellFormed();

const isNamePart = (value: unknown): value is string => isText(value) && !CONTROL.test(value);

const fail = (path: string, message: string): never => {
  throw new ValidationError([{ path: ['options', path], message }]);
};

function count(value: unknown, path: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) fail(path, `must be an integer ≥ ${min}`);
  return value as number;
}

export function streamReadOptions(input: ReadStreamOptions | undefined): StreamRead {
  const o = checkOptions(input);
  const direction = o.direction ?? 'forward';
  if (direction !== 'forward' && direction !== 'backward') fail('direction', "must be 'forward' or 'backward'");
  let until: number | undefined;
  if (o.until !== undefined) {
    if (!(o.until instanceof Date) || Number.isNaN(o.until.getTime())) fail('until', 'must be a valid Date');
    until = (o.until as Date).getTime();
  }
  return {
    from: count(o.from, 'from', 1, 0),
    to: count(o.to, 'to', Number.MAX_SAFE_INTEGER, 0),
    direction: direction as 'forward' | 'backward',
    limit: count(o.limit, 'limit', Number.MAX_SAFE_INTEGER, 0),
    ...(until === undefined ? {} : { until }),
  };
}

export function streamsReadOptions(input: ListStreamsOptions | undefined): { after: string; prefix: string; limit: number } {
  const o = checkOptions(input);
  // A stream name has no control characters: a prefix or an `after` with one is a mistake (and
  // PostgreSQL cannot take a NUL in text).
  if (o.prefix !== undefined && !isNamePart(o.prefix)) fail('prefix', 'must be a well-formed string without control characters');
  if (o.after !== undefined && !isNamePart(o.after)) fail('after', 'must be a well-formed string without control characters');
  return { after: (o.after as string | undefined) ?? '', prefix: (o.prefix as string | undefined) ?? '', limit: count(o.limit, 'limit', Number.MAX_SAFE_INTEGER, 0) };
}

export function correlatedReadOptions(correlationId: unknown, input: CorrelatedOptions | undefined): { after: bigint; limit: number } {
  // An id no append would take cannot be found: asking for one is a mistake.
  const problem = nameProblem(correlationId);
  if (problem) throw new ValidationError([{ path: ['correlationId'], message: problem }]);
  const o = checkOptions(input);
  const after = o.after ?? 0n;
  if (typeof after !== 'bigint' || after < 0n || after > MAX_POSITION) fail('after', 'must be a bigint from 0n to 2n ** 63n - 1n');
  return { after: after as bigint, limit: count(o.limit, 'limit', Number.MAX_SAFE_INTEGER, 0) };
}

/** A causation chain is answered whole, not in pages: its size is bounded. */
const MAX_CHAIN = 10_000;

export function chainReadOptions(eventId: unknown, input: CausationChainOptions | undefined): { limit: number } {
  if (typeof eventId !== 'string') throw new ValidationError([{ path: ['eventId'], message: 'must be a string' }]);
  const limit = checkOptions(input).limit ?? 1000;
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1 || limit > MAX_CHAIN) fail('limit', `must be an integer from 1 to ${MAX_CHAIN}`);
  return { limit: limit as number };
}

export function allReadOptions(input: ReadAllOptions | SubscribeOptions | undefined): AllRead {
  const o = checkOptions(input);
  const after = o.after ?? 0n;
  if (typeof after !== 'bigint' || after < 0n || after > MAX_POSITION) fail('after', 'must be a bigint from 0n to 2n ** 63n - 1n');
  const types = o.types;
  if (types !== undefined && (!Array.isArray(types) || !types.every(isText))) fail('types', 'must be an array of well-formed strings');
  const prefix = o.streamPrefix;
  if (prefix !== undefined && !isNamePart(prefix)) fail('streamPrefix', 'must be a well-formed string without control characters');
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) fail('signal', 'must be an AbortSignal');
  return {
    after: after as bigint,
    limit: count(o.limit, 'limit', Number.MAX_SAFE_INTEGER, 0),
    ...(types === undefined ? {} : { types: types as string[] }),
    ...(prefix === undefined || prefix === '' ? {} : { streamPrefix: prefix as string }),
  };
}
