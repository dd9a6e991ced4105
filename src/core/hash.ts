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

/** Base-36 text of a 32-bit hash (short, token-safe). */
export function h36(n: number): string {
  return (n >>> 0).toString(36);
}
