import { defineProjection } from '../../src/projections/index.js';

export interface Counter {
  /** The stream version of the last event applied. */
  last: number;
  /** How many times an event was applied: equal to `last` unless one was applied twice. */
  applied: number;
}

/** One document per stream, counting applications: an event applied twice shows as applied > last. */
export const counters = defineProjection({
  name: 'counters',
  version: 1,
  types: ['Tick'],
  async handle(event, { documents }) {
    const docs = documents<Counter>('counters');
    const current = await docs.get(event.stream);
    await new Promise((resolve) => setImmediate(resolve)); // let a batch take a while: kills land inside one
    await docs.upsert(event.stream, { last: event.version, applied: (current?.applied ?? 0) + 1 });
  },
});
