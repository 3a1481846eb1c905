import { ConfigurationError } from './events/errors.js';
import type { Decider } from './decider/decider.js';
import type { ProjectionDefinition } from './projections/define.js';
import type { StoreOptions } from './store/create-store.js';

/** A decider the HTTP API and the explorer fold streams with: the streams whose names start with `prefix`. */
export interface DeciderEntry {
  readonly name: string;
  readonly prefix: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any decider, whatever its state, commands and events
  readonly decider: Decider<any, never, any>;
}

/**
 * What the `factline` command knows of an application, from `factline.config.ts` (or `.js`,
 * `.mjs`) in the folder it runs in, or `--config FILE`.
 */
export interface FactlineConfig {
  /** The store when neither `--store` nor `FACTLINE_STORE` names one. */
  readonly store?: string;
  /** Options the store is opened with: event definitions (validation, upcasting), inline projections. */
  readonly options?: StoreOptions;
  /** Deciders for time travel: the state of a stream at each version. */
  readonly deciders?: readonly DeciderEntry[];
  /** Projections `factline projections rebuild` and the explorer's rebuild button can rebuild. */
  readonly projections?: readonly ProjectionDefinition[];
}

/** Checks a configuration where it is written, so that a mistake names the config file's line. */
export function defineConfig(config: FactlineConfig): FactlineConfig {
  const fail = (message: string): never => {
    throw new ConfigurationError(`factline config: ${message}`);
  };
  if (typeof config !== 'object' || config === null) fail('defineConfig takes an object');
  const known = ['store', 'options', 'deciders', 'projections'];
  for (const key of Object.keys(config)) if (!known.includes(key)) fail(`unknown key "${key}" (known: ${known.join(', ')})`);
  if (config.store !== undefined && typeof config.store !== 'string') fail('store must be a URL such as "sqlite:./data/app.db"');
  const names = new Set<string>();
  for (const [i, d] of (config.deciders ?? []).entries()) {
    if (typeof d?.name !== 'string' || d.name === '') fail(`deciders[${i}] needs a name`);
    if (typeof d.prefix !== 'string') fail(`deciders[${i}] ("${d.name}") needs a prefix: the start of the names of the streams it folds, such as "order-"`);
    if (typeof d.decider?.evolve !== 'function' || typeof d.decider.initialState !== 'function') fail(`deciders[${i}] ("${d.name}") needs a decider from defineDecider`);
    if (names.has(d.name)) fail(`two deciders are named "${d.name}"`);
    names.add(d.name);
  }
  for (const [i, p] of (config.projections ?? []).entries()) {
    if (p?.kind !== 'projection') fail(`projections[${i}] must be a defineProjection(...) result`);
  }
  return config;
}
