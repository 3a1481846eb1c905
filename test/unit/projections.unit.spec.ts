import { expect, it } from 'vitest';
import {
  defineProjection,
  defineReactor,
  isConfigurationError,
  isValidationError,
  memoryStore,
  rebuildProjection,
  startProjections,
  waitForProjections,
} from '../../src/index.js';

const handle = () => {};

it('definitions are checked when defined', () => {
  const bad: (() => unknown)[] = [
    () => defineProjection({ name: '', version: 1, handle }),
    () => defineProjection({ name: 'has space', version: 1, handle }),
    () => defineProjection({ name: 'p', version: 0, handle }),
    () => defineProjection({ name: 'p', version: 1.5, handle }),
    () => defineProjection({ name: 'p', version: 1, handle: 'no' as never }),
    () => defineProjection({ name: 'p', version: 1, types: [''], handle }),
    () => defineProjection({ name: 'p', version: 1, retries: 0, handle }),
    () => defineProjection({ name: 'p', version: 1, onFailure: 'skip' as never, handle }),
    () => defineProjection({ name: 'p', version: 1, indexes: { orders: ['a.b'] }, handle }),
    () => defineProjection({ name: 'p', version: 1, indexes: { 'bad name': ['a'] }, handle }),
    () => defineReactor({ name: 'r', handle: undefined as never }),
  ];
  for (const define of bad) expect(define).toThrow();
  expect(defineProjection({ name: 'p', version: 1, handle }).kind).toBe('projection');
  expect(defineReactor({ name: 'r', handle }).kind).toBe('reactor');
});

it('startProjections, waitFor and rebuildProjection refuse bad input', async () => {
  const store = memoryStore();
  const p = defineProjection({ name: 'p', version: 1, handle });
  await expect(startProjections({}, [p])).rejects.toSatisfy(isConfigurationError);
  await expect(startProjections(store, [{ name: 'p' } as never])).rejects.toSatisfy(isConfigurationError);
  await expect(startProjections(store, [p, p])).rejects.toThrow(/two projections are named "p"/);
  await expect(startProjections(store, [p], { batchSize: 0 })).rejects.toSatisfy(isConfigurationError);
  await expect(startProjections(store, [p], { leaseTtl: -1 })).rejects.toSatisfy(isConfigurationError);
  await expect(rebuildProjection(store, defineReactor({ name: 'r', handle }) as never)).rejects.toSatisfy(isConfigurationError);
  const daemon = await startProjections(store, [p]);
  await expect(daemon.waitFor(3 as never)).rejects.toSatisfy(isValidationError);
  await expect(daemon.waitFor(-1n)).rejects.toSatisfy(isValidationError);
  await expect(daemon.waitFor(0n, { timeout: 0 })).rejects.toSatisfy(isConfigurationError);
  await daemon.waitFor(0n);
  await daemon.close();
  expect(() => waitForProjections(store, 0n, {} as never)).toThrow(/needs \{ projections/);
  expect(() => memoryStore({ projections: { inline: [defineReactor({ name: 'r', handle })] } } as never)).toThrow(/defineProjection/);
  expect(() => memoryStore({ projections: { inline: [p, p] } })).toThrow(/same name/);
  await store.close();
});
