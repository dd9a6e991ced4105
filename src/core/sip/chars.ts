// Byte classes and small byte scanners shared by the message, header and URI parsers.
// Tables are indexed by byte value; bytes >= 0x80 are in no class unless stated.

export const SP = 0x20;
export const HT = 0x09;
export const CR = 0x0d;
export const LF = 0x0a;
export const DQUOTE = 0x22;
export const BACKSLASH = 0x5c;

function table(chars: string, alnum: boolean): Uint8Array {
  const t = new Uint8Array(256);
  if (alnum) {
    for (let c = 0x30; c <= 0x39; c++) t[c] = 1;
    for (let c = 0x41; c <= 0x5a; c++) t[c] = 1;
    for (let c = 0x61; c <= 0x7a; c++) t[c] = 1;
  }
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1;
  return t;
}

/** RFC 3261 token: alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" */
export const TOKEN = table("-.!%*_+`'~", true);
/** Characters of a host name, IPv4 address, or (with ':' '[' ']') an IPv6 reference. '_' is tolerated as Kamailio does. */
export const HOST = table('-._', true);
/** Parameter values: token plus what a host or IPv6 address adds (gen-value = token / host / quoted-string). */
export const PARAM_VALUE = table("-.!%*_+`'~:[]", true);

/** True for SP, HTAB, CR and LF: inside a header value CR/LF only occur as part of folding (LWS). */
export function isLWS(b: number): boolean {
  return b === SP || b === HT || b === CR || b === LF;
}

/** First position at or after p, below end, that is not LWS. */
export function skipLWS(buf: Uint8Array, p: number, end: number): number {
  while (p < end) {
    const b = buf[p];
    if (b !== SP && b !== HT && b !== CR && b !== LF) break;
    p++;
  }
  return p;
}

/** First position at or after p, below end, whose byte is not in the class table t. */
export function skipClass(buf: Uint8Array, p: number, end: number, t: Uint8Array): number {
  while (p < end && t[buf[p]] === 1) p++;
  return p;
}

/**
 * Position just after the quoted string that opens at p (buf[p] is '"'), or -1 when it is
 * not terminated before end. A backslash escapes the next byte (quoted-pair).
 */
export function skipQuoted(buf: Uint8Array, p: number, end: number): number {
  p++;
  while (p < end) {
    const b = buf[p];
    if (b === DQUOTE) return p + 1;
    if (b === BACKSLASH) p++;
    p++;
  }
  return -1;
}

/**
 * Decimal value of buf[start, end) when it is 1*DIGIT, else -1. Long digit runs lose
 * precision but stay finite and huge, so range checks still reject them.
 */
export function parseDigits(buf: Uint8Array, start: number, end: number): number {
  if (start >= end) return -1;
  let n = 0;
  for (let p = start; p < end; p++) {
    const d = buf[p] - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** Whether buf[start, end) contains a line feed, i.e. a folded (multi-line) value. */
export function hasLF(buf: Uint8Array, start: number, end: number): boolean {
  for (let p = start; p < end; p++) if (buf[p] === LF) return true;
  return false;
}

/**
 * Text of buf[start, end) as UTF-8, with each run of LWS that contains a line break
 * (folding) replaced by one SP, as RFC 3261 7.3.1 lets a reader do.
 */
export function decodeUnfolded(buf: Buffer, start: number, end: number): string {
  if (!hasLF(buf, start, end)) return buf.toString('utf8', start, end);
  let out = '';
  let segStart = start;
  let p = start;
  while (p < end) {
    if (buf[p] === CR || buf[p] === LF) {
      // back up over the whitespace before the break, then skip all of it after
      let q = p;
      while (q > segStart && (buf[q - 1] === SP || buf[q - 1] === HT)) q--;
      out += buf.toString('utf8', segStart, q) + ' ';
      p = skipLWS(buf, p, end);
      segStart = p;
    } else {
      p++;
    }
  }
  return out + buf.toString('utf8', segStart, end);
}
