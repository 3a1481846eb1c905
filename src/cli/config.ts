import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { defineConfig, type FactlineConfig } from '../config.js';
import { UsageError } from './usage.js';

const NAMES = ['factline.config.ts', 'factline.config.mts', 'factline.config.js', 'factline.config.mjs'];

/**
 * The application's configuration: `--config FILE`, else the first factline.config.{ts,mts,js,mjs}
 * in the working folder, else none. TypeScript is loaded through the project's own tsx.
 */
export async function loadConfig(given: string | undefined, cwd = process.cwd()): Promise<{ config: FactlineConfig; file?: string }> {
  const file = given === undefined ? NAMES.map((n) => resolve(cwd, n)).find((f) => existsSync(f)) : resolve(cwd, given);
  if (file === undefined) return { config: {} };
  if (!existsSync(file)) throw new UsageError(`no config file "${given}"`, `a config file looks like: export default defineConfig({ deciders: [...] })`);
  const module = /\.m?ts$/.test(file) ? await importTypeScript(file) : ((await import(pathToFileURL(file).href)) as { default?: unknown });
  // In a project that is not "type": "module", a TypeScript config loads as CommonJS: its default
  // export arrives wrapped once more.
  const wrapped = module.default as { default?: unknown; __esModule?: boolean } | undefined;
  const exported = wrapped && typeof wrapped === 'object' && 'default' in wrapped && (wrapped.__esModule || Object.keys(wrapped).length === 1) ? wrapped.default : wrapped;
  if (exported === undefined) throw new UsageError(`${file} has no default export`, 'end it with: export default defineConfig({ ... })');
  const config = defineConfig(exported as FactlineConfig);
  return { config: config.store === undefined ? config : { ...config, store: besideConfig(config.store, file) }, file };
}

/** A relative SQLite path in a config is relative to the config file, wherever the command runs. */
function besideConfig(store: string, file: string): string {
  const match = /^sqlite:(?!\/\/)([^?]*)(\?.*)?$/.exec(store);
  if (!match || isAbsolute(match[1]!) || match[1] === '') return store;
  return `sqlite:${resolve(dirname(file), match[1]!)}${match[2] ?? ''}`;
}

async function importTypeScript(file: string): Promise<{ default?: unknown }> {
  let entry: string;
  try {
    // The tsx of the project the config belongs to, as an ES module: its `import` export.
    const manifest = createRequire(file).resolve('tsx/package.json');
    const { exports } = JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, { import?: { default?: string } }> };
    entry = resolve(dirname(manifest), exports['./esm/api']!.import!.default!);
  } catch {
    throw new UsageError(`${file} is TypeScript, and loading it needs tsx in this project`, 'npm install --save-dev tsx, or write the config as factline.config.js');
  }
  const { tsImport } = (await import(pathToFileURL(entry).href)) as { tsImport: (specifier: string, parent: string) => Promise<{ default?: unknown }> };
  return tsImport(pathToFileURL(file).href, import.meta.url);
}
