/** The longest wait `setTimeout` takes: a longer one fires at once. */
const LONGEST = 2 ** 31 - 1;

/** Waits `ms` (at most about 24 days), or less when `signal` aborts; never rejects. */
export function delay(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, Math.min(ms, LONGEST));
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
