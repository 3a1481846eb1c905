import type { ExpectedVersion } from './types.js';

/** Stable error codes: part of the public contract, never renamed. */
export const ErrorCode = {
  concurrency: 'CONCURRENCY',
  duplicateEventId: 'DUPLICATE_EVENT_ID',
  invalidStreamName: 'INVALID_STREAM_NAME',
  validation: 'VALIDATION',
  eventTooLarge: 'EVENT_TOO_LARGE',
  streamDeleted: 'STREAM_DELETED',
  storeClosed: 'STORE_CLOSED',
  storeUnavailable: 'STORE_UNAVAILABLE',
  configuration: 'CONFIGURATION',
  eventVersion: 'EVENT_VERSION',
  projectionFailed: 'PROJECTION_FAILED',
  timeout: 'TIMEOUT',
  nonDeterminism: 'NON_DETERMINISM',
  workflowFailed: 'WORKFLOW_FAILED',
  stepFailed: 'STEP_FAILED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The base of every error Factline throws. Test for one with its guard, which checks `code`. */
export class FactlineError extends Error {
  readonly code: ErrorCode;
  /** True when trying the same call again may succeed. */
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options?.retryable ?? false;
  }
}

/** The stream's version was not what the append or delete expected. Re-read, decide again, retry. */
export class ConcurrencyError extends FactlineError {
  constructor(
    readonly stream: string,
    readonly expected: ExpectedVersion,
    readonly actual: number,
  ) {
    super(ErrorCode.concurrency, `stream "${stream}" is at version ${actual}, expected ${String(expected)}`, {
      retryable: true,
    });
  }
}

/** An event id is already in the store with other content (another stream, type or data). */
export class DuplicateEventIdError extends FactlineError {
  constructor(
    readonly eventId: string,
    readonly stream: string,
    readonly existingStream: string,
  ) {
    super(
      ErrorCode.duplicateEventId,
      existingStream === stream
        ? `event ${eventId} is already in stream "${stream}" with other content`
        : `event ${eventId} is already in stream "${existingStream}", not "${stream}"`,
    );
  }
}

export class InvalidStreamNameError extends FactlineError {
  constructor(
    readonly stream: unknown,
    readonly reason: string,
  ) {
    super(ErrorCode.invalidStreamName, `invalid stream name ${describe(stream)}: ${reason}`);
  }
}

export interface ValidationIssue {
  /** Where the problem is, e.g. `['events', 0, 'data', 'price']`. */
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** Input that is not acceptable: each issue names where and why. Nothing was written. */
export class ValidationError extends FactlineError {
  constructor(readonly issues: readonly ValidationIssue[]) {
    super(ErrorCode.validation, issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; '));
  }
}

/** An event's serialized data and metadata exceed the store's `maxEventSize`. */
export class EventTooLargeError extends FactlineError {
  constructor(
    readonly stream: string,
    readonly index: number,
    readonly size: number,
    readonly limit: number,
  ) {
    super(
      ErrorCode.eventTooLarge,
      `event ${index} for stream "${stream}" is ${size} bytes serialized; the limit is ${limit} (option maxEventSize)`,
    );
  }
}

/** The stream was deleted: it cannot be read with `readStream` or appended to. */
export class StreamDeletedError extends FactlineError {
  constructor(readonly stream: string) {
    super(ErrorCode.streamDeleted, `stream "${stream}" is deleted`);
  }
}

export class StoreClosedError extends FactlineError {
  constructor() {
    super(ErrorCode.storeClosed, 'the store is closed');
  }
}

/**
 * The database could not be reached or stayed busy. For a write, the outcome is unknown unless
 * `outcome` says otherwise: retry with the same event ids and the append stays idempotent.
 */
export class StoreUnavailableError extends FactlineError {
  constructor(
    message: string,
    readonly outcome: 'unknown' | 'not_written',
    cause?: unknown,
  ) {
    super(ErrorCode.storeUnavailable, message, { cause, retryable: true });
  }
}

/**
 * A stored event is of a newer version of its type than this code defines: it was written by newer
 * code. Deploy readers before writers, or define the new version here.
 */
export class EventVersionError extends FactlineError {
  constructor(
    readonly eventId: string,
    readonly type: string,
    readonly stored: number,
    readonly known: number,
  ) {
    super(ErrorCode.eventVersion, `event ${eventId} of type ${type} is stored at version ${stored}; this code knows up to ${known}`);
  }
}

/** A store URL or option that cannot work. */
export class ConfigurationError extends FactlineError {
  constructor(message: string) {
    super(ErrorCode.configuration, message);
  }
}

/**
 * A projection's handler threw. Inline, the append that triggered it wrote nothing; in the daemon,
 * the projection stopped at this event (or sent it to its dead letters).
 */
export class ProjectionFailedError extends FactlineError {
  constructor(
    readonly projection: string,
    readonly eventId: string,
    readonly position: bigint,
    cause: unknown,
  ) {
    super(ErrorCode.projectionFailed, `projection "${projection}" failed on event ${eventId} at position ${position}: ${errorText(cause)}`, { cause });
  }
}

/** A wait (such as `waitFor`) ran out of time before what it waited for happened. */
export class TimeoutError extends FactlineError {
  constructor(message: string) {
    super(ErrorCode.timeout, message, { retryable: true });
  }
}

/**
 * A workflow's code no longer matches its recorded history (a step renamed, added or removed
 * before steps already run). The instance stops in `failed` instead of taking a wrong path: finish
 * it on the old code (give the new code a new `version`), or cancel it.
 */
export class NonDeterminismError extends FactlineError {
  constructor(
    readonly workflow: string,
    readonly id: string,
    /** What differs, without the instance's names. */
    readonly detail: string,
  ) {
    super(ErrorCode.nonDeterminism, `workflow "${workflow}" instance "${id}" does not replay its history: ${detail}`);
  }
}

/**
 * A workflow step threw on its last try. The workflow's code gets it (on the first run and on
 * every replay alike, so it carries the original error's name, message and code, not the object).
 */
export class StepFailedError extends FactlineError {
  constructor(
    readonly step: string,
    readonly attempts: number,
    readonly error: { readonly name: string; readonly message: string; readonly code?: string },
  ) {
    super(ErrorCode.stepFailed, `step "${step}" failed after ${attempts} ${attempts === 1 ? 'try' : 'tries'}: ${error.message}`);
  }
}

/** A workflow instance ended without a result: failed, compensated or cancelled. */
export class WorkflowFailedError extends FactlineError {
  constructor(
    readonly workflow: string,
    readonly id: string,
    readonly status: 'failed' | 'compensated' | 'cancelled',
    /** The error as recorded in its history: name and message. */
    readonly error: { readonly name: string; readonly message: string; readonly code?: string } | undefined,
  ) {
    super(ErrorCode.workflowFailed, `workflow "${workflow}" instance "${id}" ${status}${error ? `: ${error.message}` : ''}`);
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const CODES = new Set<string>(Object.values(ErrorCode));

function guard<E extends FactlineError>(code: ErrorCode): (error: unknown) => error is E {
  return (error: unknown): error is E => isFactlineError(error) && error.code === code;
}

/** True for any Factline error, even one from another copy of the package. */
export function isFactlineError(error: unknown): error is FactlineError {
  if (!(error instanceof Error)) return false;
  const code: unknown = (error as { code?: unknown }).code;
  return typeof code === 'string' && CODES.has(code);
}

export const isConcurrencyError = guard<ConcurrencyError>(ErrorCode.concurrency);
export const isDuplicateEventIdError = guard<DuplicateEventIdError>(ErrorCode.duplicateEventId);
export const isInvalidStreamNameError = guard<InvalidStreamNameError>(ErrorCode.invalidStreamName);
export const isValidationError = guard<ValidationError>(ErrorCode.validation);
export const isEventTooLargeError = guard<EventTooLargeError>(ErrorCode.eventTooLarge);
export const isStreamDeletedError = guard<StreamDeletedError>(ErrorCode.streamDeleted);
export const isStoreClosedError = guard<StoreClosedError>(ErrorCode.storeClosed);
export const isStoreUnavailableError = guard<StoreUnavailableError>(ErrorCode.storeUnavailable);
export const isConfigurationError = guard<ConfigurationError>(ErrorCode.configuration);
export const isEventVersionError = guard<EventVersionError>(ErrorCode.eventVersion);
export const isProjectionFailedError = guard<ProjectionFailedError>(ErrorCode.projectionFailed);
export const isTimeoutError = guard<TimeoutError>(ErrorCode.timeout);
export const isNonDeterminismError = guard<NonDeterminismError>(ErrorCode.nonDeterminism);
export const isStepFailedError = guard<StepFailedError>(ErrorCode.stepFailed);
export const isWorkflowFailedError = guard<WorkflowFailedError>(ErrorCode.workflowFailed);

function formatPath(path: readonly (string | number)[]): string {
  return path.length === 0 ? '(input)' : path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('').replace(/^\./, '');
}

function describe(value: unknown): string {
  if (typeof value !== 'string') return `(${value === null ? 'null' : typeof value})`;
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
}
