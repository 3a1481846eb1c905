import { ConfigurationError } from '../events/errors.js';

/** Quoted names of the store's objects in its schema, and the keys of its advisory locks. */
export interface Names {
  readonly schemaName: string;
  readonly schema: string;
  readonly events: string;
  readonly tombstones: string;
  readonly versions: string;
  readonly reserve: string;
  readonly snapshots: string;
  readonly documents: string;
  readonly projections: string;
  readonly collections: string;
  readonly deadLetters: string;
  readonly workflows: string;
  /** LISTEN/NOTIFY channel: the same for every process using this schema. */
  readonly channel: string;
  /** Advisory locks are (space, key) pairs: space for Factline's purposes, key for the schema. */
  readonly lockSpace: number;
  readonly lockKey: number;
}

const SCHEMA = /^[a-z_][a-z0-9_]{0,49}$/;
// 'Fact' in ASCII: the space of Factline's advisory locks (append: this, migrate: this + 1).
const LOCK_SPACE = 0x46616374;

export function names(schema: string): Names {
  if (typeof schema !== 'string' || !SCHEMA.test(schema)) {
    throw new ConfigurationError(`schema must be a lower-case SQL name (letters, digits, _; up to 50), got ${JSON.stringify(schema)}`);
  }
  const q = `"${schema}"`;
  return {
    schemaName: schema,
    schema: q,
    events: `${q}.events`,
    tombstones: `${q}.tombstones`,
    versions: `${q}.schema_versions`,
    reserve: `${q}.reserve`,
    snapshots: `${q}.snapshots`,
    documents: `${q}.documents`,
    projections: `${q}.projections`,
    collections: `${q}.collections`,
    deadLetters: `${q}.dead_letters`,
    workflows: `${q}.workflows`,
    channel: `factline_${schema}`,
    lockSpace: LOCK_SPACE,
    lockKey: fnv1a(schema),
  };
}

/** A stable 32-bit signed hash (FNV-1a), so every process derives the same lock key. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash | 0;
}
