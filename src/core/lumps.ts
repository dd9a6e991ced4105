// Edits to a received message, applied when it is serialized (Kamailio calls these lumps).
// The received bytes are never modified: the outgoing message is spliced from slices of them
// and the inserted texts, in one allocation.

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
  let size = to - from + Buffer.byteLength(prefix);
  let pos = from;
  for (const l of lumps) {
    const s = l.start < pos ? pos : l.start;
    const e = l.end < s ? s : l.end;
    size += Buffer.byteLength(l.text) - (e - s);
    pos = e;
  }
  // `scratch`: a buffer of the caller's to write into (a transport that sends before returning
  // needs no new buffer per message); too small, and a new one is allocated
  const out = scratch !== undefined && scratch.length >= size ? scratch : Buffer.allocUnsafe(size);
  let o = 0;
  pos = from;
  let prefixDone = prefix.length === 0;
  for (const l of lumps) {
    const s = l.start < pos ? pos : l.start;
    if (!prefixDone && prefixAt <= s) {
      o += src.copy(out, o, pos, prefixAt);
      pos = prefixAt;
      o += out.write(prefix, o, 'utf8');
      prefixDone = true;
    }
    o += src.copy(out, o, pos, s);
    if (l.text) o += out.write(l.text, o, 'utf8');
    pos = l.end < s ? s : l.end;
  }
  if (!prefixDone) {
    o += src.copy(out, o, pos, prefixAt);
    pos = prefixAt;
    o += out.write(prefix, o, 'utf8');
  }
  o += src.copy(out, o, pos, to);
  return o === out.length ? out : out.subarray(0, o);
}
