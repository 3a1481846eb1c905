import type { StreamHead } from '../store/backend.js';

/**
 * The heads this process last wrote or read, so that a write can be planned without reading them
 * again. Entries may be stale (another process wrote since): every write checks the heads it was
 * planned on under the append lock, so a stale entry costs a retry, never a wrong write.
 */
export class HeadCache {
  private readonly heads = new Map<string, StreamHead>();

  constructor(private readonly capacity: number) {}

  get(stream: string): StreamHead | undefined {
    return this.heads.get(stream);
  }

  set(head: StreamHead): void {
    this.heads.delete(head.stream); // re-inserted last: the oldest entry is the first to go
    this.heads.set(head.stream, head);
    if (this.heads.size > this.capacity) this.heads.delete(this.heads.keys().next().value!);
  }

  forget(streams: readonly string[]): void {
    for (const stream of streams) this.heads.delete(stream);
  }
}
