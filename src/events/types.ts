/** A JSON value: what event data and metadata are made of. */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json | undefined };

/** Metadata travels with an event; `correlationId` and `causationId` link it to what caused it. */
export type Metadata = {
  correlationId?: string;
  causationId?: string;
  [key: string]: Json | undefined;
};

/** An event to append. `id` is generated (UUIDv7) when absent; give one to make a retried append idempotent. */
export interface NewEvent<T extends string = string, D = unknown> {
  readonly type: T;
  readonly data: D;
  readonly id?: string;
  readonly metadata?: Metadata;
}

/** An event as the store recorded it. */
export interface RecordedEvent<T extends string = string, D = unknown> {
  /** UUID (v7 when generated), unique in the whole store. */
  readonly id: string;
  readonly stream: string;
  /** 1-based place in its stream. */
  readonly version: number;
  /** Global position: strictly increasing in `readAll` and `subscribe` order. */
  readonly position: bigint;
  readonly type: T;
  readonly data: D;
  readonly metadata: Metadata;
  /** Schema version as stored, before upcasting. */
  readonly schemaVersion: number;
  readonly recordedAt: Date;
}

/**
 * What the stream's version must be for an append to go ahead.
 * A number is exact (0 = the stream has no events); `no_stream` and `stream_exists` test existence.
 */
export type ExpectedVersion = number | 'any' | 'no_stream' | 'stream_exists';
