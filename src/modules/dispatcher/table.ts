// The loaded destination sets, in one SharedArrayBuffer: each destination's text (URI, host,
// attributes ...), numbers and state, each set's members and round-robin position, the probe
// figures and the selection counters. The main thread builds it from the list (file or SQLite)
// and hands every SIP thread the buffer itself, not a copy: a state change (probing, RPC
// set_state, ds_mark_dst in any worker) is seen by all threads at once, and a reload is one new
// buffer posted to each thread. Destinations that did not change keep their state across it.
//
// Region (every part named by a layout below):
//   header | per destination: DEST Int32 cells | per set: SET Int32 cells | members (Int32)
//   | per destination: PROBE Float64 cells | selection counters: a Float64 row per thread
//   | text: the destinations' strings, UTF-8
// A thread decodes the destinations' strings into DsDestination objects once when it attaches
// (they never change within a table: the selection code reads them as plain properties);
// everything that changes is read from the shared cells each time.
import { defineLayout } from '../../core/shm/layout.js';
import { DS_DISABLED, DS_INACTIVE, DS_NOPING, DS_PROBING, DS_STATE_MASK, DS_TRYING, parseAttrs, type DsDestination } from './list.js';

const MAGIC = 0x76646473; // "vdds"

const HEADER = defineLayout({
  magic: 'i32',
  generation: 'i32',
  dests: 'i32',
  sets: 'i32',
  members: 'i32',
  rows: 'i32',       // rows of selection counters: one per thread that selects
  textBytes: 'i32',
}, { align: 8 });

/** A destination's text fields: each has an offset and a length cell in DEST. */
const TEXT_FIELDS = ['uri', 'host', 'transport', 'attrsText', 'description', 'origin'] as const;

const DEST = defineLayout({
  flags: 'i32',      // DS_* bits (state; shared, changed with Atomics)
  fails: 'i32',      // consecutive failed probes
  oks: 'i32',        // consecutive answered probes while inactive
  load: 'i32',       // calls holding a slot (algorithm 10)
  setid: 'i32',
  priority: 'i32',
  port: 'i32',
  uriPort: 'i32',
  listFlags: 'i32',  // the flags the list gave (a reload compares them)
  text: ['i32', TEXT_FIELDS.length * 2], // offset, length of each TEXT_FIELDS string
}, { align: 4 });
const DEST_STRIDE = DEST.BYTES >> 2;

const SET = defineLayout({
  setid: 'i32',
  position: 'i32',   // round-robin position (algorithm 4) and weight slot position (9, 11)
  firstMember: 'i32', // index in the members run
  memberCount: 'i32',
}, { align: 4 });
const SET_STRIDE = SET.BYTES >> 2;

/** Float64 cells per destination, written by the main thread's prober. */
const PROBE = defineLayout({
  latAvg: 'f64',
  latStd: 'f64',     // standard deviation
  latEst: 'f64',     // estimate (exponentially weighted), algorithm 13
  latMax: 'f64',
  latCount: 'f64',   // answered probes counted in the average
  timeouts: 'f64',   // probes that got no answer
  probeFails: 'f64', // probes that failed (timeout or a reply code not accepted)
  latM2: 'f64',      // Welford's sum of squared deviations
});
const F_DEST = PROBE.BYTES >> 3;
export const F_LAT_AVG = PROBE.latAvg;
export const F_LAT_STD = PROBE.latStd;
export const F_LAT_EST = PROBE.latEst;
export const F_LAT_MAX = PROBE.latMax;
export const F_LAT_COUNT = PROBE.latCount;
export const F_TIMEOUTS = PROBE.timeouts;
export const F_PROBE_FAILS = PROBE.probeFails;
export const F_LAT_M2 = PROBE.latM2;

export interface DsSet {
  setid: number;
  /** destination indexes, in selection order: priority high to low, then reverse list order */
  members: number[];
}

/** What a thread receives: the table's shared memory. */
export type DsTableData = SharedArrayBuffer;

function regions(nDest: number, nSet: number, nMembers: number, rows: number, textBytes: number) {
  const dests = HEADER.BYTES;
  const sets = dests + nDest * DEST.BYTES;
  const members = sets + nSet * SET.BYTES;
  const probes = Math.ceil((members + nMembers * 4) / 8) * 8;
  const selections = probes + nDest * PROBE.BYTES;
  const text = selections + rows * nDest * 8;
  return { dests, sets, members, probes, selections, text, total: text + textBytes };
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
  const texts = dests.map((d) => TEXT_FIELDS.map((f) => Buffer.from(d[f], 'utf8')));
  const textBytes = texts.reduce((n, t) => n + t.reduce((m, b) => m + b.length, 0), 0);
  const r = regions(dests.length, sets.length, dests.length, rows, textBytes);
  if (r.total > 0x7fffffff) throw new RangeError(`dispatcher table of ${dests.length} destinations is too large`);
  const sab = new SharedArrayBuffer(r.total);
  const ints = new Int32Array(sab, 0, r.probes >> 2);
  const bytes = Buffer.from(sab);

  ints[HEADER.generation] = generation;
  ints[HEADER.dests] = dests.length;
  ints[HEADER.sets] = sets.length;
  ints[HEADER.members] = dests.length;
  ints[HEADER.rows] = rows;
  ints[HEADER.textBytes] = textBytes;
  let textAt = 0; // from the start of the text region
  dests.forEach((d, i) => {
    const at = (r.dests >> 2) + i * DEST_STRIDE;
    ints[at + DEST.flags] = d.flags;
    ints[at + DEST.listFlags] = d.flags;
    ints[at + DEST.setid] = d.setid;
    ints[at + DEST.priority] = d.priority;
    ints[at + DEST.port] = d.port;
    ints[at + DEST.uriPort] = d.uriPort;
    texts[i]!.forEach((b, f) => {
      ints[at + DEST.text + 2 * f] = textAt;
      ints[at + DEST.text + 2 * f + 1] = b.length;
      b.copy(bytes, r.text + textAt);
      textAt += b.length;
    });
  });
  let memberAt = 0;
  sets.forEach((s, k) => {
    const at = (r.sets >> 2) + k * SET_STRIDE;
    ints[at + SET.setid] = s.setid;
    ints[at + SET.firstMember] = memberAt;
    ints[at + SET.memberCount] = s.members.length;
    for (const m of s.members) ints[(r.members >> 2) + memberAt++] = m;
  });
  Atomics.store(ints, HEADER.magic, MAGIC);

  if (previous) {
    const t = new DsTable(sab);
    for (let i = 0; i < dests.length; i++) {
      const old = previous.find(t.dests[i]!);
      if (old === undefined) continue;
      t.ints[i * DEST_STRIDE + DEST.flags] = previous.flags(old);
      for (let f = 0; f < F_DEST; f++) t.floats[i * F_DEST + f] = previous.floats[old * F_DEST + f]!;
    }
  }
  return sab;
}

const sameDestination = (a: DsDestination, b: DsDestination) =>
  a.setid === b.setid && a.uri === b.uri && a.flags === b.flags && a.priority === b.priority && a.attrsText === b.attrsText;

export class DsTable {
  /** DEST cells per destination (index * DEST_STRIDE) */
  readonly ints: Int32Array;
  /** PROBE cells per destination */
  readonly floats: Float64Array;
  readonly selections: Float64Array;
  readonly generation: number;
  readonly sets: DsSet[];
  private readonly setInts: Int32Array;
  private readonly setIndex = new Map<number, number>();
  private readonly rows: number;
  private readonly text: Buffer;
  /** Destinations in list order, decoded from the shared text by this thread. */
  readonly dests: DsDestination[];

  constructor(readonly data: DsTableData) {
    const h = new Int32Array(data, 0, HEADER.BYTES >> 2);
    if (data.byteLength < HEADER.BYTES || Atomics.load(h, HEADER.magic) !== MAGIC) throw new TypeError('not a dispatcher table');
    const nDest = h[HEADER.dests]!;
    const nSet = h[HEADER.sets]!;
    this.rows = h[HEADER.rows]!;
    this.generation = h[HEADER.generation]!;
    const r = regions(nDest, nSet, h[HEADER.members]!, this.rows, h[HEADER.textBytes]!);
    this.ints = new Int32Array(data, r.dests, nDest * DEST_STRIDE);
    this.setInts = new Int32Array(data, r.sets, nSet * SET_STRIDE);
    this.floats = new Float64Array(data, r.probes, nDest * F_DEST);
    this.selections = new Float64Array(data, r.selections, this.rows * nDest);
    this.text = Buffer.from(data, r.text, h[HEADER.textBytes]!);
    this.dests = [];
    for (let i = 0; i < nDest; i++) this.dests.push(this.decode(i));
    const members = new Int32Array(data, r.members, h[HEADER.members]!);
    this.sets = [];
    for (let k = 0; k < nSet; k++) {
      const at = k * SET_STRIDE;
      const first = this.setInts[at + SET.firstMember]!;
      const setid = this.setInts[at + SET.setid]!;
      this.sets.push({ setid, members: Array.from(members.subarray(first, first + this.setInts[at + SET.memberCount]!)) });
      this.setIndex.set(setid, k);
    }
  }

  /** Destination i (its fixed description; the state is in flags()). */
  dest(i: number): DsDestination {
    return this.dests[i]!;
  }

  private decode(i: number): DsDestination {
    const at = i * DEST_STRIDE;
    const c = this.ints;
    const text = (f: number): string => {
      const off = c[at + DEST.text + 2 * f]!;
      return this.text.toString('utf8', off, off + c[at + DEST.text + 2 * f + 1]!);
    };
    const [uri, host, transport, attrsText, description, origin] = TEXT_FIELDS.map((_, f) => text(f));
    return {
      setid: c[at + DEST.setid]!, uri: uri!, host: host!, port: c[at + DEST.port]!, uriPort: c[at + DEST.uriPort]!,
      transport: transport!, flags: c[at + DEST.listFlags]!, priority: c[at + DEST.priority]!, attrsText: attrsText!,
      attrs: parseAttrs(attrsText!, origin!), // checked when the list was loaded
      description: description!, origin: origin!,
    };
  }

  set(setid: number): DsSet | undefined {
    const i = this.setIndex.get(setid);
    return i === undefined ? undefined : this.sets[i];
  }

  /** Index of the same destination (set, URI, flags, priority, attrs) in this table. */
  find(d: DsDestination): number | undefined {
    const s = this.set(d.setid);
    return s?.members.find((i) => sameDestination(this.dest(i), d));
  }

  /** Index of the destination with this URI in set `setid`. */
  findUri(setid: number, uri: string): number | undefined {
    return this.set(setid)?.members.find((i) => this.dest(i).uri === uri);
  }

  flags(i: number): number {
    return Atomics.load(this.ints, i * DEST_STRIDE + DEST.flags);
  }

  /** Replaces the state bits (I/T/D), keeping or setting P as asked. */
  setState(i: number, state: number, probing?: boolean): void {
    const cell = i * DEST_STRIDE + DEST.flags;
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
  fails(i: number): number { return this.ints[i * DEST_STRIDE + DEST.fails]!; }
  setFails(i: number, n: number): void { this.ints[i * DEST_STRIDE + DEST.fails] = n; }
  oks(i: number): number { return this.ints[i * DEST_STRIDE + DEST.oks]!; }
  setOks(i: number, n: number): void { this.ints[i * DEST_STRIDE + DEST.oks] = n; }

  load(i: number): number { return Atomics.load(this.ints, i * DEST_STRIDE + DEST.load); }
  addLoad(i: number, n: number): number { return Atomics.add(this.ints, i * DEST_STRIDE + DEST.load, n) + n; }

  /** The next round-robin position of a set (shared by all threads). */
  nextPosition(setid: number): number {
    return Atomics.add(this.setInts, this.setIndex.get(setid)! * SET_STRIDE + SET.position, 1) >>> 0;
  }

  /**
   * Takes a set's position and moves it on by `steps(position)` (at least 1) in one atomic step,
   * so a skip past dead destinations cannot interleave with another thread's turn (which a
   * separate take-then-advance did: two workers drifted the share to 47/53).
   */
  claimPosition(setid: number, steps: (position: number) => number): number {
    const cell = this.setIndex.get(setid)! * SET_STRIDE + SET.position;
    for (;;) {
      const old = Atomics.load(this.setInts, cell);
      const next = (old + Math.max(1, steps(old >>> 0))) | 0;
      if (Atomics.compareExchange(this.setInts, cell, old, next) === old) return old >>> 0;
    }
  }

  latency(i: number, field: number): number { return this.floats[i * F_DEST + field]!; }
  setLatency(i: number, field: number, v: number): void { this.floats[i * F_DEST + field] = v; }

  /** Counts a selection in this thread's row (plain write: one writer per row). */
  countSelection(row: number, i: number): void {
    this.selections[row * this.dests.length + i]++;
  }

  selectionsOf(i: number): number {
    let n = 0;
    for (let r = 0; r < this.rows; r++) n += this.selections[r * this.dests.length + i]!;
    return n;
  }
}
