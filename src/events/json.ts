import type { ValidationIssue } from './errors.js';

type Path = (string | number)[];
const MAX_DEPTH = 256;

// The path is one mutable stack while walking; it is copied only when an issue is found.

/**
 * Finds the first part of `value` that would not survive a JSON round trip unchanged: undefined
 * (except as an object property, which JSON leaves out), functions, symbols, bigints, NaN and
 * infinities, cycles, and objects that are not plain (Date, Map, class instances). Returns
 * undefined when the value is JSON.
 */
export function findNonJson(value: unknown, path: readonly (string | number)[]): ValidationIssue | undefined {
  const issue = visit(value, [...path], new Set(), 0);
  return issue && { path: [...issue.path], message: issue.message };
}

function visit(value: unknown, path: Path, ancestors: Set<object>, depth: number): ValidationIssue | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : { path, message: `${value} is not a JSON number` };
    case 'object':
      break;
    default:
      return { path, message: `${typeof value} is not JSON` };
  }
  if (value === null) return undefined;
  if (depth >= MAX_DEPTH) return { path, message: `nested deeper than ${MAX_DEPTH} levels` };
  if (ancestors.has(value)) return { path, message: 'circular reference' };
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return { path, message: 'has a toJSON method: pass the plain value' };
  ancestors.add(value);
  const issue = Array.isArray(value) ? visitArray(value, path, ancestors, depth) : visitObject(value, path, ancestors, depth);
  ancestors.delete(value);
  return issue;
}

function visitArray(value: unknown[], path: Path, ancestors: Set<object>, depth: number): ValidationIssue | undefined {
  for (let i = 0; i < value.length; i++) {
    path.push(i);
    const issue =
      !(i in value) || value[i] === undefined
        ? { path, message: 'undefined is not JSON' }
        : visit(value[i], path, ancestors, depth + 1);
    if (issue) return issue;
    path.pop();
  }
  return undefined;
}

function visitObject(value: object, path: Path, ancestors: Set<object>, depth: number): ValidationIssue | undefined {
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) {
    const name = (value as { constructor?: { name?: string } }).constructor?.name ?? 'object';
    return { path, message: `${name} is not a plain JSON object` };
  }
  for (const key in value) {
    const child = (value as Record<string, unknown>)[key];
    if (child === undefined) continue;
    path.push(key);
    const issue = visit(child, path, ancestors, depth + 1);
    if (issue) return issue;
    path.pop();
  }
  return undefined;
}

/** Bytes the string takes in UTF-8 (lone surrogates count as the three bytes of U+FFFD). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}
