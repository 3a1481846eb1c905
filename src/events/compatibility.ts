import type { DefinedEvents } from './definitions.js';

/** A JSON Schema, as far as the check reads it. */
export interface JsonSchema {
  readonly type?: string | readonly string[];
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  readonly items?: JsonSchema;
  readonly [keyword: string]: unknown;
}

/** What the event definitions were, committed beside the code (`events.lock.json`). */
export interface EventsLock {
  readonly lockVersion: 1;
  readonly types: Readonly<Record<string, { readonly version: number; readonly schema?: JsonSchema }>>;
}

export interface CompatibilityIssue {
  readonly type: string;
  /** Where in the data, e.g. `lines[].sku`; empty for the type itself. */
  readonly path: string;
  readonly message: string;
}

export interface CompatibilityReport {
  /** Changes that old stored events would not survive: each needs a version bump and an upcaster. */
  readonly breaking: readonly CompatibilityIssue[];
  /** Changes old events survive (a new optional field, a new type, a version bump with its upcasters). */
  readonly compatible: readonly CompatibilityIssue[];
}

/** The lock to commit: each type's version and, where its schema can say it, its JSON Schema. */
export function lockEvents(events: DefinedEvents): EventsLock {
  const types: Record<string, { version: number; schema?: JsonSchema }> = {};
  for (const [type, definition] of Object.entries(events.definitions)) {
    const schema = jsonSchemaOf(definition.schema);
    types[type] = { version: events.versionOf(type), ...(schema ? { schema } : {}) };
  }
  return { lockVersion: 1, types };
}

/**
 * Compares the current definitions with the committed lock. A change to a type's data at the same
 * version is breaking when old events would not fit the new shape: a field removed, retyped, or
 * newly required. A type that disappeared (renamed or removed) is breaking too: its stored events
 * would no longer be validated or upcast. A version bump is compatible: `defineEvents` already
 * insists on an upcaster from every older version.
 */
export function checkCompatibility(events: DefinedEvents, lock: EventsLock): CompatibilityReport {
  const breaking: CompatibilityIssue[] = [];
  const compatible: CompatibilityIssue[] = [];
  const now = lockEvents(events);
  for (const [type, old] of Object.entries(lock.types)) {
    const current = now.types[type];
    if (!current) {
      breaking.push({ type, path: '', message: 'the type is gone (renamed or removed): its stored events would pass unvalidated and never upcast' });
    } else if (current.version < old.version) {
      breaking.push({ type, path: '', message: `the version went down from ${old.version} to ${current.version}` });
    } else if (current.version > old.version) {
      compatible.push({ type, path: '', message: `version ${old.version} → ${current.version}, with upcasters` });
    } else if (old.schema && current.schema) {
      compareSchemas(type, '', old.schema, current.schema, breaking, compatible);
    }
  }
  for (const type of Object.keys(now.types)) {
    if (!lock.types[type]) compatible.push({ type, path: '', message: 'a new type' });
  }
  return { breaking, compatible };
}

function compareSchemas(
  type: string,
  path: string,
  old: JsonSchema,
  current: JsonSchema,
  breaking: CompatibilityIssue[],
  compatible: CompatibilityIssue[],
): void {
  const at = (key: string) => (path ? `${path}.${key}` : key);
  if (JSON.stringify(old.type) !== JSON.stringify(current.type)) {
    breaking.push({ type, path, message: `retyped from ${JSON.stringify(old.type)} to ${JSON.stringify(current.type)} without a version bump` });
    return;
  }
  if (old.items && current.items) compareSchemas(type, `${path}[]`, old.items, current.items, breaking, compatible);
  if (!old.properties || !current.properties) return;
  const wasRequired = new Set(old.required ?? []);
  const isRequired = new Set(current.required ?? []);
  for (const [key, schema] of Object.entries(old.properties)) {
    const next = current.properties[key];
    if (!next) breaking.push({ type, path: at(key), message: 'field removed without a version bump' });
    else compareSchemas(type, at(key), schema, next, breaking, compatible);
  }
  for (const key of Object.keys(current.properties)) {
    const existed = key in old.properties;
    if (isRequired.has(key) && (!existed || !wasRequired.has(key))) {
      breaking.push({ type, path: at(key), message: `${existed ? 'made required' : 'new required field'} without a version bump: old events lack it` });
    } else if (!existed) {
      compatible.push({ type, path: at(key), message: 'new optional field' });
    }
  }
}

/** The schema's output as JSON Schema, when it implements Standard JSON Schema (zod 4 does). */
function jsonSchemaOf(schema: unknown): JsonSchema | undefined {
  const converter = (schema as { '~standard'?: { jsonSchema?: { output?: (o: { target: string }) => unknown } } })['~standard']?.jsonSchema;
  if (typeof converter?.output !== 'function') return undefined;
  try {
    const json = converter.output({ target: 'draft-2020-12' }) as Record<string, unknown>;
    const { $schema: _ignored, ...rest } = json;
    return rest;
  } catch {
    return undefined;
  }
}
