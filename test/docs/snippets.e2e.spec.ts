import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { postgres } from '../support/postgres.js';
import { closeNats, deleteStream, freshStream, nats } from '../support/nats.js';

// Every ```ts block in the README and docs/ is compiled against the built package and run, so the
// docs cannot drift from the code. Blocks import 'factline' as a user would. Blocks that use
// PostgreSQL find it in DATABASE_URL: the test run's own database; blocks that use NATS find it in
// NATS_URL, and a JetStream stream name of their own in NATS_STREAM (deleted afterwards).
const root = process.cwd();
const tsx = pathToFileURL(join(root, 'node_modules/tsx/dist/loader.mjs')).href;
const snippetDir = join(root, 'test', '.snippets');
const files = ['README.md', ...readdirSync('docs').filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const snippets = files.flatMap((file) =>
  [...readFileSync(file, 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m, i) => ({
    name: `${file.replace(/[/.]/g, '-')}-${i + 1}`,
    file,
    code: m[1]!,
  })),
);

rmSync(snippetDir, { recursive: true, force: true });
mkdirSync(snippetDir, { recursive: true });
for (const s of snippets) writeFileSync(join(snippetDir, `${s.name}.ts`), `${s.code}\nexport {};\n`);
const cwd = mkdtempSync(join(tmpdir(), 'factline-docs-'));
const natsStreams: string[] = [];
afterAll(async () => {
  for (const stream of natsStreams) await deleteStream(stream);
  await closeNats();
  rmSync(cwd, { recursive: true, force: true });
  rmSync(snippetDir, { recursive: true, force: true });
});

describe('code in the README and docs', () => {
  it('exists in every page that shows an API', () => {
    expect(snippets.length).toBeGreaterThanOrEqual(8);
    expect(new Set(snippets.map((s) => s.file))).toEqual(
      new Set(['README.md', 'docs/event-store.md', 'docs/subscriptions.md', 'docs/sqlite.md', 'docs/errors.md', 'docs/postgres.md', 'docs/events.md', 'docs/deciders.md', 'docs/testing.md', 'docs/snapshots.md', 'docs/temporal.md', 'docs/projections.md', 'docs/workflows.md', 'docs/cli.md', 'docs/http.md', 'docs/correlation.md', 'docs/messaging.md', 'docs/tracing.md']),
    );
  });

  it('type-checks', () => {
    writeFileSync(
      join(snippetDir, 'tsconfig.json'),
      JSON.stringify({ extends: '../../tsconfig.json', compilerOptions: { noEmit: true }, include: ['*.ts'] }),
    );
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(snippetDir, 'tsconfig.json')], {
      encoding: 'utf8',
    });
  });

  for (const s of snippets) {
    const needsPostgres = s.code.includes('DATABASE_URL');
    const needsNats = s.code.includes('NATS_URL');
    const reason = (needsPostgres ? postgres.reason : undefined) ?? (needsNats ? nats.reason : undefined);
    it.skipIf(reason !== undefined)(`runs: ${s.name}${reason ? ` (skipped: ${reason})` : ''}`, () => {
      const stream = freshStream();
      if (needsNats) natsStreams.push(stream);
      const env = {
        ...process.env,
        ...(needsPostgres ? { DATABASE_URL: postgres.url! } : {}),
        ...(needsNats ? { NATS_URL: nats.servers!, NATS_STREAM: stream } : {}),
      };
      const out = execFileSync(process.execPath, ['--import', tsx, join(snippetDir, `${s.name}.ts`)], { cwd, env, encoding: 'utf8' });
      expect(typeof out).toBe('string');
    });
  }
});
