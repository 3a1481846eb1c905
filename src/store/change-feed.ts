export interface ChangeSources {
  /** Asks the database for its head position. */
  readonly poll?: () => Promise<bigint>;
  readonly pollInterval: number;
  /** Starts a push of other processes' commits; returns its stop function. */
  readonly watch?: (onCommit: (position: bigint) => void) => () => Promise<void>;
}

/**
 * Wakes live subscriptions when the store's head moves. Appends made through this store call
 * `advance` after they commit. When other processes may write too, they are noticed by a push
 * (`watch`, started with the first waiting subscription) where the database offers one, and by a
 * single poller per store that asks for the head every `pollInterval` while a subscription waits.
 */
export class ChangeFeed {
  private latest = 0n;
  private readonly waiters = new Set<() => void>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private stopWatching: (() => Promise<void>) | undefined;

  constructor(private readonly sources: ChangeSources) {}

  /** Records that everything up to `position` is committed and wakes every waiter. */
  advance(position: bigint): void {
    if (position <= this.latest) return;
    this.latest = position;
    this.wakeAll();
  }

  /**
   * Resolves once the head is known to be past `seen`, on abort or close, or after `timeout` ms
   * when one is given. Resolves at once
   * when that is known already, so a commit between the reader's last look and this call is
   * never missed.
   */
  wait(seen: bigint, signal?: AbortSignal, timeout?: number): Promise<void> {
    if (this.latest > seen || this.closed || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = timeout === undefined ? undefined : setTimeout(() => wake(), timeout);
      const wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        signal?.removeEventListener('abort', wake);
        resolve();
      };
      this.waiters.add(wake);
      signal?.addEventListener('abort', wake, { once: true });
      this.stopWatching ??= this.sources.watch?.((position) => this.advance(position));
      this.schedulePoll();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.wakeAll();
    await this.stopWatching?.();
  }

  private wakeAll(): void {
    for (const wake of [...this.waiters]) wake();
  }

  private schedulePoll(): void {
    if (!this.sources.poll || this.timer || this.closed) return;
    this.timer = setTimeout(() => void this.pollOnce(), this.sources.pollInterval);
  }

  private async pollOnce(): Promise<void> {
    try {
      if (this.waiters.size > 0) this.advance(await this.sources.poll!());
    } catch {
      // Let the waiting subscriptions read: their own reads raise the failure to their consumers.
      this.wakeAll();
    } finally {
      this.timer = undefined;
      if (this.waiters.size > 0) this.schedulePoll();
    }
  }
}
