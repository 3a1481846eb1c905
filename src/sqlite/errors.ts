import { isFactlineError, StoreUnavailableError } from '../events/errors.js';

/** The one place SQLite's errors become Factline's. */
export function toFactlineError(error: unknown): Error {
  if (!(error instanceof Error)) return new Error(String(error));
  if (isFactlineError(error)) return error;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') return error;
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new StoreUnavailableError('the SQLite file stayed locked by another writer past busyTimeout; nothing was written', 'not_written', error);
  }
  if (code.startsWith('SQLITE_IOERR') || code === 'SQLITE_FULL' || code.startsWith('SQLITE_CANTOPEN')) {
    return new StoreUnavailableError(`SQLite could not write the file (${code}); the outcome is unknown`, 'unknown', error);
  }
  return error;
}
