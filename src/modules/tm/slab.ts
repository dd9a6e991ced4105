// The bytes a transaction keeps (its request as received, the replies it relays and may send
// again) are cut from slabs of this thread's own rather than from Node's 8 KB Buffer pool: one
// ArrayBuffer per SLAB instead of one per 8 KB (each has its own allocation and GC bookkeeping).
// The price: a slab is freed only when nothing cut from it is kept, so one long transaction (a
// call ringing for minutes) keeps up to SLAB bytes alive, not 8 KB.
import { applyLumps, type Lump } from '../../core/lumps.js';

const SLAB = 64 * 1024;
/** Larger ones (rare) get a buffer of their own. */
const MAX = 4096;

let slab = Buffer.allocUnsafeSlow(SLAB).buffer;
let off = 0;

function room(n: number): void {
  if (off + n > SLAB) {
    slab = Buffer.allocUnsafeSlow(SLAB).buffer;
    off = 0;
  }
}

/** A copy of src[0, n) that the caller keeps. */
export function keptCopy(src: Buffer, n: number): Buffer {
  if (n > MAX) return Buffer.from(src.subarray(0, n));
  room(n);
  const out = Buffer.from(slab, off, n);
  out.set(src.subarray(0, n));
  off = (off + n + 7) & ~7;
  return out;
}

/** applyLumps(src, 0, to, lumps, 0, '') into a slab: a reply the transaction keeps. */
export function keptLumps(src: Buffer, to: number, lumps: Lump[]): Buffer {
  room(MAX);
  const out = applyLumps(src, 0, to, lumps, 0, '', Buffer.from(slab, off, SLAB - off));
  if (out.buffer === slab) off = (off + out.length + 7) & ~7;
  return out;
}
