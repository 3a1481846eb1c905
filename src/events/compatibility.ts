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
    const current = Object.hasOwn(now.types, type) ? now.types[type] : undefined;
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
    if (!Object.hasOwn(lock.types, type)) compatible.push({ type, path: '', message: 'a new type' });
  }
  return { breaking, compatible };
}

type Issues = { breaking: CompatibilityIssue[]; compatible: CompatibilityIssue[] };

/**
 * Would every value the old schema accepted still be accepted, and read the same, under the new
 * one? Types may widen (integer to number, a type added, null allowed), enums may grow, optional
 * fields may come; anything else is breaking. Where the schema uses a keyword this does not read,
 * it says nothing rather than guess.
 */
function compareSchemas(type: string, path: string, old: JsonSchema, current: JsonSchema, breaking: CompatibilityIssue[], compatible: CompatibilityIssue[]): void {
  compare(type, path, old, current, { breaking, compatible });
}

function compare(type: string, path: string, old: JsonSchema, current: JsonSchema, out: Issues): void {
  const issue = (message: string) => ({ type, path, message });
  const oldOptions = alternatives(old);
  const newOptions = alternatives(current);
  if (oldOptions.length > 1 || newOptions.length > 1) {
    for (const option of oldOptions) {
      const match = newOptions.find((n) => typesAccepted(typesOf(option), typesOf(n)));
      if (!match) out.breaking.push(issue(`values of type ${show(typesOf(option))} are no longer accepted`));
      else compare(type, path, option, match, out);
    }
    return;
  }
  const oldValues = valuesOf(old);
  const newValues = valuesOf(current);
  if (newValues) {
    const dropped = oldValues ? oldValues.filter((v) => !newValues.some((n) => JSON.stringify(n) === JSON.stringify(v))) : undefined;
    if (!dropped) out.breaking.push(issue(`now limited to ${JSON.stringify(newValues)}`));
    else if (dropped.length > 0) out.breaking.push(issue(`no longer accepts ${JSON.stringify(dropped)}`));
  }
  const oldTypes = typesOf(old);
  const newTypes = typesOf(current);
  if (newTypes && (!oldTypes || !typesAccepted(oldTypes, newTypes))) {
    out.breaking.push(issue(`retyped from ${show(oldTypes)} to ${show(newTypes)} without a version bump`));
    return;
  }
  if (oldTypes && newTypes && (newTypes.length > oldTypes.length || !oldTypes.every((t) => newTypes.includes(t)))) {
    out.compatible.push(issue(`widened from ${show(oldTypes)} to ${show(newTypes)}`));
  }
  if (old.items && current.items) compare(type, `${path}[]`, old.items, current.items, out);
  const oldTuple = tupleOf(old);
  const newTuple = tupleOf(current);
  if (oldTuple && newTuple) {
    oldTuple.forEach((item, i) => {
      const next = newTuple[i];
      if (!next) out.breaking.push(issue(`tuple item ${i} removed`));
      else compare(type, `${path}[${i}]`, item, next, out);
    });
  }
  const oldExtra = schemaOf(old.additionalProperties);
  const newExtra = schemaOf(current.additionalProperties);
  if (oldExtra && newExtra) compare(type, `${path}{}`, oldExtra, newExtra, out);
  compareProperties(type, path, old, current, out);
}

function compareProperties(type: string, path: string, old: JsonSchema, current: JsonSchema, out: Issues): void {
  if (!old.properties || !current.properties) return;
  const at = (key: string) => (path ? `${path}.${key}` : key);
  const wasRequired = new Set(old.required ?? []);
  const isRequired = new Set(current.required ?? []);
  for (const [key, schema] of Object.entries(old.properties)) {
    const next = Object.hasOwn(current.properties, key) ? current.properties[key] : undefined;
    if (!next) out.breaking.push({ type, path: at(key), message: 'field removed without a version bump' });
    else compare(type, at(key), schema, next, out);
  }
  for (const key of Object.keys(current.properties)) {
    const existed = Object.hasOwn(old.properties, key);
    if (isRequired.has(key) && (!existed || !wasRequired.has(key))) {
      out.breaking.push({ type, path: at(key), message: `${existed ? 'made required' : 'new required field'} without a version bump: old events lack it` });
    } else if (!existed) {
      out.compatible.push({ type, path: at(key), message: 'new optional field' });
    }
  }
}

/** The forms a value may take: the branches of anyOf/oneOf, or the schema itself. */
function alternatives(schema: JsonSchema): JsonSchema[] {
  const options = (schema.anyOf ?? schema.oneOf) as JsonSchema[] | undefined;
  return Array.isArray(options) ? options.flatMap(alternatives) : [schema];
}

function show(types: string[] | undefined): string {
  if (!types) return 'anything';
  return types.length === 1 ? JSON.stringify(types[0]) : JSON.stringify(types);
}

function typesOf(schema: JsonSchema): string[] | undefined {
  if (schema.type === undefined) return schema.const === null ? ['null'] : undefined;
  return typeof schema.type === 'string' ? [schema.type] : [...schema.type];
}

/** Every old type is accepted by the new ones (an integer is a number). */
function typesAccepted(old: string[] | undefined, current: string[] | undefined): boolean {
  if (!current) return true;
  if (!old) return false;
  return old.every((t) => current.includes(t) || (t === 'integer' && current.includes('number')));
}

function valuesOf(schema: JsonSchema): unknown[] | undefined {
  if (Array.isArray(schema.enum)) return schema.enum as unknown[];
  if ('const' in schema) return [schema.const];
  return undefined;
}

function tupleOf(schema: JsonSchema): JsonSchema[] | undefined {
  return Array.isArray(schema.prefixItems) ? (schema.prefixItems as JsonSchema[]) : undefined;
}

function schemaOf(value: unknown): JsonSchema | undefined {
  return typeof value === 'object' && value !== null ? (value as JsonSchema) : undefined;
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
