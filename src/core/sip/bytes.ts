// Buffer methods called through module constants. In optimized code a call such as
// buf.indexOf(...) looks the method up on Buffer.prototype generically every time (a LoadIC
// call: TurboFan does not fold that prototype's methods), while a call through a constant is
// direct. These run several times per message (bench/micro/core.ts measures them).

const { indexOf: bufferIndexOf, write: bufferWrite, toString: bufferToString } = Buffer.prototype;
const { set: u8set, subarray: u8subarray } = Uint8Array.prototype;

/** buf.indexOf(byte, from) */
export function indexOfByte(buf: Buffer, byte: number, from: number): number {
  return bufferIndexOf.call(buf, byte, from);
}

/** A plain Uint8Array over buf's bytes, for copyBytes (cheaper to slice than a Buffer). */
export function plainBytes(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

/** Copies src[start, end) to target at `at`: the number of bytes copied. Ranges must be in bounds. */
export function copyBytes(src: Uint8Array, target: Uint8Array, at: number, start: number, end: number): number {
  if (end <= start) return 0;
  u8set.call(target, u8subarray.call(src, start, end), at);
  return end - start;
}

/** target.write(s, at, 'utf8'): the number of bytes written. */
export function writeUtf8(target: Buffer, s: string, at: number): number {
  return bufferWrite.call(target, s, at, 'utf8');
}

/** buf.toString(encoding, start, end) */
export function decodeBytes(buf: Buffer, encoding: 'utf8' | 'latin1', start: number, end: number): string {
  return bufferToString.call(buf, encoding, start, end);
}

/**
 * writeUtf8 with short ASCII strings (keys, names, Call-IDs) written by a loop: no call into C++.
 * The same bytes as writeUtf8.
 */
export function writeUtf8Short(target: Buffer, s: string, at: number): number {
  const n = s.length;
  if (n <= 128) {
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) break;
      target[at + i] = c;
    }
    if (i === n) return n;
  }
  return writeUtf8(target, s, at);
}

/** target.write(s, at, 'latin1') (one byte per char, the low 8 bits): the number of bytes written.
 *  Short strings by a loop: cheaper than the call into C++. */
export function writeLatin1(target: Uint8Array, s: string, at: number): number {
  const n = s.length;
  if (n > 48) return bufferWrite.call(target, s, at, 'latin1');
  for (let i = 0; i < n; i++) target[at + i] = s.charCodeAt(i);
  return n;
}

/**
 * A copy of `s` that keeps nothing else alive. The parser's strings are slices of the message's
 * decoded head (and keys are built from them): one kept for seconds (a transaction's key or
 * Call-ID in its wait state) would keep the whole ~0.5 KB head with it. Flattening a
 * concatenation copies its characters into a string of its own; the slice of it taken back is
 * cut from that copy, not from the message.
 */
export function ownString(s: string): string {
  if (s.length < 13) return s.length === 0 ? s : (s + ' ').slice(0, -1); // V8 copies short strings
  const joined = s + ' ';
  joined.charCodeAt(0); // flattens the concatenation into a fresh sequential string
  return joined.slice(0, -1);
}
