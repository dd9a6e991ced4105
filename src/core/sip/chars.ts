// Byte classes and small byte scanners shared by the message, header and URI parsers.
// Tables are indexed by byte value; bytes >= 0x80 are in no class unless stated.

import { indexOfByte } from './bytes.js';

export const SP = 0x20;
export const HT = 0x09;
export const CR = 0x0d;
export const LF = 0x0a;
export const DQUOTE = 0x22;
const BACKSLASH = 0x5c;

/** A 256-entry class table: alphanumerics plus the given characters. */
function table(chars: string): Uint8Array {
  const t = new Uint8Array(256);
  for (let c = 0x30; c <= 0x39; c++) t[c] = 1;
  for (let c = 0x41; c <= 0x5a; c++) t[c] = 1;
  for (let c = 0x61; c <= 0x7a; c++) t[c] = 1;
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1;
  return t;
}

/** RFC 3261 token: alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" */
export const TOKEN = table("-.!%*_+`'~");
/** Host names and IPv4 addresses (IPv6 references add ':'); '_' is tolerated as Kamailio does. */
export const HOST = table('-._');

/**
 * Unquoted parameter values. The grammar allows token / host, but a proxy forwards what
 * others write (e.g. ";x=a/b@c", ";k=base64=="), so, as in Kamailio, any visible character
 * except the delimiters ; , " < > is taken.
 */
export const PARAM_VALUE = (() => {
  const t = new Uint8Array(256);
  for (let c = 0x21; c < 0x100; c++) t[c] = 1;
  for (const c of ';,"<>\x7f') t[c.charCodeAt(0)] = 0;
  return t;
})();

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

/** Whether buf[start, end) is a non-empty token. */
export function isToken(buf: Uint8Array, start: number, end: number): boolean {
  if (start >= end) return false;
  for (let p = start; p < end; p++) if (TOKEN[buf[p]] !== 1) return false;
  return true;
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
function hasLF(buf: Buffer, start: number, end: number): boolean {
  const lf = indexOfByte(buf, LF, start); // memchr: stops at the line end right after the value
  return lf !== -1 && lf < end;
}

// Prototype of parameter records: no inherited keys (params['constructor'] is undefined),
// yet, unlike Object.create(null), objects made from it keep V8's fast properties.
const PARAMS_PROTO = Object.create(null) as object;

/** An empty record for parameters (names are data, so nothing may be inherited). */
export function newParams(): Record<string, string> {
  return Object.create(PARAMS_PROTO) as Record<string, string>;
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
