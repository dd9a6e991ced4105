// Edits to a received message, applied when it is serialized (Kamailio calls these lumps).
// The received bytes are never modified: the outgoing message is spliced from slices of them
// and the inserted texts, in one allocation.

import { Buffer } from 'node:buffer';
import { copyBytes, plainBytes, writeUtf8 } from './sip/bytes.js';

export interface Lump {
  start: number;   // byte offset in the original message
  end: number;     // end of the replaced range (== start for a pure insertion)
  text: string;    // what goes there
  seq: number;     // insertion order, keeps several insertions at one offset in call order
}

export class Lumps {
  list: Lump[] = [];
  private seq = 0;

  reset(): void {
    if (this.list.length) this.list = [];
    this.seq = 0;
  }

  /** Starts again from a saved list (tm's stored request): later edits sort after it at one offset. */
  restore(saved: Lump[]): void {
    this.list = saved.slice();
    let seq = 0;
    for (const l of saved) if (l.seq >= seq) seq = l.seq + 1;
    this.seq = seq;
  }

  insert(at: number, text: string): Lump {
    const l = { start: at, end: at, text, seq: this.seq++ };
    this.list.push(l);
    return l;
  }

  replace(start: number, end: number, text: string): Lump {
    const l = { start, end, text, seq: this.seq++ };
    this.list.push(l);
    return l;
  }

  remove(start: number, end: number): Lump {
    return this.replace(start, end, '');
  }
}

function byOffset(a: Lump, b: Lump): number {
  return a.start - b.start || a.seq - b.seq;
}

/**
 * Serializes src[from, to) with the lumps applied, preceded by `prefix` (a new first line,
 * our Via ...) inserted at `prefixAt`. Overlapping deletions are merged: the first one wins.
 */
export function applyLumps(src: Buffer, from: number, to: number, lumps: Lump[], prefixAt: number, prefix: string, scratch?: Buffer): Buffer {
  if (lumps.length > 1) lumps.sort(byOffset);
  // `scratch`: a buffer of the caller's to write into (a transport that sends before returning
  // needs no new buffer per message). When the message surely fits (a UTF-16 unit is at most
  // three UTF-8 bytes) it is used without measuring the texts; else the exact size decides.
  let bound = to - from + 3 * prefix.length;
  for (let i = 0; i < lumps.length; i++) bound += 3 * lumps[i].text.length;
  let out: Buffer;
  if (scratch !== undefined && scratch.length >= bound) {
    out = scratch;
  } else {
    let size = to - from + Buffer.byteLength(prefix);
    let pos = from;
    for (const l of lumps) {
      const s = l.start < pos ? pos : l.start;
      const e = l.end < s ? s : l.end;
      size += Buffer.byteLength(l.text) - (e - s);
      pos = e;
    }
    out = scratch !== undefined && scratch.length >= size ? scratch : Buffer.allocUnsafe(size);
  }
  const bytes = plainBytes(src);
  let o = 0;
  let pos = from;
  let prefixDone = prefix.length === 0;
  for (const l of lumps) {
    const s = l.start < pos ? pos : l.start;
    if (!prefixDone && prefixAt <= s) {
      o += copyBytes(bytes, out, o, pos, prefixAt);
      pos = prefixAt;
      o += writeUtf8(out, prefix, o);
      prefixDone = true;
    }
    o += copyBytes(bytes, out, o, pos, s);
    if (l.text) o += writeUtf8(out, l.text, o);
    pos = l.end < s ? s : l.end;
  }
  if (!prefixDone) {
    o += copyBytes(bytes, out, o, pos, prefixAt);
    pos = prefixAt;
    o += writeUtf8(out, prefix, o);
  }
  o += copyBytes(bytes, out, o, pos, to);
  return o === out.length ? out : Buffer.from(out.buffer, out.byteOffset, o); // half the cost of subarray()
}
