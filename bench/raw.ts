import type { Measured } from './stats.js';

/** The same work as a scenario, done with the raw driver: the physical limit beside our figure. */
export interface RawReference {
  /** One INSERT per transaction, one transaction after another. */
  singles(count: number, data: unknown, prefix: string): Promise<Measured>;
  /** `writers` concurrent writers, each one INSERT per transaction. */
  concurrent(writers: number, perWriter: number, data: unknown, prefix: string): Promise<Measured>;
  /** `size` INSERTs (or one multi-row INSERT) in one transaction, `times` times. */
  batches(times: number, size: number, data: unknown, stream: string): Promise<Measured>;
  readStream(stream: string, expected: number): Promise<Measured>;
  /** Rows written so far. */
  readonly rows: number;
  /** The arguments for bench/read-all.ts to read the whole table in a fresh process. */
  readonly readAllArgs: readonly [string, string];
  close(): Promise<void>;
}
