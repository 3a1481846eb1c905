#!/usr/bin/env node
// The factline command: see `factline --help`, and docs/cli.md.
import { isFactlineError } from '../events/errors.js';
import { UsageError, commands, findCommand, helpText } from './commands.js';

const argv = process.argv.slice(2);

async function main(): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(helpText(rest[0]));
    return 0;
  }
  if (name === '--version' || name === '-v') {
    const { readFileSync } = await import('node:fs');
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  const command = findCommand(name);
  if (!command) throw new UsageError(`unknown command "${name}"`, `commands: ${commands.map((c) => c.name).join(', ')}`);
  return command.run(rest);
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`factline: ${error.message}\n${error.hint ? `${error.hint}\n` : ''}Run "factline --help" for the commands and their options.\n`);
      process.exitCode = 2;
    } else if (isFactlineError(error)) {
      process.stderr.write(`factline: ${error.message} [${error.code}]\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`factline: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    }
  },
);
