import { ConfigurationError, ProjectionFailedError } from '../events/errors.js';
import type { RecordedEvent } from '../events/types.js';
import type { InlineHook, StoredEvent } from '../store/backend.js';
import { HandlerFailure, applyEvents, newGeneration, pickGeneration, projectionContext, swapIn } from './apply.js';
import type { ProjectionRow, Transaction } from './backend.js';
import { isRunnable, type ProjectionDefinition } from './define.js';

const CATCH_UP_PAGE = 500;

export function checkInline(definitions: unknown): readonly ProjectionDefinition[] {
  if (!Array.isArray(definitions) || !definitions.every((d): d is ProjectionDefinition => isRunnable(d) && d.kind === 'projection')) {
    throw new ConfigurationError('projections.inline takes an array of defineProjection(...) results');
  }
  const list: readonly ProjectionDefinition[] = definitions;
  if (new Set(list.map((d) => d.name)).size !== list.length) throw new ConfigurationError('two inline projections have the same name');
  return list;
}

/**
 * Inline projections run in the append's transaction, with the append lock held: each first
 * applies any events it has not seen (a new projection, a new version, or appends made by a
 * process that did not run it), then the batch's, and records the batch's last position as its
 * checkpoint. A throw fails the append: nothing is written.
 */
export function inlineHook(store: object, definitions: readonly ProjectionDefinition[], decode: (row: StoredEvent) => RecordedEvent): InlineHook {
  // The generation each definition wrote last: usually still the one to write, so an append costs
  // two statements per projection (lock, update) rather than a look at every generation first.
  const known = new Map<string, number>();
  /** The generation's row, locked; undefined when a newer version has it. */
  const lock = async (tx: Transaction, definition: ProjectionDefinition): Promise<ProjectionRow | undefined> => {
    const cached = known.get(definition.name);
    if (cached !== undefined) {
      const row = await tx.lockProjection(definition.name, cached);
      // A rebuild that swapped in drops the generation it replaced: then the row is gone.
      if (row?.status === 'live' && row.version === definition.version) return row;
    }
    const all = await tx.rowsOf(definition.name);
    let picked = pickGeneration(all, definition.version);
    if (picked === 'superseded') return undefined; // newer code keeps it: it catches up on its next append
    // A rebuild is building this version and holds its lease: leave the events to it (it applies
    // them before it swaps in, under the append lock); reads see the live generation meanwhile.
    if (picked?.status === 'building' && picked.owner !== '' && picked.leaseUntil > (await tx.now())) return undefined;
    if (!picked) {
      picked = newGeneration(all, definition.name, definition.version, Date.now());
      // Another process made that generation first: look again.
      if (!(await tx.insertProjection(picked))) return lock(tx, definition);
    }
    known.set(definition.name, picked.generation);
    return tx.lockProjection(definition.name, picked.generation);
  };
  return async (rows, tx) => {
    const first = rows[0]!.position;
    for (const definition of definitions) {
      const types = definition.types && new Set<string>(definition.types);
      const matching = (r: StoredEvent) => !types || types.has(r.type);
      const row = await lock(tx, definition);
      if (!row) continue;
      const context = projectionContext(tx, definition.name, row.generation, new Set());
      const apply = async (stored: readonly StoredEvent[]) => {
        let events: RecordedEvent[] = [];
        try {
          events = stored.map(decode);
          await applyEvents(store, definition, context, events);
        } catch (error) {
          const failed = error instanceof HandlerFailure ? error : new HandlerFailure(0, events[0] ?? ({ id: stored[0]!.id, position: stored[0]!.position } as RecordedEvent), error);
          throw new ProjectionFailedError(definition.name, failed.event.id, failed.event.position, failed.cause);
        }
      };
      let after = row.checkpoint;
      while (after < first - 1n) {
        const page = await tx.readAll({ after, limit: CATCH_UP_PAGE, ...(definition.types ? { types: definition.types } : {}) });
        const before = page.filter((r) => r.position < first);
        await apply(before);
        if (before.length < CATCH_UP_PAGE) break;
        after = before.at(-1)!.position;
      }
      await apply(rows.filter(matching));
      let next: ProjectionRow = { ...row, checkpoint: rows.at(-1)!.position, error: null, updatedAt: Date.now() };
      if (row.status === 'building') next = (await swapIn(tx, next)) ?? next;
      await tx.updateProjection(next);
    }
  };
}
