// The receiving thread's only look inside a datagram: find the Call-ID (or compact "i")
// header and hash its value, so every message of a call lands on the same worker.
// No parse, no string: the usual spelling is found by one native search, any other by a byte
// scan over header line starts (a JS byte loop costs ~3 µs on a 600-byte INVITE).

const CR = 13, LF = 10, COLON = 58, SP = 32, HT = 9;

function isCallIdName(b: Uint8Array, s: number, e: number): boolean {
  const n = e - s;
  if (n === 1) return (b[s] | 0x20) === 0x69; // i
  return n === 7 && (b[s] | 0x20) === 0x63 && (b[s + 1] | 0x20) === 0x61 && (b[s + 2] | 0x20) === 0x6c &&
    (b[s + 3] | 0x20) === 0x6c && b[s + 4] === 0x2d && (b[s + 5] | 0x20) === 0x69 && (b[s + 6] | 0x20) === 0x64;
}

/** FNV-1a of the value starting at i (after the colon), up to the end of its first word. */
function hashValue(b: Uint8Array, i: number, len: number): number {
  while (i < len && (b[i] === SP || b[i] === HT)) i++;
  let h = 0x811c9dc5;
  while (i < len && b[i] !== CR && b[i] !== LF && b[i] !== SP && b[i] !== HT) {
    h ^= b[i++];
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const USUAL = Buffer.from('\nCall-ID:', 'latin1');
const HEADERS_END = Buffer.from('\r\n\r\n', 'latin1');

/** FNV-1a of the Call-ID value, or -1 when the datagram has none before the blank line. */
export function callIdHash(b: Buffer, len: number): number {
  const at = b.indexOf(USUAL);
  if (at !== -1 && at < len) {
    const end = b.indexOf(HEADERS_END);
    if (end === -1 || at < end) return hashValue(b, at + USUAL.length, len);
  }
  return scanCallIdHash(b, len);
}

/** callIdHash for any spelling: compact form, other case, space before the colon. */
export function scanCallIdHash(b: Uint8Array, len: number): number {
  let i = 0;
  // skip the first line
  while (i < len && b[i] !== LF) i++;
  i++;
  while (i < len) {
    if (b[i] === CR || b[i] === LF) return -1; // blank line: end of headers
    const nameStart = i;
    while (i < len && b[i] !== COLON && b[i] !== SP && b[i] !== HT && b[i] !== LF) i++;
    const nameEnd = i;
    while (i < len && (b[i] === SP || b[i] === HT)) i++;
    if (i < len && b[i] === COLON && isCallIdName(b, nameStart, nameEnd)) return hashValue(b, i + 1, len);
    // next line (folded continuation lines start with whitespace and are skipped as names)
    while (i < len && b[i] !== LF) i++;
    i++;
  }
  return -1;
}
