import { ValidationError } from '../events/errors.js';

/** Milliseconds, or text such as `'500ms'`, `'30s'`, `'5m'`, `'1h30m'`, `'2d'`. */
export type Duration = number | string;

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
/** Longer than any timer needs, and well inside what a Date and a bigint column hold. */
const MAX = 100 * 365 * UNITS.d!;

/** The longest a Node.js timer waits: about 24.8 days. */
export const MAX_TIMER = 2 ** 31 - 1;

/** A duration in whole milliseconds, at most `max`; a clear error for anything else. */
export function toMs(duration: unknown, path: readonly (string | number)[], max = MAX): number {
  const ms = parse(duration);
  if (ms === undefined || ms < 0) {
    throw new ValidationError([{ path: [...path], message: "must be a duration: milliseconds (≥ 0) or text such as '500ms', '30s', '5m', '1h30m', '2d'" }]);
  }
  if (ms > max) throw new ValidationError([{ path: [...path], message: `must be at most ${max === MAX_TIMER ? 'about 24 days' : '100 years'}` }]);
  return Math.round(ms);
}

function parse(duration: unknown): number | undefined {
  if (typeof duration === 'number') return Number.isFinite(duration) ? duration : undefined;
  if (typeof duration !== 'string' || duration.length === 0 || duration.length > 40) return undefined;
  PART.lastIndex = 0;
  let total = 0;
  let match: RegExpExecArray | null;
  while ((match = PART.exec(duration)) !== null) {
    total += Number(match[1]) * UNITS[match[2]!]!;
    if (PART.lastIndex === duration.length) return total;
  }
  return undefined;
}
