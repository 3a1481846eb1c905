/**
 * Wakes live subscriptions when the store's head moves. Appends made through this store call
 * `advance` after they commit; when other processes may write too, a single poller per store asks
 * for the head every `pollInterval` while at least one subscription is waiting.
 */
export class ChangeFeed {
  private latest = 0n;
  private readonly waiters = new Set<() => void>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(
    private readonly poll: (() => Promise<bigint>) | undefined,
    private readonly pollInterval: number,
  ) {}

  /** Records that everything up to `position` is committed and wakes every waiter. */
  advance(position: bigint): void {
    if (position <= this.latest) return;
    this.latest = position;
    this.wakeAll();
  }

  /**
   * Resolves once the head is known to be past `seen`, or on abort or close. Resolves at once
   * when that is known already, so a commit between the reader's last look and this call is
   * never missed.
   */
  wait(seen: bigint, signal?: AbortSignal): Promise<void> {
    if (this.latest > seen || this.closed || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        this.waiters.delete(wake);
        signal?.removeEventListener('abort', wake);
        resolve();
      };
      this.waiters.add(wake);
      signal?.addEventListener('abort', wake, { once: true });
      this.schedulePoll();
    });
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.wakeAll();
  }

  private wakeAll(): void {
    for (const wake of [...this.waiters]) wake();
  }

  private schedulePoll(): void {
    if (!this.poll || this.timer || this.closed) return;
    this.timer = setTimeout(() => void this.pollOnce(), this.pollInterval);
  }

  private async pollOnce(): Promise<void> {
    try {
      if (this.waiters.size > 0) this.advance(await this.poll!());
    } catch {
      // Let the waiting subscriptions read: their own reads raise the failure to their consumers.
      this.wakeAll();
    } finally {
      this.timer = undefined;
      if (this.waiters.size > 0) this.schedulePoll();
    }
  }
}
