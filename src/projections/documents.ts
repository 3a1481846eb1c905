import { ValidationError } from '../events/errors.js';
import { findNonJson, utf8Length } from '../events/json.js';
import type { DocumentReader, DocumentRow, ProjectionBackend, Transaction } from './backend.js';
import { encodeCursor, keyOf, parseFind, type FindOptions } from './query.js';

/** A JSON object stored under an id in a collection. */
export type DocumentData = Record<string, unknown>;

export interface FoundPage<T> {
  readonly items: { readonly id: string; readonly data: T }[];
  /** Pass as `after` for the next page; undefined on the last page. */
  readonly next: string | undefined;
}

/** One collection of documents. Outside a projection, reads see committed data and each write commits on its own. */
export interface DocumentCollection<T extends object = DocumentData> {
  get(id: string): Promise<T | undefined>;
  find(options?: FindOptions<T>): Promise<FoundPage<T>>;
  /** Stores `doc` under `id`, replacing any document there. */
  upsert(id: string, doc: T): Promise<void>;
  /** Merges `changes` into the top level of the document; returns it, or undefined when there is none. */
  patch(id: string, changes: Partial<T>): Promise<T | undefined>;
  /** Removes the document; false when there was none. */
  delete(id: string): Promise<boolean>;
}

/** Largest document accepted, in bytes of JSON. */
export const MAX_DOCUMENT_SIZE = 16 * 1024 * 1024;
const COLLECTION = /^[A-Za-z0-9_.:-]{1,200}$/;

export function checkCollection(name: unknown): string {
  if (typeof name !== 'string' || !COLLECTION.test(name)) {
    throw new ValidationError([{ path: ['collection'], message: 'collection names are 1–200 letters, digits, _ . : -' }]);
  }
  return name;
}

function checkId(id: unknown): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > 512) throw new ValidationError([{ path: ['id'], message: 'a document id is a string of 1 to 512 characters' }]);
  return id;
}

// PostgreSQL's jsonb refuses both; refusing them on every store keeps the stores alike, and refuses
// them at the write that carries them (a projection's failure then names its event).
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function findUnstorable(value: unknown, path: (string | number)[]): (string | number)[] | undefined {
  if (typeof value === 'string') return UNSTORABLE.test(value) ? path : undefined;
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [key, child] of Object.entries(value)) {
    const at = [...path, Array.isArray(value) ? Number(key) : key];
    if (UNSTORABLE.test(key)) return at;
    const found = findUnstorable(child, at);
    if (found) return found;
  }
  return undefined;
}

function serialize(doc: unknown): string {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new ValidationError([{ path: ['document'], message: 'a document is a JSON object' }]);
  const issue = findNonJson(doc, ['document']);
  if (issue) throw new ValidationError([issue]);
  const unstorable = findUnstorable(doc, ['document']);
  if (unstorable) throw new ValidationError([{ path: unstorable, message: 'documents cannot hold \\u0000 or unpaired surrogates' }]);
  const text = JSON.stringify(doc);
  if (utf8Length(text) > MAX_DOCUMENT_SIZE) throw new ValidationError([{ path: ['document'], message: `larger than ${MAX_DOCUMENT_SIZE} bytes of JSON` }]);
  return text;
}

/** Where a collection reads and writes: a reader, and a way to run a write with the physical name. */
export interface CollectionAccess {
  readonly reader: DocumentReader;
  /** The name the reader takes. */
  readonly readName: string;
  write<R>(work: (tx: Transaction, physical: string) => Promise<R>): Promise<R>;
}

export function collection<T extends object>(access: CollectionAccess): DocumentCollection<T> {
  const parse = (text: string) => JSON.parse(text) as T;
  return {
    async get(id) {
      const text = await access.reader.get(access.readName, checkId(id));
      return text === undefined ? undefined : parse(text);
    },
    async find(options) {
      const query = parseFind(options);
      const rows: readonly DocumentRow[] = await access.reader.find(access.readName, query);
      const items = rows.map((r) => ({ id: r.id, data: parse(r.data) }));
      const last = items.at(-1);
      const next =
        last && items.length === query.limit
          ? encodeCursor({ keys: query.orderBy.map((k) => keyOf(last.data as DocumentData, k.field)), id: last.id })
          : undefined;
      return { items, next };
    },
    async upsert(id, doc) {
      checkId(id);
      const text = serialize(doc);
      await access.write((tx, physical) => tx.put(physical, id, text));
    },
    async patch(id, changes) {
      checkId(id);
      serialize(changes);
      return access.write(async (tx, physical) => {
        const current = await tx.documents.get(physical, id);
        if (current === undefined) return undefined;
        const merged = { ...parse(current), ...changes };
        await tx.put(physical, id, serialize(merged));
        return merged;
      });
    },
    delete(id) {
      checkId(id);
      return access.write((tx, physical) => tx.delete(physical, id));
    },
  };
}

/** `store.documents(name)`: committed reads; each write its own transaction, to the live generation. */
export function storeCollection<T extends object>(backend: ProjectionBackend, name: string, checkOpen: () => void, checkWrite: () => void): DocumentCollection<T> {
  checkCollection(name);
  const reader: DocumentReader = {
    get: (c, id) => Promise.resolve().then(checkOpen).then(() => backend.documents.get(c, id)),
    find: (c, query) => Promise.resolve().then(checkOpen).then(() => backend.documents.find(c, query)),
  };
  return collection<T>({
    reader,
    readName: name,
    write: async (work) => {
      checkOpen();
      checkWrite();
      return backend.transaction(async (tx) => work(tx, await tx.resolve(name)));
    },
  });
}
