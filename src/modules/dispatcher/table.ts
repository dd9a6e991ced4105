// The loaded destination sets and their shared state. The main thread builds a table from the
// list (file or SQLite) and hands every SIP thread the same SharedArrayBuffer, so a state change
// (probing, RPC set_state, ds_mark_dst in any worker) is seen by all threads at once. A reload
// builds a new table and swaps it in every thread; destinations that did not change keep their
// state.
import { DS_DISABLED, DS_INACTIVE, DS_NOPING, DS_PROBING, DS_STATE_MASK, DS_TRYING, type DsDestination } from './list.js';

// Int32 cells per destination
const I_FLAGS = 0;     // DS_* bits
const I_FAILS = 1;     // consecutive failed probes
const I_OKS = 2;       // consecutive answered probes while inactive
const I_LOAD = 3;      // calls holding a slot (algorithm 10)
const I_DEST = 4;
// Int32 cells per set
const S_RR = 0;        // round-robin position (algorithm 4) and weight slot position (9, 11)
const I_SET = 1;
// Float64 cells per destination, written by the main thread's prober
export const F_LAT_AVG = 0;
export const F_LAT_STD = 1;    // standard deviation
export const F_LAT_EST = 2;    // estimate (exponentially weighted), algorithm 13
export const F_LAT_MAX = 3;
export const F_LAT_COUNT = 4;  // answered probes counted in the average
export const F_TIMEOUTS = 5;   // probes that got no answer
export const F_PROBE_FAILS = 6; // probes that failed (timeout or a reply code not accepted)
export const F_LAT_M2 = 7;      // Welford's sum of squared deviations
const F_DEST = 8;

export interface DsSet {
  setid: number;
  /** destination indexes, in selection order: priority high to low, then reverse list order */
  members: number[];
}

/** What a thread receives (structured-clonable). */
export interface DsTableData {
  generation: number;
  dests: DsDestination[];
  sets: DsSet[];
  sab: SharedArrayBuffer;
  /** rows of selection counters: one per thread that selects (see SelectionCounters) */
  rows: number;
}

function layout(nDest: number, nSet: number, rows: number) {
  const intBytes = (nDest * I_DEST + nSet * I_SET) * 4;
  const floatOffset = Math.ceil(intBytes / 8) * 8;
  const selOffset = floatOffset + nDest * F_DEST * 8;
  return { intBytes, floatOffset, selOffset, total: selOffset + rows * nDest * 8 };
}

/** Builds a table; `previous` carries the state of destinations that did not change. */
export function buildTable(dests: DsDestination[], rows: number, generation: number, previous?: DsTable): DsTableData {
  const bySet = new Map<number, number[]>();
  dests.forEach((d, i) => {
    const l = bySet.get(d.setid);
    if (l) l.push(i); else bySet.set(d.setid, [i]);
  });
  const sets: DsSet[] = [...bySet.entries()]
    .sort((a, b) => a[0] - b[0])
    // Kamailio's order: priority high to low, equal priorities in reverse list order (its
    // loader prepends); round-robin, priority (8) and ds_next_dst walk this order
    .map(([setid, members]) => ({ setid, members: members.sort((x, y) => dests[y]!.priority - dests[x]!.priority || y - x) }));
  const l = layout(dests.length, sets.length, rows);
  const sab = new SharedArrayBuffer(Math.max(8, l.total));
  const data: DsTableData = { generation, dests, sets, sab, rows };
  const t = new DsTable(data);
  dests.forEach((d, i) => {
    const old = previous?.find(d);
    if (old !== undefined) {
      t.ints[i * I_DEST + I_FLAGS] = previous!.flags(old);
      for (let f = 0; f < F_DEST; f++) t.floats[i * F_DEST + f] = previous!.floats[old * F_DEST + f]!;
    } else {
      t.ints[i * I_DEST + I_FLAGS] = d.flags;
    }
  });
  return data;
}

const sameDestination = (a: DsDestination, b: DsDestination) =>
  a.setid === b.setid && a.uri === b.uri && a.flags === b.flags && a.priority === b.priority && a.attrsText === b.attrsText;

export class DsTable {
  readonly ints: Int32Array;
  readonly floats: Float64Array;
  readonly selections: Float64Array;
  private readonly setIndex = new Map<number, number>();

  constructor(readonly data: DsTableData) {
    const l = layout(data.dests.length, data.sets.length, data.rows);
    this.ints = new Int32Array(data.sab, 0, l.intBytes / 4);
    this.floats = new Float64Array(data.sab, l.floatOffset, data.dests.length * F_DEST);
    this.selections = new Float64Array(data.sab, l.selOffset, data.rows * data.dests.length);
    data.sets.forEach((s, i) => this.setIndex.set(s.setid, i));
  }

  get dests(): DsDestination[] { return this.data.dests; }
  get sets(): DsSet[] { return this.data.sets; }

  set(setid: number): DsSet | undefined {
    const i = this.setIndex.get(setid);
    return i === undefined ? undefined : this.data.sets[i];
  }

  /** Index of the same destination (set, URI, flags, priority, attrs) in this table. */
  find(d: DsDestination): number | undefined {
    const s = this.set(d.setid);
    return s?.members.find((i) => sameDestination(this.data.dests[i]!, d));
  }

  /** Index of the destination with this URI in set `setid`. */
  findUri(setid: number, uri: string): number | undefined {
    return this.set(setid)?.members.find((i) => this.data.dests[i]!.uri === uri);
  }

  flags(i: number): number {
    return Atomics.load(this.ints, i * I_DEST + I_FLAGS);
  }

  /** Replaces the state bits (I/T/D), keeping or setting P as asked. */
  setState(i: number, state: number, probing?: boolean): void {
    const cell = i * I_DEST + I_FLAGS;
    for (;;) {
      const old = Atomics.load(this.ints, cell);
      let next = (old & ~DS_STATE_MASK) | (state & DS_STATE_MASK);
      if (probing !== undefined) next = probing ? next | DS_PROBING : next & ~DS_PROBING;
      if (Atomics.compareExchange(this.ints, cell, old, next) === old) return;
    }
  }

  /** Selectable: neither inactive nor disabled (trying still is, as in Kamailio). */
  usable(i: number): boolean {
    return (this.flags(i) & (DS_INACTIVE | DS_DISABLED)) === 0;
  }

  /** Kamailio's two flag letters: I/D/T/A, then P (probing), N (never probed) or X. */
  flagLetters(i: number): string {
    const f = this.flags(i);
    const s = f & DS_INACTIVE ? 'I' : f & DS_DISABLED ? 'D' : f & DS_TRYING ? 'T' : 'A'; // Kamailio's order
    return s + (f & DS_PROBING ? 'P' : f & DS_NOPING ? 'N' : 'X');
  }

  /** Consecutive failed / answered probe counters (the prober's). */
  fails(i: number): number { return this.ints[i * I_DEST + I_FAILS]!; }
  setFails(i: number, n: number): void { this.ints[i * I_DEST + I_FAILS] = n; }
  oks(i: number): number { return this.ints[i * I_DEST + I_OKS]!; }
  setOks(i: number, n: number): void { this.ints[i * I_DEST + I_OKS] = n; }

  load(i: number): number { return Atomics.load(this.ints, i * I_DEST + I_LOAD); }
  addLoad(i: number, n: number): number { return Atomics.add(this.ints, i * I_DEST + I_LOAD, n) + n; }

  /** The next round-robin position of a set (shared by all threads). */
  nextPosition(setid: number): number {
    return this.advancePosition(setid, 1);
  }

  /** Moves a set's position on by n; returns the position before. */
  advancePosition(setid: number, n: number): number {
    return Atomics.add(this.ints, this.data.dests.length * I_DEST + this.setIndex.get(setid)! * I_SET + S_RR, n) >>> 0;
  }

  latency(i: number, field: number): number { return this.floats[i * F_DEST + field]!; }
  setLatency(i: number, field: number, v: number): void { this.floats[i * F_DEST + field] = v; }

  /** Counts a selection in this thread's row (plain write: one writer per row). */
  countSelection(row: number, i: number): void {
    this.selections[row * this.data.dests.length + i]++;
  }

  selectionsOf(i: number): number {
    let n = 0;
    for (let r = 0; r < this.data.rows; r++) n += this.selections[r * this.data.dests.length + i]!;
    return n;
  }
}

