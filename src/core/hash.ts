// Small non-cryptographic hashes for branch ids, to-tags and worker selection.

/** FNV-1a 32-bit over a string's UTF-16 code units, seeded. */
export function fnv1a(s: string, seed = 0x811c9dc5): number {
  return fnv1aRange(s, 0, s.length, seed);
}

/** fnv1a over s[start, end): chained by passing one range's hash as the next one's seed. */
export function fnv1aRange(s: string, start: number, end: number, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = start; i < end; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** FNV-1a 32-bit over bytes. */
export function fnv1aBytes(b: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    h ^= b[i];
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

// Two hex digits per byte value: four table reads and three concatenations per hash.
const HEX2 = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/** Fixed-width hex of a 32-bit hash (toString(16) takes V8's slow radix path). */
export function hex32(n: number): string {
  return HEX2[(n >>> 24) & 255] + HEX2[(n >>> 16) & 255] + HEX2[(n >>> 8) & 255] + HEX2[n & 255];
}
