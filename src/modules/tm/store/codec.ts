// tm's TxRecord (../record.ts) <-> bytes: the one record type, as the shared-memory store keeps
// it. A flat little-endian layout written into one reused buffer per thread: no JSON, no
// intermediate objects (bench/micro/tm-store.ts compares it to JSON).
//
// Every number sits at a fixed offset (the transaction's, then each branch's), so a state change
// is written in place (writeFixed) without encoding again; the variable part (strings, bytes,
// AVPs) follows and is rewritten only when new bytes must be kept (a final reply, a new branch).
//
//   fixed     TX_FIXED bytes: u8 version, u8 state, u16 uasCode, u8 methodId, u8 canceled,
//             u8 branches, u8 maxfwdDone, u16 srcPort, u16 replyPort, u16 sock, i32 flags,
//             i32 tFlags, u32 frTimer, frInvTimer, retr1, retr2, uasRetrInterval, f64 uasRetrAt,
//             endAt, waitAt, createdAt, uasRetrEndAt
//   branches  BR_FIXED bytes each: u8 state, cancel, timedOut, dropped, u16 lastCode, sock,
//             port, u32 retrInterval, f64 retrAt, frAt, u32 cancelRetrInterval, f64 cancelRetrAt,
//             cancelEndAt
//   variable  s16 method, callId, srcIp, replyHost, n16 ruri, rr, s16 rrParams, s8 onReply,
//             onFailure, onBranch, onBranchFailure, b32 request, n32 lastReply, avps, xavps,
//             lumps; per branch: s16 branch, host, uri, lastReason, n32 finalReply, b32 request,
//             n32 cancelRequest
//   lumps     u16 count; per lump: u32 start, end, seq, s32 text
//   avps      u16 names; per name: s16 name, u16 values, each value
//   xavps     u16 names; per name: s16 name, u16 items; per item: u16 fields; per field: s16 key, value
//   value     u8 0 + s16 | u8 1 + f64
//
// sN: a UTF-8 string after its byte length as uN; nN: the same, or null as the all-ones length;
// b32: bytes after their length as u32 (a branch's finalReply that is the lastReply: SAME32, no bytes). Decoding checks every length against the end, so a
// damaged record (a writer killed mid-copy) throws TmRecordDecodeError instead of yielding garbage.
//
// Times: TxRecord's deadlines are the owner thread's performance.now(), whose origin differs per
// thread. The store keeps them on the shared clock performance.timeOrigin + t (epoch ms), so the
// thread that adopts a record reads them back on its own clock; 0 (not armed) stays 0.
import { performance } from 'node:perf_hooks';
import { decodeBytes, writeUtf8, writeUtf8Short } from '../../../core/sip/bytes.js';
import type { Lump } from '../../../core/lumps.js';
import type { AvpMap, XavpMap } from '../../../core/context.js';
import type { BranchRecord, TxRecord } from '../record.js';

const VERSION = 3;
export const TX_FIXED = 88;
export const BR_FIXED = 56;
/** Offsets of the numbers a reader of the store may want without decoding. */
export const OFF_STATE = 1;
export const OFF_UAS_CODE = 2;
const OFF_BRANCHES = 6;
const STR = 0;
const NUM = 1;
const NULL16 = 0xffff;
const NULL32 = 0xffffffff;
/** A branch's finalReply that is the transaction's lastReply (a relayed final): kept once. */
const SAME32 = 0xfffffffe;

const bufferCopy = Buffer.prototype.copy as (this: Uint8Array, target: Uint8Array, at: number, start: number, end: number) => number;

// performance.timeOrigin is a getter into C++ (hundreds of ns): read once per thread
const ORIGIN = performance.timeOrigin;
/** This thread's monotonic time on the shared clock (epoch ms), 0 kept as "not armed". */
export const toShared = (t: number): number => (t === 0 ? 0 : ORIGIN + t);
/** A shared-clock time on this thread's performance.now() clock. */
export const fromShared = (t: number): number => (t === 0 ? 0 : t - ORIGIN);

export class TmRecordDecodeError extends Error {
  constructor(detail: string) {
    super(`damaged transaction record: ${detail}`);
    this.name = 'TmRecordDecodeError';
  }
}

/** Branches encoded in a record (its fixed part holds their numbers). */
export function encodedBranches(view: DataView, at: number): number {
  return view.getUint8(at + OFF_BRANCHES);
}

/**
 * Writes the fixed part (every number of the transaction and of its first `branches` branches)
 * at `at`: used by encode, and in place by the store for a state change.
 */
export function writeFixed(v: DataView, at: number, r: TxRecord, branches: number): void {
  v.setUint8(at, VERSION);
  v.setUint8(at + OFF_STATE, r.state);
  v.setUint16(at + OFF_UAS_CODE, r.uasCode, true);
  v.setUint8(at + 4, r.methodId);
  v.setUint8(at + 5, r.canceled ? 1 : 0);
  v.setUint8(at + OFF_BRANCHES, branches);
  v.setUint8(at + 7, r.maxfwdDone ? 1 : 0);
  v.setUint16(at + 8, r.srcPort, true);
  v.setUint16(at + 10, r.replyPort, true);
  v.setUint16(at + 12, r.sock, true);
  v.setUint16(at + 14, 0, true);
  v.setInt32(at + 16, r.flags, true);
  v.setInt32(at + 20, r.tFlags, true);
  v.setUint32(at + 24, r.frTimer, true);
  v.setUint32(at + 28, r.frInvTimer, true);
  v.setUint32(at + 32, r.retr1, true);
  v.setUint32(at + 36, r.retr2, true);
  v.setUint32(at + 40, r.uasRetrInterval, true);
  v.setUint32(at + 44, 0, true);
  v.setFloat64(at + 48, toShared(r.uasRetrAt), true);
  v.setFloat64(at + 56, toShared(r.endAt), true);
  v.setFloat64(at + 64, toShared(r.waitAt), true);
  v.setFloat64(at + 72, toShared(r.createdAt), true);
  v.setFloat64(at + 80, toShared(r.uasRetrEndAt), true);
  const list = r.branches;
  for (let i = 0; i < branches; i++) {
    const b = list[i]!;
    const o = at + TX_FIXED + i * BR_FIXED;
    v.setUint8(o, b.state);
    v.setUint8(o + 1, b.cancel);
    v.setUint8(o + 2, b.timedOut ? 1 : 0);
    v.setUint8(o + 3, b.dropped ? 1 : 0);
    v.setUint16(o + 4, b.lastCode, true);
    v.setUint16(o + 6, b.sock, true);
    v.setUint16(o + 8, b.port, true);
    v.setUint16(o + 10, 0, true);
    v.setUint32(o + 12, b.retrInterval, true);
    v.setFloat64(o + 16, toShared(b.retrAt), true);
    v.setFloat64(o + 24, toShared(b.frAt), true);
    v.setUint32(o + 32, b.cancelRetrInterval, true);
    v.setUint32(o + 36, 0, true);
    v.setFloat64(o + 40, toShared(b.cancelRetrAt), true);
    v.setFloat64(o + 48, toShared(b.cancelEndAt), true);
  }
}

/** Encodes records into one growing buffer; the result is a view valid until the next encode. */
export class TmEncoder {
  private buf = Buffer.allocUnsafe(4096);
  private view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  private at = 0;

  encode(r: TxRecord): Buffer {
    const branches = r.branches;
    const nb = branches.length;
    if (nb > 255) throw new RangeError(`transaction record: ${nb} branches (255 at most)`);
    this.at = 0;
    this.room(TX_FIXED + nb * BR_FIXED);
    writeFixed(this.view, 0, r, nb);
    this.at = TX_FIXED + nb * BR_FIXED;
    this.str16(r.method);
    this.str16(r.callId);
    this.str16(r.srcIp);
    this.str16(r.replyHost);
    this.null16(r.ruri);
    this.null16(r.rr);
    this.str16(r.rrParams);
    this.str8(r.onReply);
    this.str8(r.onFailure);
    this.str8(r.onBranch);
    this.str8(r.onBranchFailure);
    this.bytes(r.request);
    this.nullBytes(r.lastReply);
    this.u16(r.avps?.size ?? 0);
    if (r.avps !== null) for (const [name, values] of r.avps) {
      this.str16(name);
      this.u16(values.length);
      for (let i = 0; i < values.length; i++) this.value(values[i]!);
    }
    this.u16(r.xavps?.size ?? 0);
    if (r.xavps !== null) for (const [name, items] of r.xavps) {
      this.str16(name);
      this.u16(items.length);
      for (let i = 0; i < items.length; i++) {
        const item = items[i]!;
        const keys = Object.keys(item);
        this.u16(keys.length);
        for (let k = 0; k < keys.length; k++) {
          this.str16(keys[k]!);
          this.value(item[keys[k]!]!);
        }
      }
    }
    this.u16(r.lumps.length);
    for (const l of r.lumps) {
      this.u32(l.start);
      this.u32(l.end);
      this.u32(l.seq);
      this.str32(l.text);
    }
    for (let i = 0; i < nb; i++) {
      const b = branches[i]!;
      this.str16(b.branch);
      this.str16(b.host);
      this.str16(b.uri);
      this.str16(b.lastReason);
      if (b.finalReply !== null && b.finalReply === r.lastReply) this.u32(SAME32);
      else this.nullBytes(b.finalReply);
      this.bytes(b.request);
      this.nullBytes(b.cancelRequest);
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

  private u16(n: number): void {
    if (n > 0xffff) throw new RangeError(`transaction record: ${n} entries (65535 at most)`);
    this.room(2);
    this.view.setUint16(this.at, n, true);
    this.at += 2;
  }

  private u32(n: number): void {
    this.room(4);
    this.view.setUint32(this.at, n, true);
    this.at += 4;
  }

  private value(x: string | number): void {
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

  private str16(s: string): void {
    this.room(2 + s.length * 3);
    const n = writeUtf8Short(this.buf, s, this.at + 2);
    if (n >= NULL16) throw new RangeError(`transaction record: string of ${n} bytes (65534 at most)`);
    this.view.setUint16(this.at, n, true);
    this.at += 2 + n;
  }

  private str32(s: string): void {
    this.room(4 + s.length * 3);
    const n = writeUtf8(this.buf, s, this.at + 4);
    this.view.setUint32(this.at, n, true);
    this.at += 4 + n;
  }

  private null16(s: string | null): void {
    if (s !== null) return this.str16(s);
    this.u16(NULL16);
  }

  private str8(s: string): void {
    this.room(1 + s.length * 3);
    const n = writeUtf8Short(this.buf, s, this.at + 1);
    if (n > 0xff) throw new RangeError(`transaction record: name of ${n} bytes (255 at most): ${s.slice(0, 40)}`);
    this.view.setUint8(this.at, n);
    this.at += 1 + n;
  }

  private bytes(b: Uint8Array): void {
    this.room(4 + b.length);
    this.view.setUint32(this.at, b.length, true);
    this.buf.set(b, this.at + 4); // a whole array: V8's memcpy, without Buffer.copy's checks and view
    this.at += 4 + b.length;
  }

  private nullBytes(b: Uint8Array | null): void {
    if (b !== null) return this.bytes(b);
    this.u32(NULL32);
  }
}

/**
 * Decodes a record from buf[0, length). Byte fields are copied out (the buffer is the caller's
 * to reuse). `key` is the store's key, which is not in the value.
 */
export function decodeTxRecord(key: string, buf: Buffer, length = buf.length): TxRecord {
  if (length < TX_FIXED || buf[0] !== VERSION) throw new TmRecordDecodeError(`${length} bytes, version ${buf[0]}`);
  const d = new Decoder(buf, length);
  const v = d.view;
  const nb = v.getUint8(OFF_BRANCHES);
  d.at = TX_FIXED;
  d.need(nb * BR_FIXED);
  const fixed: BranchRecord[] = [];
  for (let i = 0; i < nb; i++) {
    const o = TX_FIXED + i * BR_FIXED;
    fixed.push({
      branch: '', sock: v.getUint16(o + 6, true), host: '', port: v.getUint16(o + 8, true), uri: '',
      state: v.getUint8(o), lastCode: v.getUint16(o + 4, true), lastReason: '', finalReply: null,
      request: Buffer.alloc(0), retrAt: fromShared(v.getFloat64(o + 16, true)), retrInterval: v.getUint32(o + 12, true),
      frAt: fromShared(v.getFloat64(o + 24, true)), cancel: v.getUint8(o + 1), timedOut: v.getUint8(o + 2) === 1,
      dropped: v.getUint8(o + 3) === 1, cancelRequest: null, cancelRetrInterval: v.getUint32(o + 32, true),
      cancelRetrAt: fromShared(v.getFloat64(o + 40, true)), cancelEndAt: fromShared(v.getFloat64(o + 48, true)),
    });
  }
  d.at = TX_FIXED + nb * BR_FIXED;
  const method = d.str(2);
  const callId = d.str(2);
  const srcIp = d.str(2);
  const replyHost = d.str(2);
  const ruri = d.nullStr();
  const rr = d.nullStr();
  const rrParams = d.str(2);
  const onReply = d.str(1);
  const onFailure = d.str(1);
  const onBranch = d.str(1);
  const onBranchFailure = d.str(1);
  const request = d.bytes();
  const lastReply = d.nullBytes();
  // no AVPs: null, as tm keeps a transaction that has none
  const avpNames = d.u16();
  const avps: AvpMap | null = avpNames === 0 ? null : new Map();
  for (let i = 0; i < avpNames; i++) {
    const name = d.str(2);
    const values: (string | number)[] = [];
    for (let k = 0, n = d.u16(); k < n; k++) values.push(d.value());
    avps!.set(name, values);
  }
  const xavpNames = d.u16();
  const xavps: XavpMap | null = xavpNames === 0 ? null : new Map();
  for (let i = 0; i < xavpNames; i++) {
    const name = d.str(2);
    const items: Record<string, string | number>[] = [];
    for (let k = 0, n = d.u16(); k < n; k++) {
      const item: Record<string, string | number> = {};
      for (let f = 0, nf = d.u16(); f < nf; f++) {
        const fk = d.str(2);
        item[fk] = d.value();
      }
      items.push(item);
    }
    xavps!.set(name, items);
  }
  const lumps: Lump[] = [];
  for (let i = 0, n = d.u16(); i < n; i++) {
    const start = d.u32(), end = d.u32(), seq = d.u32();
    lumps.push({ start, end, seq, text: d.str(4) });
  }
  for (let i = 0; i < nb; i++) {
    const b = fixed[i]!;
    b.branch = d.str(2);
    b.host = d.str(2);
    b.uri = d.str(2);
    b.lastReason = d.str(2);
    b.finalReply = d.nullBytes(lastReply);
    b.request = d.bytes();
    b.cancelRequest = d.nullBytes();
  }
  if (d.at !== length) throw new TmRecordDecodeError(`${length - d.at} bytes left over`);
  return {
    key, method, methodId: v.getUint8(4), callId, state: v.getUint8(OFF_STATE), request, srcIp,
    srcPort: v.getUint16(8, true), sock: v.getUint16(12, true), replyHost, replyPort: v.getUint16(10, true),
    ruri, rr, rrParams, uasCode: v.getUint16(OFF_UAS_CODE, true), lastReply, branches: fixed,
    onReply, onFailure, onBranch, onBranchFailure, flags: v.getInt32(16, true), tFlags: v.getInt32(20, true),
    avps, xavps, frTimer: v.getUint32(24, true), frInvTimer: v.getUint32(28, true),
    retr1: v.getUint32(32, true), retr2: v.getUint32(36, true),
    uasRetrAt: fromShared(v.getFloat64(48, true)), uasRetrInterval: v.getUint32(40, true),
    endAt: fromShared(v.getFloat64(56, true)), waitAt: fromShared(v.getFloat64(64, true)),
    canceled: v.getUint8(5) === 1, createdAt: fromShared(v.getFloat64(72, true)),
    lumps, maxfwdDone: v.getUint8(7) === 1, uasRetrEndAt: fromShared(v.getFloat64(80, true)),
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

  value(): string | number {
    if (this.u8() !== NUM) return this.str(2);
    this.need(8);
    const x = this.view.getFloat64(this.at, true);
    this.at += 8;
    return x;
  }

  u32(): number {
    this.need(4);
    const x = this.view.getUint32(this.at, true);
    this.at += 4;
    return x;
  }

  str(lengthBytes: 1 | 2 | 4): string {
    const n = lengthBytes === 1 ? this.u8() : lengthBytes === 2 ? this.u16() : this.u32();
    return this.text(n);
  }

  nullStr(): string | null {
    const n = this.u16();
    return n === NULL16 ? null : this.text(n);
  }

  private text(n: number): string {
    this.need(n);
    const s = decodeBytes(this.buf, 'utf8', this.at, this.at + n);
    this.at += n;
    return s;
  }

  bytes(): Buffer {
    this.need(4);
    const n = this.view.getUint32(this.at, true);
    this.at += 4;
    return this.copy(n);
  }

  nullBytes(same: Buffer | null = null): Buffer | null {
    this.need(4);
    const n = this.view.getUint32(this.at, true);
    this.at += 4;
    return n === NULL32 ? null : n === SAME32 ? same : this.copy(n);
  }

  private copy(n: number): Buffer {
    this.need(n);
    const out = Buffer.allocUnsafe(n);
    bufferCopy.call(this.buf, out, 0, this.at, this.at + n);
    this.at += n;
    return out;
  }
}
