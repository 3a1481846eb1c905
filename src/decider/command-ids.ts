const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * The ids of the events a command appends, derived from its idempotency key: the same key on the
 * same stream always gives the same ids, so a retried command appends nothing twice. UUIDv8
 * (RFC 9562, custom) from SHA-256 of the stream, the key and the event's index.
 */
export async function commandEventIds(stream: string, key: string, count: number): Promise<string[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => commandEventId(stream, key, i)));
}

export async function commandEventId(stream: string, key: string, index: number): Promise<string> {
  const text = new TextEncoder().encode(`factline:command\u0000${stream}\u0000${key}\u0000${index}`);
  const b = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', text)).slice(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = Array.from(b, (x) => HEX[x]!).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
