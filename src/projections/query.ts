import { ValidationError } from '../events/errors.js';
import { Rank, type Condition, type Cursor, type DocumentQuery, type Scalar, type SortKey } from './backend.js';

/**
 * `find` compares a field by its JSON kind first (missing or null < false < true < numbers <
 * strings < arrays and objects), then by value: numbers numerically, strings by code point (the
 * bytes of their UTF-8, as SQLite's BINARY and PostgreSQL's "C" collation do). A condition on a
 * number only matches numbers, on a string only strings: every adapter answers alike.
 */

export type FieldCondition = Scalar | { readonly eq?: Scalar; readonly gt?: Bound; readonly gte?: Bound; readonly lt?: Bound; readonly lte?: Bound; readonly in?: readonly Scalar[] };
type Bound = string | number;

export interface FindOptions<T = Record<string, unknown>> {
  /** Top-level fields: a value (equality) or `{ eq, gt, gte, lt, lte, in }`; all must hold. */
  readonly where?: { readonly [K in keyof T & string]?: FieldCondition };
  /** Fields to sort by, in order of precedence; ties go by id. Default: by id. */
  readonly orderBy?: { readonly [K in keyof T & string]?: 'asc' | 'desc' };
  /** At most this many documents (default 100, at most 10,000). */
  readonly limit?: number;
  /** The `next` cursor of the previous page. */
  readonly after?: string;
}

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 10_000;
const FIELD = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const OPS = ['eq', 'gt', 'gte', 'lt', 'lte', 'in'] as const;

/** Field names go into SQL as written (indexes must match them), so only plain names pass. */
export function checkField(field: string, path: readonly (string | number)[]): void {
  if (!FIELD.test(field)) throw new ValidationError([{ path: [...path], message: 'field names are letters, digits and _ (not starting with a digit), up to 63' }]);
}

function isScalar(value: unknown): value is Scalar {
  return value === null || typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
}

export function parseFind(options: unknown): DocumentQuery {
  if (options === undefined) return { where: [], orderBy: [], limit: DEFAULT_LIMIT };
  if (typeof options !== 'object' || options === null) throw new ValidationError([{ path: [], message: 'find options must be an object' }]);
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!['where', 'orderBy', 'limit', 'after'].includes(key)) throw new ValidationError([{ path: [key], message: 'unknown option (where, orderBy, limit, after)' }]);
  }
  const where = parseWhere(o.where);
  const orderBy = parseOrderBy(o.orderBy);
  const limit = o.limit ?? DEFAULT_LIMIT;
  if (!Number.isSafeInteger(limit) || (limit as number) < 1 || (limit as number) > MAX_LIMIT) {
    throw new ValidationError([{ path: ['limit'], message: `must be an integer from 1 to ${MAX_LIMIT}` }]);
  }
  const after = o.after === undefined ? undefined : decodeCursor(o.after, orderBy.length);
  return { where, orderBy, limit: limit as number, ...(after ? { after } : {}) };
}

function parseWhere(where: unknown): Condition[][] {
  if (where === undefined) return [];
  if (typeof where !== 'object' || where === null || Array.isArray(where)) throw new ValidationError([{ path: ['where'], message: 'must be an object of fields' }]);
  const groups: Condition[][] = [];
  for (const [field, spec] of Object.entries(where)) {
    if (spec === undefined) continue;
    checkField(field, ['where', field]);
    if (isScalar(spec)) {
      groups.push([{ field, op: 'eq', value: spec }]);
      continue;
    }
    if (typeof spec !== 'object' || Array.isArray(spec)) {
      throw new ValidationError([{ path: ['where', field], message: 'must be a string, number, boolean, null or { eq, gt, gte, lt, lte, in }' }]);
    }
    for (const [op, value] of Object.entries(spec as Record<string, unknown>)) {
      if (value === undefined) continue;
      const path = ['where', field, op];
      if (!(OPS as readonly string[]).includes(op)) throw new ValidationError([{ path, message: 'unknown operator (eq, gt, gte, lt, lte, in)' }]);
      if (op === 'in') {
        if (!Array.isArray(value) || !value.every(isScalar)) throw new ValidationError([{ path, message: 'must be an array of strings, numbers, booleans or null' }]);
        groups.push(value.map((v) => ({ field, op: 'eq' as const, value: v })));
      } else if (op === 'eq') {
        if (!isScalar(value)) throw new ValidationError([{ path, message: 'must be a string, number, boolean or null' }]);
        groups.push([{ field, op: 'eq', value }]);
      } else {
        if (typeof value !== 'string' && !(typeof value === 'number' && Number.isFinite(value))) {
          throw new ValidationError([{ path, message: 'a range compares a string or a number' }]);
        }
        groups.push([{ field, op: op as Condition['op'], value }]);
      }
    }
  }
  return groups;
}

function parseOrderBy(orderBy: unknown): SortKey[] {
  if (orderBy === undefined) return [];
  if (typeof orderBy !== 'object' || orderBy === null || Array.isArray(orderBy)) {
    throw new ValidationError([{ path: ['orderBy'], message: "must be an object of fields: { total: 'desc' }" }]);
  }
  return Object.entries(orderBy).map(([field, direction]) => {
    checkField(field, ['orderBy', field]);
    if (direction !== 'asc' && direction !== 'desc') throw new ValidationError([{ path: ['orderBy', field], message: "must be 'asc' or 'desc'" }]);
    return { field, descending: direction === 'desc' };
  });
}

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.keys, cursor.id])).toString('base64url');
}

function decodeCursor(text: unknown, keys: number): Cursor {
  const bad = () => new ValidationError([{ path: ['after'], message: 'is not a cursor from this query (use the previous page’s next)' }]);
  if (typeof text !== 'string') throw bad();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (!Array.isArray(parsed) || parsed.length !== 2 || typeof parsed[1] !== 'string' || !Array.isArray(parsed[0]) || parsed[0].length !== keys) throw bad();
  const sortKeys = parsed[0] as unknown[];
  for (const k of sortKeys) {
    if (!Array.isArray(k) || k.length !== 2 || !Number.isInteger(k[0]) || k[0] < 0 || k[0] > Rank.other) throw bad();
    const [rank, value] = k as [number, unknown];
    if (rank === Rank.number ? typeof value !== 'number' : rank === Rank.string ? typeof value !== 'string' : value !== null) throw bad();
  }
  return { keys: sortKeys as Cursor['keys'], id: parsed[1] };
}

// ---- The meaning, in JavaScript: the memory adapter runs it, and the SQL below must agree. ----

export function rankOf(value: unknown): number {
  if (value === undefined || value === null) return Rank.missing;
  if (value === false) return Rank.false;
  if (value === true) return Rank.true;
  if (typeof value === 'number') return Rank.number;
  if (typeof value === 'string') return Rank.string;
  return Rank.other;
}

/** The key of one field: its rank, and its value when the rank has values. */
export function keyOf(doc: Record<string, unknown>, field: string): readonly [number, string | number | null] {
  const value = Object.hasOwn(doc, field) ? doc[field] : undefined;
  const rank = rankOf(value);
  return [rank, rank === Rank.number || rank === Rank.string ? (value as string | number) : null];
}

/** Strings by code point, as UTF-8 bytes compare. */
export function compareText(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function compareKey(a: readonly [number, string | number | null], b: readonly [number, string | number | null]): number {
  if (a[0] !== b[0]) return a[0] - b[0];
  if (a[0] === Rank.number) return (a[1] as number) - (b[1] as number);
  if (a[0] === Rank.string) return compareText(a[1] as string, b[1] as string);
  return 0;
}

function holds(doc: Record<string, unknown>, c: Condition): boolean {
  const [rank, value] = keyOf(doc, c.field);
  const wanted = rankOf(c.value);
  if (rank !== wanted) return false;
  if (c.op === 'eq') return rank === Rank.number || rank === Rank.string ? compareKey([rank, value], [wanted, c.value as Bound]) === 0 : true;
  const order = compareKey([rank, value], [wanted, c.value as Bound]);
  return c.op === 'gt' ? order > 0 : c.op === 'gte' ? order >= 0 : c.op === 'lt' ? order < 0 : order <= 0;
}

export interface SortableRow {
  readonly id: string;
  readonly doc: Record<string, unknown>;
}

/** The rows of `rows` that the query selects, in its order, at most `limit`. */
export function runQuery<R extends SortableRow>(rows: Iterable<R>, query: DocumentQuery): R[] {
  const keyed: { row: R; keys: (readonly [number, string | number | null])[] }[] = [];
  for (const row of rows) {
    if (!query.where.every((group) => group.some((c) => holds(row.doc, c)))) continue;
    keyed.push({ row, keys: query.orderBy.map((k) => keyOf(row.doc, k.field)) });
  }
  const compare = (a: Cursor['keys'], aId: string, b: Cursor['keys'], bId: string) => {
    for (let i = 0; i < query.orderBy.length; i++) {
      const order = compareKey(a[i]!, b[i]!);
      if (order !== 0) return query.orderBy[i]!.descending ? -order : order;
    }
    return compareText(aId, bId);
  };
  const after = query.after;
  const selected = after ? keyed.filter((k) => compare(k.keys, k.row.id, after.keys, after.id) > 0) : keyed;
  selected.sort((a, b) => compare(a.keys, a.row.id, b.keys, b.row.id));
  return selected.slice(0, query.limit).map((k) => k.row);
}

// ---- The same meaning in SQL, for an adapter's dialect. ----

export interface SqlDialect {
  /** Expressions over the row's document for a top-level field. */
  rank(field: string): string;
  /** The number, or NULL when the field is not a number. */
  num(field: string): string;
  /** The string, or NULL when the field is not a string; compared by code point. */
  text(field: string): string;
  /** The id column, compared by code point. */
  readonly id: string;
  /** Adds a parameter and returns its placeholder. */
  param(value: string | number, kind: 'number' | 'text'): string;
}

const SQL_OPS = { eq: '=', gt: '>', gte: '>=', lt: '<', lte: '<=' } as const;

function conditionSql(d: SqlDialect, c: Condition): string {
  const rank = rankOf(c.value);
  if (rank === Rank.number) return `${d.num(c.field)} ${SQL_OPS[c.op]} ${d.param(c.value as number, 'number')}`;
  if (rank === Rank.string) return `${d.text(c.field)} ${SQL_OPS[c.op]} ${d.param(c.value as string, 'text')}`;
  return `${d.rank(c.field)} = ${rank}`;
}

/** `WHERE` and `ORDER BY` for a query (the `WHERE` without the collection test); `true` when no condition. */
export function querySql(d: SqlDialect, query: DocumentQuery): { where: string; orderBy: string } {
  const parts = query.where.map((group) => `(${group.map((c) => conditionSql(d, c)).join(' OR ')})`);
  if (query.after) parts.push(afterSql(d, query.orderBy, query.after, 0));
  const order = query.orderBy.flatMap((k) => {
    const dir = k.descending ? 'DESC' : 'ASC';
    return [`${d.rank(k.field)} ${dir}`, `${d.num(k.field)} ${dir}`, `${d.text(k.field)} ${dir}`];
  });
  order.push(`${d.id} ASC`);
  return { where: parts.length === 0 ? 'true' : parts.join(' AND '), orderBy: order.join(', ') };
}

/**
 * Rows after the cursor in the sort order: lexicographic over (rank, value) per key, then id.
 * Placeholders are made in the order they appear, for dialects whose parameters are positional.
 */
function afterSql(d: SqlDialect, keys: readonly SortKey[], cursor: Cursor, i: number): string {
  if (i === keys.length) return `${d.id} > ${d.param(cursor.id, 'text')}`;
  const k = keys[i]!;
  const [rank, value] = cursor.keys[i]!;
  const beyond = k.descending ? '<' : '>';
  const head = `(${d.rank(k.field)} ${beyond} ${rank} OR (${d.rank(k.field)} = ${rank} AND `;
  if (rank !== Rank.number && rank !== Rank.string) return `${head}${afterSql(d, keys, cursor, i + 1)}))`;
  const kind = rank === Rank.number ? 'number' : 'text';
  const expr = kind === 'number' ? d.num(k.field) : d.text(k.field);
  const greater = `${expr} ${beyond} ${d.param(value!, kind)}`;
  const equal = `${expr} = ${d.param(value!, kind)}`;
  return `${head}(${greater} OR (${equal} AND ${afterSql(d, keys, cursor, i + 1)}))))`;
}
