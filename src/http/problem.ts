import { FactlineError } from '../events/errors.js';

/** An answer that is not a success: sent as RFC 9457 problem details carrying a Factline `code`. */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: string;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  421: 'Misdirected Request',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

// The Factline errors an HTTP client can cause or should see, by the status that says it best.
const STATUS_OF_CODE: Record<string, number> = {
  VALIDATION: 400,
  INVALID_STREAM_NAME: 400,
  EVENT_VERSION: 400,
  EVENT_TOO_LARGE: 413,
  CONCURRENCY: 412,
  DUPLICATE_EVENT_ID: 409,
  STREAM_DELETED: 410,
  STORE_UNAVAILABLE: 503,
  STORE_CLOSED: 503,
  TIMEOUT: 504,
};

// What a server-side failure says: never the cause's own message (a driver's names a host).
const SERVER_DETAIL: Record<string, string> = {
  STORE_UNAVAILABLE: 'the store is unavailable for now: try again shortly',
  STORE_CLOSED: 'the store is closed',
  TIMEOUT: 'the store did not answer in time',
};

/**
 * The problem an error answers with. A refusal keeps its message (it names the input at fault);
 * a failure of the server (5xx) says only what kind it is: its cause goes to the log.
 */
export function problemOf(error: unknown): Problem & { readonly headers: Readonly<Record<string, string>> } {
  if (error instanceof HttpProblem) return { ...problem(error.status, error.code, error.message), headers: error.headers };
  if (error instanceof FactlineError) {
    const status = STATUS_OF_CODE[error.code] ?? 500;
    const detail = status < 500 ? error.message : (SERVER_DETAIL[error.code] ?? 'the server failed to answer; its log says why');
    return { ...problem(status, error.code, detail), headers: status === 503 ? { 'retry-after': '1' } : {} };
  }
  return { ...problem(500, 'INTERNAL', 'the server failed to answer; its log says why'), headers: {} };
}

function problem(status: number, code: string, detail: string): Problem {
  return { type: `urn:factline:problem:${code.toLowerCase()}`, title: TITLES[status] ?? 'Error', status, detail, code };
}
