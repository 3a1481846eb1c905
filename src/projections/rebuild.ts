import { ConfigurationError } from '../events/errors.js';
import { indexedFields, type ProjectionDefinition } from './define.js';
import { runnerSettings, type ProjectionDaemonOptions } from './daemon.js';
import { internalsOf } from './internals.js';
import { Runner } from './runner.js';

export interface RebuildProgress {
  /** Log positions covered so far, and the head when the rebuild started (the work to do). */
  readonly done: bigint;
  readonly total: bigint;
  /** Positions per second since the start. */
  readonly rate: number;
  /** Estimated ms left at that rate. */
  readonly etaMs: number;
}

export interface RebuildOptions extends ProjectionDaemonOptions {
  readonly onProgress?: (progress: RebuildProgress) => void;
}

/**
 * Builds a new generation of the projection from the first event, beside the one that serves
 * reads; when it has caught up it takes the append lock, applies the last events and swaps in,
 * in one transaction: readers see the old documents, then the new ones, never a mix.
 */
export async function rebuildProjection(store: unknown, projection: ProjectionDefinition, options?: RebuildOptions): Promise<{ generation: number; checkpoint: bigint }> {
  const core = internalsOf(store);
  if (projection?.kind !== 'projection') throw new ConfigurationError('rebuildProjection takes a defineProjection(...) result (reactors are not rebuilt)');
  const onProgress = options?.onProgress;
  if (onProgress !== undefined && typeof onProgress !== 'function') throw new ConfigurationError('onProgress must be a function');
  const settings = runnerSettings(options);
  await core.backend.projections.ensureIndexes(indexedFields([projection]));
  const total = await core.backend.headPosition();
  const started = Date.now();
  const runner: Runner = new Runner(
    core,
    projection,
    settings,
    () => {
      if (!onProgress) return;
      const done = runner.generation?.checkpoint ?? 0n;
      const seconds = Math.max(0.001, (Date.now() - started) / 1000);
      const rate = Number(done) / seconds;
      const left = total > done ? Number(total - done) : 0;
      onProgress({ done: done < total ? done : total, total, rate, etaMs: rate > 0 ? (left / rate) * 1000 : 0 });
    },
    true,
  );
  await runner.run();
  const built = runner.generation;
  await runner.release();
  if (!built || built.status !== 'live') {
    throw runner.failure() ?? new ConfigurationError(`the rebuild of "${projection.name}" stopped (${runner.state}) before it was swapped in`);
  }
  return { generation: built.generation, checkpoint: built.checkpoint };
}
