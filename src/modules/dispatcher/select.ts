// The selection algorithms of ds_select_dst(set, alg). Each returns the set's usable
// destinations in the order to try them (the first is selected, the rest are what
// ds_next_dst() walks through), or an empty list.
//
// Hash algorithms use rendezvous (highest random weight) hashing: every destination scores
// hash(key, destination) and the highest usable score wins. When a destination goes down only
// the keys it won move (each to its own second choice), and they come back when it returns.
// Kamailio takes hash % n and, if that destination is down, the next one in the set: a dead
// destination's whole load lands on one neighbour, and a change in n moves almost every call.
import { fnv1a } from '../../core/hash.js';
import { F_LAT_EST, type DsTable } from './table.js';

const signed = (b: number): number => (b << 24) >> 24; // C char on x86

/**
 * Kamailio's ds_get_hash(x, y) over the UTF-8 bytes, bit for bit (bytes as signed chars), so
 * `dispatcher.hash` answers as Kamailio does. The hash algorithms feed it to the rendezvous
 * score below.
 */
export function dsHash(x: string | null, y: string | null = null): number {
  let h = 0;
  for (const s of [x, y]) {
    if (s === null) continue;
    const b = Buffer.from(s, 'utf8');
    let p = 0;
    for (; p + 4 <= b.length; p += 4) {
      const v = ((signed(b[p]!) << 24) + (signed(b[p + 1]!) << 16) + (signed(b[p + 2]!) << 8) + signed(b[p + 3]!)) >>> 0;
      h = (h + ((v ^ (v >>> 3)) >>> 0)) >>> 0;
    }
    let v = 0;
    for (; p < b.length; p++) v = (((v << 8) >>> 0) + signed(b[p]!)) >>> 0;
    h = (h + ((v ^ (v >>> 3)) >>> 0)) >>> 0;
  }
  h = (h + (h >>> 11) + ((h >>> 13) + (h >>> 23))) >>> 0;
  return h === 0 ? 1 : h;
}

export const ALG = {
  HASH_CALLID: 0, HASH_FROM: 1, HASH_TO: 2, HASH_RURI: 3, ROUND_ROBIN: 4, HASH_AUTH: 5, RANDOM: 6,
  HASH_PV: 7, PRIORITY: 8, WEIGHT: 9, CALL_LOAD: 10, RELATIVE_WEIGHT: 11, ALL: 12, LATENCY: 13,
} as const;

export const HASH_ALGS: ReadonlySet<number> = new Set([ALG.HASH_CALLID, ALG.HASH_FROM, ALG.HASH_TO, ALG.HASH_RURI, ALG.HASH_AUTH, ALG.HASH_PV]);

/** A well-mixed 32-bit score for (key, destination): fnv1a alone clusters on similar inputs. */
function score(keyHash: number, destHash: number): number {
  let h = (keyHash ^ Math.imul(destHash, 0x9e3779b1)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const destHashes = new WeakMap<DsTable, Int32Array>();

function destHash(t: DsTable, i: number): number {
  let hs = destHashes.get(t);
  if (!hs) {
    hs = Int32Array.from(t.dests, (d) => fnv1a(`${d.setid} ${d.uri}`));
    destHashes.set(t, hs);
  }
  return hs[i]! >>> 0;
}

/** Usable members ordered by rendezvous score for a key hash (dsHash), best first. */
export function byRendezvous(t: DsTable, members: readonly number[], k: number): number[] {
  return members
    .filter((i) => t.usable(i))
    .map((i) => ({ i, s: score(k, destHash(t, i)) }))
    .sort((a, b) => b.s - a.s || a.i - b.i)
    .map((x) => x.i);
}

/** The members after `first` in set order, wrapping around: Kamailio's fallback order. */
function rotateFrom(members: readonly number[], first: number): number[] {
  const at = members.indexOf(first);
  return at <= 0 ? [...members] : [...members.slice(at), ...members.slice(0, at)];
}

/**
 * A weight table of 100 slots: destination i holds weight_i percent of them, spread so that
 * walking the slots in order interleaves the destinations (Kamailio's ds_wlist idea).
 */
export function weightSlots(weights: { i: number; w: number }[]): number[] {
  const total = weights.reduce((a, x) => a + x.w, 0);
  if (total <= 0) return [];
  const slots: number[] = [];
  // largest remainder: exact shares of 100, then interleave by a stride walk
  const raw = weights.map((x) => ({ i: x.i, exact: (x.w * 100) / total }));
  const counts = raw.map((x) => ({ i: x.i, n: Math.floor(x.exact), rem: x.exact - Math.floor(x.exact) }));
  let left = 100 - counts.reduce((a, x) => a + x.n, 0);
  for (const c of [...counts].sort((a, b) => b.rem - a.rem)) {
    if (left-- <= 0) break;
    c.n++;
  }
  // smooth weighted round-robin over the counts: no long runs of one destination
  const current = counts.map(() => 0);
  for (let s = 0; s < 100; s++) {
    let best = -1;
    for (let k = 0; k < counts.length; k++) {
      current[k] += counts[k]!.n;
      if (counts[k]!.n > 0 && (best < 0 || current[k]! > current[best]!)) best = k;
    }
    current[best] -= 100;
    slots.push(counts[best]!.i);
  }
  return slots;
}

const weightTables = new WeakMap<DsTable, Map<string, number[]>>();

function slotsFor(t: DsTable, setid: number, members: readonly number[], relative: boolean): number[] {
  // relative weight: recomputed over the usable destinations, so the shares stay proportional
  // among the live ones; weight: fixed over all of them (a dead one's slots fall to the next)
  const live = relative ? members.filter((i) => t.usable(i)) : members;
  const cacheKey = `${setid}/${relative ? live.join(',') : 'all'}`;
  let m = weightTables.get(t);
  if (!m) weightTables.set(t, (m = new Map()));
  let slots = m.get(cacheKey);
  if (!slots) {
    slots = weightSlots(live.map((i) => ({ i, w: (relative ? t.dests[i]!.attrs.rweight : t.dests[i]!.attrs.weight) ?? 0 })));
    if (slots.length === 0) slots = [...live]; // no weights at all: plain round-robin
    m.set(cacheKey, slots);
  }
  return slots;
}

/**
 * Orders the usable destinations of `setid` for algorithm `alg`. `keyHash` is dsHash of what the
 * hash algorithms hash (the caller extracts Call-ID, From URI ...); 0 for the others.
 */
export function selectOrder(t: DsTable, setid: number, alg: number, keyHash: number): number[] {
  const set = t.set(setid);
  if (!set) return [];
  const members = set.members;
  const usable = (list: number[]) => list.filter((i) => t.usable(i));
  switch (alg) {
    case ALG.HASH_CALLID: case ALG.HASH_FROM: case ALG.HASH_TO: case ALG.HASH_RURI: case ALG.HASH_AUTH: case ALG.HASH_PV:
      return byRendezvous(t, members, keyHash);
    case ALG.ROUND_ROBIN: {
      // a skipped destination's turn goes to the next live one and the position continues after
      // that one (as Kamailio does), so the live destinations share evenly instead of the next
      // one taking double
      const n = members.length;
      const firstLive = (pos: number): number => {
        for (let k = 0; k < n; k++) if (t.usable(members[(pos + k) % n]!)) return k;
        return 0;
      };
      const pos = t.claimPosition(setid, (p) => firstLive(p) + 1);
      return usable(rotateFrom(members, members[pos % n]!));
    }
    case ALG.RANDOM: {
      const start = members[Math.floor(Math.random() * members.length)]!;
      return usable(rotateFrom(members, start));
    }
    case ALG.PRIORITY:
      return usable([...members]);
    case ALG.WEIGHT: case ALG.RELATIVE_WEIGHT: {
      const slots = slotsFor(t, setid, members, alg === ALG.RELATIVE_WEIGHT);
      if (slots.length === 0) return [];
      const first = slots[t.nextPosition(setid) % slots.length]!;
      return usable(rotateFrom(members, first));
    }
    case ALG.CALL_LOAD: {
      // the fewest active calls (Kamailio's dload), first in set order on a tie; full ones
      // (load at maxload) are not candidates
      const open = usable([...members]).filter((i) => {
        const max = t.dests[i]!.attrs.maxload ?? 0;
        return max === 0 || t.load(i) < max;
      });
      return open.sort((a, b) => t.load(a) - t.load(b) || members.indexOf(a) - members.indexOf(b));
    }
    case ALG.ALL:
      return usable([...members]);
    case ALG.LATENCY: {
      // Kamailio's latency-adjusted priority: prio - est/prio when est > prio > 0, at least 1
      const rprio = (i: number): number => {
        const prio = t.dests[i]!.priority;
        const est = t.latency(i, F_LAT_EST);
        return Math.max(1, prio - (est > prio && prio > 0 ? est / prio : 0));
      };
      const live = usable([...members]);
      return live.sort((a, b) => rprio(b) - rprio(a) || members.indexOf(a) - members.indexOf(b));
    }
    default:
      return [];
  }
}
