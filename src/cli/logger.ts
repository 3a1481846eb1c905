import type { Logger } from '../observability/logger.js';

/**
 * What the command prints of the store's log: warnings and errors, one readable line each on
 * standard error (a failure's message, then its fields), so that `factline serve` shows why a
 * request failed.
 */
export function stderrLogger(): Logger {
  const line = (level: string) => (fields: object, message?: string) => {
    const { err, error, ...rest } = fields as { err?: unknown; error?: unknown };
    const cause = err ?? error;
    const why = cause instanceof Error ? cause.message : cause === undefined ? '' : typeof cause === 'string' ? cause : JSON.stringify(cause);
    const extra = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
    process.stderr.write(`${new Date().toISOString()} ${level} ${message ?? ''}${why ? `: ${why}` : ''}${extra}\n`);
  };
  const nothing = () => {};
  return { debug: nothing, info: nothing, warn: line('warn'), error: line('error') };
}
