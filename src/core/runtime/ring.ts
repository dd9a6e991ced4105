// Single-producer single-consumer ring of datagrams in a SharedArrayBuffer: one thread that
// received a datagram appends, the worker owning its Call-ID consumes. Each record carries the
// bytes plus the source address and the local socket index. Waking the consumer is the
// Doorbell's job (one per worker, shared by all the rings it drains).

import { defineLayout } from '../shm/layout.js';

/** Control slots (Int32Array indices) before the data region, a cache line of their own. */
export const RING_CONTROL = defineLayout({
  head: 'i32',     // next write offset (producer)
  tail: 'i32',     // next read offset (consumer)
  unused: 'i32',
  drops: 'i32',    // pushes refused because the ring was full (the reader may retry: see router.ts)
}, { align: 64 });
export const RING_HEAD = RING_CONTROL.head;
export const RING_TAIL = RING_CONTROL.tail;
export const RING_DROPS = RING_CONTROL.drops;
const CONTROL_BYTES = RING_CONTROL.BYTES;

// Record layout at a 4-aligned offset:
//   int32 total length (aligned), uint16 payload length, uint8 socket index, uint8 address length,
//   uint16 source port, uint16 reserved, 46 bytes address text (latin1), payload...
const REC_HDR = 56;
const WRAP = -1;                 // record length meaning "continue at offset 0"
const ADDR_MAX = 46;

export function createRingBuffer(dataBytes: number): SharedArrayBuffer {
  return new SharedArrayBuffer(CONTROL_BYTES + dataBytes);
}

export interface RingRecord {
  payload: Buffer;   // a view into shared memory: valid until release()
  address: string;
  port: number;
  socketIndex: number;
}

export class Ring {
  readonly ctl: Int32Array;
  private readonly data: Buffer;
  private readonly view: DataView;
  private readonly cap: number;
  constructor(readonly sab: SharedArrayBuffer) {
    this.ctl = new Int32Array(sab, 0, CONTROL_BYTES / 4);
    this.cap = sab.byteLength - CONTROL_BYTES;
    this.data = Buffer.from(sab, CONTROL_BYTES, this.cap);
    this.view = new DataView(sab, CONTROL_BYTES, this.cap);
  }

  /** Producer: appends one datagram; false (and a counted drop) when full. */
  push(payload: Buffer, address: string, port: number, socketIndex: number): boolean {
    const need = (REC_HDR + payload.length + 3) & ~3;
    let head = this.ctl[RING_HEAD];
    const tail = Atomics.load(this.ctl, RING_TAIL);
    if (head >= tail) {
      // free space runs to the end, then from 0 to tail-4 (never let head catch tail)
      if (this.cap - head < need) {
        if (tail - 4 < need) return this.full();
        if (this.cap - head >= 4) this.view.setInt32(head, WRAP, true);
        head = 0;
      } else if (head + need === this.cap && tail === 0) {
        return this.full();
      }
    } else if (tail - head - 4 < need) {
      return this.full();
    }
    const v = this.view;
    v.setInt32(head, need, true);
    v.setUint16(head + 4, payload.length, true);
    v.setUint8(head + 6, socketIndex);
    const alen = this.data.write(address, head + 12, ADDR_MAX, 'latin1');
    v.setUint8(head + 7, alen);
    v.setUint16(head + 8, port, true);
    payload.copy(this.data, head + REC_HDR);
    let next = head + need;
    if (next === this.cap) next = 0;
    Atomics.store(this.ctl, RING_HEAD, next);
    return true;
  }

  private full(): false {
    Atomics.add(this.ctl, RING_DROPS, 1);
    return false;
  }

  // the last source address decoded, reused while the peer stays the same (it mostly does)
  private lastAddr = '';
  private readonly lastAddrBytes = new Uint8Array(ADDR_MAX);
  private lastAddrLen = -1;

  private addressAt(at: number, n: number): string {
    const d = this.data;
    const last = this.lastAddrBytes;
    let same = n === this.lastAddrLen;
    for (let i = 0; same && i < n; i++) same = d[at + i] === last[i];
    if (!same) {
      this.lastAddr = d.toString('latin1', at, at + n);
      last.set(d.subarray(at, at + n));
      this.lastAddrLen = n;
    }
    return this.lastAddr;
  }

  /** Consumer: whether a record waits (without decoding it, unlike peek). */
  hasRecord(): boolean {
    return Atomics.load(this.ctl, RING_HEAD) !== this.ctl[RING_TAIL];
  }

  /** Consumer: the next record, or null when empty. Call release() when done with it. */
  peek(out: RingRecord): boolean {
    let tail = this.ctl[RING_TAIL];
    const head = Atomics.load(this.ctl, RING_HEAD);
    if (tail === head) return false;
    if (this.cap - tail < 4 || this.view.getInt32(tail, true) === WRAP) {
      tail = 0;
      Atomics.store(this.ctl, RING_TAIL, 0);
      if (head === 0) return false;
    }
    const v = this.view;
    const len = v.getUint16(tail + 4, true);
    out.socketIndex = v.getUint8(tail + 6);
    out.address = this.addressAt(tail + 12, v.getUint8(tail + 7));
    out.port = v.getUint16(tail + 8, true);
    out.payload = this.data.subarray(tail + REC_HDR, tail + REC_HDR + len);
    return true;
  }

  release(): void {
    const tail = this.ctl[RING_TAIL];
    let next = tail + this.view.getInt32(tail, true);
    if (next >= this.cap) next = 0;
    Atomics.store(this.ctl, RING_TAIL, next);
  }

  /** Records waiting (counts them; used when a worker dies). */
  pending(): number {
    let n = 0;
    let t = Atomics.load(this.ctl, RING_TAIL);
    const head = Atomics.load(this.ctl, RING_HEAD);
    while (t !== head) {
      if (this.cap - t < 4 || this.view.getInt32(t, true) === WRAP) { t = 0; continue; }
      n++;
      t += this.view.getInt32(t, true);
      if (t >= this.cap) t = 0;
    }
    return n;
  }
}

/** Bytes of a ring in use (core.shmmem): its control block and the records not yet consumed. */
export function ringUsedBytes(sab: SharedArrayBuffer): number {
  const ctl = new Int32Array(sab, 0, CONTROL_BYTES / 4);
  const head = Atomics.load(ctl, RING_HEAD);
  const tail = Atomics.load(ctl, RING_TAIL);
  const cap = sab.byteLength - CONTROL_BYTES;
  return CONTROL_BYTES + (head >= tail ? head - tail : cap - tail + head);
}

/**
 * One Int32 slot per worker: 1 while that worker sleeps. A producer rings only when the slot
 * says the worker sleeps, so a busy worker costs no wake-up per message. The wake-up itself is
 * Atomics.notify (the worker waits with Atomics.waitAsync) or, with native UDP, a write to the
 * worker's eventfd (`wake`), which its event loop watches like a socket.
 */
export class Doorbells {
  readonly slots: Int32Array;
  constructor(readonly sab: SharedArrayBuffer, private readonly wake: ((k: number) => void) | null = null) {
    this.slots = new Int32Array(sab);
  }
  static create(workers: number): SharedArrayBuffer {
    return new SharedArrayBuffer(Math.max(1, workers) * 4);
  }
  ring(k: number): void {
    if (Atomics.load(this.slots, k) === 1) {
      Atomics.store(this.slots, k, 0);
      if (this.wake) this.wake(k);
      else Atomics.notify(this.slots, k, 1);
    }
  }
}
