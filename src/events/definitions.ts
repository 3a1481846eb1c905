import type { StandardSchemaV1 } from '@standard-schema/spec';
import { ConfigurationError, EventVersionError, ValidationError, type ValidationIssue } from './errors.js';
import type { NewEvent, RecordedEvent } from './types.js';

/**
 * Turns the data of `version` into the data of `version + 1`. Annotate the parameter with the old
 * shape: it documents what was stored then.
 */
export type Upcaster = (data: never) => unknown;

/** One event type: its schema (any Standard Schema: zod, valibot, arktype…), version, upcasters. */
export interface EventDefinition<S extends StandardSchemaV1 = StandardSchemaV1> {
  readonly schema: S;
  /** The current version of the type's data. Default 1. */
  readonly version?: number;
  /** From each older version to the next: `{ 1: (v1: V1) => v2, 2: (v2: V2) => v3 }`. */
  readonly upcast?: Readonly<Record<number, Upcaster>>;
}

export type EventDefinitionMap = Readonly<Record<string, EventDefinition>>;

/** Event definitions, checked: what `openStore(url, { events })` takes. */
export interface DefinedEvents<D extends EventDefinitionMap = EventDefinitionMap> {
  readonly definitions: D;
  /** Validates each defined event's data; throws `ValidationError` naming every issue. Unknown types pass. */
  readonly validate: (events: readonly NewEvent[]) => Promise<NewEvent[]>;
  /** The version an event of this type is stored with. */
  readonly versionOf: (type: string) => number;
  /** Brings a stored event's data to its type's current version. Unknown types pass untouched. */
  readonly upcast: (event: RecordedEvent) => RecordedEvent;
}

type Data<S> = S extends StandardSchemaV1 ? StandardSchemaV1.InferOutput<S> : unknown;
type Input<S> = S extends StandardSchemaV1 ? StandardSchemaV1.InferInput<S> : unknown;

/** The discriminated union of recorded events that `events` defines. */
export type EventOf<E extends DefinedEvents> = {
  [K in keyof E['definitions'] & string]: RecordedEvent<K, Data<E['definitions'][K]['schema']>>;
}[keyof E['definitions'] & string];

/** The union of events one can append to a store with these definitions: data as the schemas take it. */
export type NewEventOf<E extends DefinedEvents> = {
  [K in keyof E['definitions'] & string]: NewEvent<K, Input<E['definitions'][K]['schema']>>;
}[keyof E['definitions'] & string];

/**
 * Defines event types, each with a schema and, once its data changes shape, a version and an
 * upcaster from every older version. Checked here: a missing upcaster is a `ConfigurationError`
 * now, not a surprise on read.
 */
export function defineEvents<const D extends EventDefinitionMap>(definitions: D): DefinedEvents<D> {
  if (typeof definitions !== 'object' || definitions === null) throw new ConfigurationError('defineEvents takes an object of event definitions');
  const versions = new Map<string, number>();
  const chains = new Map<string, ((data: unknown) => unknown)[]>();
  for (const [type, definition] of Object.entries(definitions)) {
    const version = checkDefinition(type, definition);
    versions.set(type, version);
    chains.set(type, Array.from({ length: version - 1 }, (_, i) => definition.upcast![i + 1] as (data: unknown) => unknown));
  }

  return {
    definitions,
    async validate(events) {
      const issues: ValidationIssue[] = [];
      const out = await Promise.all(
        events.map(async (event, i) => {
          const definition = typeof event?.type === 'string' && Object.hasOwn(definitions, event.type) ? definitions[event.type] : undefined;
          if (!definition) return event;
          const result = await definition.schema['~standard'].validate(event.data);
          if (result.issues) {
            for (const issue of result.issues) issues.push({ path: ['events', i, 'data', ...pathOf(issue)], message: issue.message });
            if (result.issues.length === 0) issues.push({ path: ['events', i, 'data'], message: 'refused by its schema' });
            return event;
          }
          return { ...event, data: result.value };
        }),
      );
      if (issues.length > 0) throw new ValidationError(issues);
      return out;
    },
    versionOf: (type) => versions.get(type) ?? 1,
    upcast(event) {
      const chain = chains.get(event.type);
      if (!chain || event.schemaVersion === chain.length + 1) return event;
      if (event.schemaVersion > chain.length + 1) throw new EventVersionError(event.id, event.type, event.schemaVersion, chain.length + 1);
      let data = event.data;
      for (let v = event.schemaVersion; v <= chain.length; v++) data = chain[v - 1]!(data);
      return { ...event, data };
    },
  };
}

function checkDefinition(type: string, definition: EventDefinition): number {
  const where = `event type ${JSON.stringify(type)}`;
  if (typeof definition !== 'object' || definition === null) throw new ConfigurationError(`${where}: the definition must be an object`);
  if (typeof definition.schema?.['~standard']?.validate !== 'function') {
    throw new ConfigurationError(`${where}: schema must be a Standard Schema (zod, valibot, arktype…)`);
  }
  const version = definition.version ?? 1;
  if (!Number.isSafeInteger(version) || version < 1) throw new ConfigurationError(`${where}: version must be an integer ≥ 1`);
  for (let v = 1; v < version; v++) {
    if (typeof definition.upcast?.[v] !== 'function') {
      throw new ConfigurationError(`${where} is at version ${version} but has no upcaster from version ${v}`);
    }
  }
  for (const key of Object.keys(definition.upcast ?? {})) {
    const from = Number(key);
    if (!Number.isSafeInteger(from) || from < 1 || from >= version) {
      throw new ConfigurationError(`${where}: an upcaster from version ${key} does not lead to a version up to ${version}`);
    }
  }
  return version;
}

function pathOf(issue: StandardSchemaV1.Issue): (string | number)[] {
  return (issue.path ?? []).map((segment) => {
    const key = typeof segment === 'object' ? segment.key : segment;
    return typeof key === 'number' ? key : String(key);
  });
}
