// TmRecord <-> bytes. A flat little-endian layout written into one reused buffer per thread:
// no JSON, no intermediate objects. bench/micro/tm-store.ts compares it to JSON.
//
//   u8 version, u8 state, u16 replyCode, u16 owner, u16 reserved
//   f64 created, f64 lifetimeDeadline, u32 msgFlags, u32 tFlags
//   s16 callId, s16 method, s8 onReply, s8 onFailure, s8 onBranch, s8 onBranchFailure
//   b32 request, b32 reply
//   u16 avp names; per name: s16 name, u16 values; per value: u8 0 + s16 | u8 1 + f64
//   u8 branches; per branch: s16 uri, s16 dst, s16 socket, s8 branchId, u8 state, u16 lastCode,
//     u32 retrInterval, f64 retrNext, f64 frDeadline, u32 flags, b32 request
//
// sN: a UTF-8 string after its byte length as uN; b32: bytes after their length as u32.
// Decoding checks every length against the end, so a damaged record (a writer killed mid-copy)
// throws TmRecordDecodeError instead of yielding garbage.
import { decodeBytes, writeUtf8 } from '../../../core/sip/bytes.js';
import type { TmBranch, TmRecord, TmState } from './record.js';

const VERSION = 1;
/** Offsets in the value of the numbers TmStore.updateState changes in place (u8 state, u16 LE code). */
export const OFF_STATE = 1;
export const OFF_REPLY_CODE = 2;
const STR = 0;
const NUM = 1;

const bufferCopy = Buffer.prototype.copy as (this: Uint8Array, target: Uint8Array, at: number, start: number, end: number) => number;

export class TmRecordDecodeError extends Error {
  constructor(detail: string) {
    super(`damaged transaction record: ${detail}`);
    this.name = 'TmRecordDecodeError';
  }
}

/** Encodes records into one growing buffer; the result is a view valid until the next encode. */
export class TmEncoder {
  private buf = Buffer.allocUnsafe(4096);
  private view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  private at = 0;

  encode(r: TmRecord): Buffer {
    this.at = 0;
    this.room(40);
    const v = this.view;
    v.setUint8(0, VERSION);
    v.setUint8(OFF_STATE, r.state);
    v.setUint16(OFF_REPLY_CODE, r.replyCode, true);
    v.setUint16(4, r.owner, true);
    v.setUint16(6, 0, true);
    v.setFloat64(8, r.created, true);
    v.setFloat64(16, r.lifetimeDeadline, true);
    v.setUint32(24, r.msgFlags >>> 0, true);
    v.setUint32(28, r.tFlags >>> 0, true);
    this.at = 32;
    this.str16(r.callId);
    this.str16(r.method);
    this.str8(r.onReply);
    this.str8(r.onFailure);
    this.str8(r.onBranch);
    this.str8(r.onBranchFailure);
    this.bytes(r.request);
    this.bytes(r.reply);
    const avps = r.avps;
    this.room(2);
    this.view.setUint16(this.at, avps === null ? 0 : avps.size, true);
    this.at += 2;
    if (avps !== null) {
      for (const [name, values] of avps) {
        this.str16(name);
        this.room(2);
        this.view.setUint16(this.at, values.length, true);
        this.at += 2;
        for (let i = 0; i < values.length; i++) {
          const x = values[i]!;
          this.room(9);
          if (typeof x === 'number') {
            this.view.setUint8(this.at, NUM);
            this.view.setFloat64(this.at + 1, x, true);
            this.at += 9;
          } else {
            this.view.setUint8(this.at++, STR);
            this.str16(x);
          }
        }
      }
    }
    const branches = r.branches;
    this.room(1);
    this.view.setUint8(this.at++, branches.length);
    for (let i = 0; i < branches.length; i++) {
      const b = branches[i]!;
      this.str16(b.uri);
      this.str16(b.dst);
      this.str16(b.socket);
      this.str8(b.branchId);
      this.room(32);
      const w = this.view;
      const at = this.at;
      w.setUint8(at, b.state);
      w.setUint16(at + 1, b.lastCode, true);
      w.setUint32(at + 3, b.retrInterval, true);
      w.setFloat64(at + 7, b.retrNext, true);
      w.setFloat64(at + 15, b.frDeadline, true);
      w.setUint32(at + 23, b.flags >>> 0, true);
      this.at = at + 27;
      this.bytes(b.request);
    }
    return this.buf.subarray(0, this.at);
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    bufferCopy.call(this.buf, bigger, 0, 0, this.at);
    this.buf = bigger;
    this.view = new DataView(bigger.buffer, bigger.byteOffset, bigger.length);
  }

  private str16(s: string): void {
    this.room(2 + s.length * 3);
    const n = writeUtf8(this.buf, s, this.at + 2);
    if (n > 0xffff) throw new RangeError(`transaction record: string of ${n} bytes (65535 at most)`);
    this.view.setUint16(this.at, n, true);
    this.at += 2 + n;
  }

  private str8(s: string): void {
    this.room(1 + s.length * 3);
    const n = writeUtf8(this.buf, s, this.at + 1);
    if (n > 0xff) throw new RangeError(`transaction record: name of ${n} bytes (255 at most): ${s.slice(0, 40)}`);
    this.view.setUint8(this.at, n);
    this.at += 1 + n;
  }

  private bytes(b: Uint8Array): void {
    this.room(4 + b.length);
    this.view.setUint32(this.at, b.length, true);
    bufferCopy.call(b, this.buf, this.at + 4, 0, b.length);
    this.at += 4 + b.length;
  }
}

/**
 * Decodes a record from buf[0, length). Byte fields are copied out (the buffer is the caller's
 * to reuse). `key` is the store's key, which is not in the value.
 */
export function decodeTmRecord(key: string, buf: Buffer, length = buf.length): TmRecord {
  const d = new Decoder(buf, length);
  if (length < 32 || buf[0] !== VERSION) throw new TmRecordDecodeError(`${length} bytes, version ${buf[0]}`);
  const v = d.view;
  const state = v.getUint8(OFF_STATE) as TmState;
  const replyCode = v.getUint16(OFF_REPLY_CODE, true);
  const owner = v.getUint16(4, true);
  const created = v.getFloat64(8, true);
  const lifetimeDeadline = v.getFloat64(16, true);
  const msgFlags = v.getUint32(24, true);
  const tFlags = v.getUint32(28, true);
  d.at = 32;
  const callId = d.str(2);
  const method = d.str(2);
  const onReply = d.str(1);
  const onFailure = d.str(1);
  const onBranch = d.str(1);
  const onBranchFailure = d.str(1);
  const request = d.bytes();
  const reply = d.bytes();
  const names = d.u16();
  let avps: Map<string, (string | number)[]> | null = null;
  if (names > 0) {
    avps = new Map();
    for (let i = 0; i < names; i++) {
      const name = d.str(2);
      const n = d.u16();
      const values: (string | number)[] = [];
      for (let k = 0; k < n; k++) values.push(d.u8() === NUM ? d.f64() : d.str(2));
      avps.set(name, values);
    }
  }
  const nb = d.u8();
  const branches: TmBranch[] = [];
  for (let i = 0; i < nb; i++) {
    const uri = d.str(2);
    const dst = d.str(2);
    const socket = d.str(2);
    const branchId = d.str(1);
    d.need(27);
    const at = d.at;
    branches.push({
      uri, dst, socket, branchId,
      state: v.getUint8(at) as TmState,
      lastCode: v.getUint16(at + 1, true),
      retrInterval: v.getUint32(at + 3, true),
      retrNext: v.getFloat64(at + 7, true),
      frDeadline: v.getFloat64(at + 15, true),
      flags: v.getUint32(at + 23, true),
      request: (d.at = at + 27, d.bytes()),
    });
  }
  if (d.at !== length) throw new TmRecordDecodeError(`${length - d.at} bytes left over`);
  return {
    key, owner, callId, method, state, created, lifetimeDeadline, request, reply, replyCode,
    onReply, onFailure, onBranch, onBranchFailure, msgFlags, tFlags, avps, branches,
  };
}

class Decoder {
  readonly view: DataView;
  at = 0;
  constructor(readonly buf: Buffer, readonly end: number) {
    this.view = new DataView(buf.buffer, buf.byteOffset, end);
  }

  need(n: number): void {
    if (this.at + n > this.end) throw new TmRecordDecodeError(`field at ${this.at} runs past the end (${this.end})`);
  }

  u8(): number {
    this.need(1);
    return this.view.getUint8(this.at++);
  }

  u16(): number {
    this.need(2);
    const x = this.view.getUint16(this.at, true);
    this.at += 2;
    return x;
  }

  f64(): number {
    this.need(8);
    const x = this.view.getFloat64(this.at, true);
    this.at += 8;
    return x;
  }

  str(lengthBytes: 1 | 2): string {
    const n = lengthBytes === 1 ? this.u8() : this.u16();
    this.need(n);
    const s = decodeBytes(this.buf, 'utf8', this.at, this.at + n);
    this.at += n;
    return s;
  }

  bytes(): Buffer {
    this.need(4);
    const n = this.view.getUint32(this.at, true);
    this.at += 4;
    this.need(n);
    const out = Buffer.allocUnsafe(n);
    bufferCopy.call(this.buf, out, 0, this.at, this.at + n);
    this.at += n;
    return out;
  }
}
