import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface Child {
  readonly process: ChildProcess;
  /** Every line the child printed so far. */
  readonly lines: string[];
  /** Resolves with the exit code (or signal) when the child ends. */
  readonly exited: Promise<number | NodeJS.Signals>;
  /** Resolves when the child has printed a line matching `test`. */
  waitForLine(test: (line: string) => boolean): Promise<void>;
}

/** Runs a TypeScript file in a child Node.js process, collecting its output lines. */
export function runTs(file: string, args: readonly string[], env: Record<string, string> = {}): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const lines: string[] = [];
  const watchers = new Set<() => void>();
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    for (const w of [...watchers]) w();
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | NodeJS.Signals>((resolve) =>
    child.on('exit', (code, signal) => {
      if (code && stderr) process.stderr.write(`child ${file} failed:\n${stderr}\n`);
      resolve(signal ?? code ?? 0);
    }),
  );
  return {
    process: child,
    lines,
    exited,
    waitForLine(test) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (lines.some(test)) {
            watchers.delete(check);
            resolve();
          }
        };
        watchers.add(check);
        check();
        void exited.then(() => {
          if (watchers.delete(check)) reject(new Error(`child exited before printing the line; stderr:\n${stderr}`));
        });
      });
    },
  };
}
