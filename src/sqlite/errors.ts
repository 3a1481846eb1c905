import { ConfigurationError, isFactlineError, StoreUnavailableError } from '../events/errors.js';

/** The one place SQLite's errors become Factline's. */
export function toFactlineError(error: unknown): Error {
  if (!(error instanceof Error)) return new Error(String(error));
  if (isFactlineError(error)) return error;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') return error;
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new StoreUnavailableError('the SQLite file stayed locked by another connection past busyTimeout', 'not_written', error);
  }
  if (code.startsWith('SQLITE_IOERR') || code === 'SQLITE_FULL' || code.startsWith('SQLITE_CANTOPEN')) {
    return new StoreUnavailableError(`SQLite could not use the file (${code}); the outcome of a write is unknown`, 'unknown', error);
  }
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    return new ConfigurationError(`the file is not a usable SQLite database (${code})`);
  }
  if (code.startsWith('SQLITE_READONLY') || code === 'SQLITE_PERM') {
    return new ConfigurationError(`the SQLite file or its folder cannot be written (${code}); the store needs write access`);
  }
  return error;
}
