// Small non-cryptographic hashes for branch ids, to-tags and worker selection.

/** FNV-1a 32-bit over a string's UTF-16 code units, seeded. */
export function fnv1a(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
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

const HEX = '0123456789abcdef';

/** Fixed-width hex of a 32-bit hash (toString(16) takes V8's slow radix path). */
export function hex32(n: number): string {
  return HEX[(n >>> 28) & 15] + HEX[(n >>> 24) & 15] + HEX[(n >>> 20) & 15] + HEX[(n >>> 16) & 15] +
    HEX[(n >>> 12) & 15] + HEX[(n >>> 8) & 15] + HEX[(n >>> 4) & 15] + HEX[n & 15];
}
