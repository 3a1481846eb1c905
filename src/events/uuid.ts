const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const POOL_SIZE = 4096;
const pool = new Uint8Array(POOL_SIZE);
let poolOffset = POOL_SIZE;

let lastMs = 0;
let counter = 0;

function randomBytes(n: number): number {
  if (poolOffset + n > POOL_SIZE) {
    globalThis.crypto.getRandomValues(pool);
    poolOffset = 0;
  }
  const at = poolOffset;
  poolOffset += n;
  return at;
}

/**
 * A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then a 12-bit counter seeded at random each
 * millisecond (so ids made in one process sort in the order they were made), then 62 random bits.
 */
export function uuidv7(): string {
  let ms = Date.now();
  if (ms > lastMs) {
    lastMs = ms;
    counter = pool[randomBytes(1)]! & 0x7f; // leave room to count up within the millisecond
  } else {
    ms = lastMs;
    counter += 1;
    if (counter > 0xfff) {
      lastMs = ms = lastMs + 1;
      counter = 0;
    }
  }
  const r = randomBytes(8);
  const b = [
    (ms / 2 ** 40) & 0xff,
    (ms / 2 ** 32) & 0xff,
    (ms >>> 24) & 0xff,
    (ms >>> 16) & 0xff,
    (ms >>> 8) & 0xff,
    ms & 0xff,
    0x70 | (counter >>> 8),
    counter & 0xff,
    0x80 | (pool[r]! & 0x3f),
    pool[r + 1]!,
    pool[r + 2]!,
    pool[r + 3]!,
    pool[r + 4]!,
    pool[r + 5]!,
    pool[r + 6]!,
    pool[r + 7]!,
  ];
  const h = b.map((x) => HEX[x]!);
  return `${h[0]}${h[1]}${h[2]}${h[3]}-${h[4]}${h[5]}-${h[6]}${h[7]}-${h[8]}${h[9]}-${h[10]}${h[11]}${h[12]}${h[13]}${h[14]}${h[15]}`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}
