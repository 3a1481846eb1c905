import { AsyncLocalStorage } from 'node:async_hooks';

interface StepScope {
  readonly idempotencyKey: string;
  /** Commands the step has run so far: each gets a key of its own. */
  calls: number;
}

const scope = new AsyncLocalStorage<StepScope>();

/** Runs a workflow step's function with its idempotency key in the async context. */
export function inStep<T>(idempotencyKey: string, work: () => T): T {
  return scope.run({ idempotencyKey, calls: 0 }, work);
}

/** The running step's key, if any. */
export function currentStepKey(): string | undefined {
  return scope.getStore()?.idempotencyKey;
}

/**
 * The key for the next command a step runs without one of its own: the step's key and the
 * command's place among the step's commands. A step re-run after a crash runs the same commands in
 * the same order, so each gets the key it had, and appends nothing twice.
 */
export function nextCommandKey(): string | undefined {
  const step = scope.getStore();
  if (!step) return undefined;
  return `${step.idempotencyKey}/${step.calls++}`;
}
