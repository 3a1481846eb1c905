import { ConfigurationError, isFactlineError, StoreUnavailableError } from '../events/errors.js';

// SQLSTATE classes and codes that mean the server or the connection went away, not our request.
const UNAVAILABLE = /^(08|57P0[123]|53)/;
const NODE_NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
// The server gave up on the statement (a timeout, a cancel, a deadlock): it failed whole, and the
// same call may succeed when tried again.
const GAVE_UP = new Set(['57014', '55P03', '40001', '40P01']);
// pg reports a lost connection as an Error without a code.
const LOST = /Connection terminated|connection error|not queryable|timeout exceeded when trying to connect|Connection ended/i;

/**
 * The one place PostgreSQL's and the driver's errors become Factline's. `outcome` says what is
 * known of a write when the connection failed: `not_written` before COMMIT was sent, `unknown` once
 * it was.
 */
export function toFactlineError(error: unknown, outcome: 'unknown' | 'not_written' = 'not_written'): Error {
  if (!(error instanceof Error)) return new Error(String(error));
  if (isFactlineError(error)) return error;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && GAVE_UP.has(code)) {
    return new StoreUnavailableError(`PostgreSQL gave up on the statement (${code}: ${error.message}); nothing was written`, 'not_written', error);
  }
  if ((typeof code === 'string' && (UNAVAILABLE.test(code) || NODE_NETWORK.has(code))) || (code === undefined && LOST.test(error.message))) {
    const what = outcome === 'unknown' ? 'the connection failed while committing: the outcome is unknown' : 'nothing was written';
    return new StoreUnavailableError(`PostgreSQL is unavailable (${error.message}); ${what}`, outcome, error);
  }
  if (typeof code === 'string' && /^(28|3D000|42501)/.test(code)) {
    return new ConfigurationError(`PostgreSQL refused the store's connection or access (${code}: ${error.message})`);
  }
  return error;
}
