import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { expect, it } from 'vitest';

// The package as a user gets it: the exports map resolves to built files with declarations.
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { exports: Record<string, { types: string; default: string } | string> };

it('every subpath of the exports map points at built code and declarations', () => {
  expect(Object.keys(pkg.exports).sort()).toEqual(['.', './http', './nats', './package.json', './postgres', './sqlite', './testing']);
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    if (typeof target === 'string') continue;
    expect(existsSync(target.default), `${subpath} → ${target.default}`).toBe(true);
    expect(existsSync(target.types), `${subpath} → ${target.types}`).toBe(true);
  }
});

it('imports by package name expose the public surface, and the core loads no driver', () => {
  const script = `
    const core = await import('factline');
    const sqlite = await import('factline/sqlite');
    const postgres = await import('factline/postgres');
    const testing = await import('factline/testing');
    const http = await import('factline/http');
    const nats = await import('factline/nats');
    const { createRequire } = await import('node:module');
    const loaded = Object.keys(createRequire(import.meta.url).cache).some((p) => p.includes('better-sqlite3'));
    console.log(JSON.stringify({ core: Object.keys(core).sort(), sqlite: Object.keys(sqlite), postgres: Object.keys(postgres).sort(), testing: Object.keys(testing).sort(), http: Object.keys(http).sort(), nats: Object.keys(nats).sort(), loaded }));
  `;
  const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as {
    core: string[];
    sqlite: string[];
    postgres: string[];
    testing: string[];
    http: string[];
    nats: string[];
    loaded: boolean;
  };
  expect(out.core).toEqual(expect.arrayContaining(['openStore', 'memoryStore', 'FactlineError', 'ConcurrencyError', 'isConcurrencyError', 'uuidv7']));
  expect(out.core).not.toContain('sqliteStore');
  expect(out.sqlite).toEqual(['sqliteStore']);
  expect(out.postgres).toEqual(['migrate', 'postgresStore']);
  expect(out.testing).toEqual(['SpecificationError', 'given']);
  expect(out.http).toEqual(['createHttpApp', 'serveHttp']);
  expect(out.nats).toEqual(['HEADERS', 'consumeFromNats', 'decodeEvent', 'encodeEvent', 'relay', 'relayToNats']);
  expect(out.core).toEqual(expect.arrayContaining(['defineEvents', 'defineDecider', 'handle', 'load', 'EventVersionError']));
  expect(out.loaded).toBe(true); // factline/sqlite loads the driver…
  const coreOnly = execFileSync(
    process.execPath,
    ['--input-type=module', '-e', `await import('factline'); const { createRequire } = await import('node:module'); const cache = Object.keys(createRequire(import.meta.url).cache); console.log(cache.some((p) => p.includes('better-sqlite3') || p.includes('/pg/') || p.includes('@nats-io')))`],
    { encoding: 'utf8' },
  );
  expect(coreOnly.trim()).toBe('false'); // …the core alone does not.
});
