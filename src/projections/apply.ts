import { ConfigurationError } from '../events/errors.js';
import type { RecordedEvent } from '../events/types.js';
import type { ProjectionRow, Transaction } from './backend.js';
import type { ProjectionContext, ProjectionDefinition } from './define.js';
import { checkCollection, collection } from './documents.js';
import { inHandler } from './handler-scope.js';
import { inEventContext } from '../context/message-context.js';

/** A handler threw on `events[index]` of a batch. */
export class HandlerFailure extends Error {
  constructor(
    readonly index: number,
    readonly event: RecordedEvent,
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

/**
 * The context a projection's handlers get in a transaction: its collections live under the
 * generation's physical names, registered (and checked for another owner) the first time the
 * transaction writes one. `registered` holds those known to be registered already.
 */
export function projectionContext(tx: Transaction, name: string, generation: number, registered: Set<string>): ProjectionContext {
  const ensure = async (c: string) => {
    if (registered.has(c)) return;
    const owner = await tx.collectionOwner(c, name);
    if (owner !== undefined) throw new ConfigurationError(`collection "${c}" belongs to projection "${owner}": a collection has one projection`);
    await tx.registerCollection(c, name, generation);
    registered.add(c);
  };
  return {
    projection: name,
    documents: (c) => {
      checkCollection(c);
      const physical = `${c}@${generation}`;
      return collection({
        reader: tx.documents,
        readName: physical,
        write: async (work) => {
          await ensure(c);
          return work(tx, physical);
        },
      });
    },
    sql: (text, params = []) => {
      if (typeof text !== 'string' || !Array.isArray(params)) return Promise.reject(new ConfigurationError('sql(text, params) takes a string and an array'));
      return tx.sql(text, params);
    },
  };
}

/**
 * Applies events in order; a throw becomes a HandlerFailure naming the event. `store` marks the
 * handlers' async context, so that writes through the store itself are refused in them.
 */
export async function applyEvents(store: object, definition: ProjectionDefinition, context: ProjectionContext, events: readonly RecordedEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i++) {
    try {
      await inHandler(store, () => inEventContext(events[i]!, () => definition.handle(events[i]!, context)));
    } catch (error) {
      throw new HandlerFailure(i, events[i]!, error);
    }
  }
}

/**
 * Makes `row` the live generation, in the transaction that applied its last events: the one that
 * was live goes with its documents, and so do builds this one supersedes (of an older version, or
 * older attempts at this one, such as a rebuild that died). A build of a newer version stays.
 * Undefined, and nothing dropped, when a newer version is live.
 */
export async function swapIn(tx: Transaction, row: ProjectionRow): Promise<ProjectionRow | undefined> {
  const others = await tx.rowsOf(row.name);
  // A newer version went live meanwhile (it started while nothing was live): this one stands aside.
  if (others.some((o) => o.status === 'live' && o.version > row.version)) return undefined;
  for (const other of others) {
    if (other.generation === row.generation) continue;
    const superseded = other.status === 'live' || other.version < row.version || (other.version === row.version && other.generation < row.generation);
    if (superseded) await tx.dropGeneration(row.name, other.generation);
  }
  return { ...row, status: 'live' };
}

/**
 * The generation a definition of this version works on: the live one when it has this version,
 * else one being built with it. `undefined` when there is none yet; 'superseded' when a newer
 * version is live or being built.
 */
export function pickGeneration(rows: readonly ProjectionRow[], version: number): ProjectionRow | 'superseded' | undefined {
  const live = rows.find((r) => r.status === 'live');
  if (live?.version === version) return live;
  const building = rows.filter((r) => r.status === 'building');
  const mine = building.findLast((r) => r.version === version);
  if (mine) return mine;
  if ((live && live.version > version) || building.some((r) => r.version > version)) return 'superseded';
  return undefined;
}

/** A new generation after every existing one: live when nothing is live, else built beside it. */
export function newGeneration(rows: readonly ProjectionRow[], name: string, version: number, now: number): ProjectionRow {
  const generation = rows.reduce((max, r) => Math.max(max, r.generation), 0) + 1;
  const live = rows.some((r) => r.status === 'live');
  return { name, generation, version, status: live ? 'building' : 'live', checkpoint: 0n, owner: '', token: 0, leaseUntil: 0, error: null, updatedAt: now };
}
