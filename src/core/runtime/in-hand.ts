// What each SIP thread has in hand, in shared memory the main thread reads. One mechanism serves
// two purposes: when a thread dies, the supervisor counts the message it was processing as lost
// (and skips it if it came from a ring: it may be what killed the thread); and the watchdog sees
// a thread whose message count has not moved while a message is in hand, i.e. one stuck in it.
//
// Per SIP thread, on a cache line of its own (threads do not invalidate each other's lines with
// their two stores per message): FROM (0: idle, FROM_SOCKET, or FROM_RING + ring index) and SEQ
// (messages begun, wrapping), written with plain stores. Before them a line the threads only
// read while the watchdog watches: WATCHED, 0 while the watchdog sleeps (an idle server has no
// timer running); the first message begun then wakes it (see watchdog.ts).
import { defineLayout } from '../shm/layout.js';

const HEADER = defineLayout({ watched: 'i32' }, { align: 64 });
const THREAD = defineLayout({ from: 'i32', seq: 'i32' }, { align: 64 });
const WATCHED = HEADER.watched;
const STRIDE = THREAD.BYTES / 4;
const BASE = HEADER.BYTES / 4;

export const IDLE = 0;
export const FROM_SOCKET = 1;
/** FROM_RING + r: record at the tail of the thread's r-th ring (ThreadData.ringsIn order). */
export const FROM_RING = 2;

export function createInHandBuffer(sipThreads: number): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER.BYTES + Math.max(1, sipThreads) * THREAD.BYTES);
}

/** The first message after the watchdog went to sleep wakes it (once: the exchange decides who). */
function wakeWatchdog(s: Int32Array): void {
  if (Atomics.compareExchange(s, WATCHED, 0, 1) === 0) Atomics.notify(s, WATCHED);
}

/** A SIP thread's own slots. */
export class InHand {
  private readonly slots: Int32Array;
  private readonly from: number;
  private readonly seq: number;
  constructor(sab: SharedArrayBuffer, thread: number) {
    this.slots = new Int32Array(sab);
    this.from = BASE + thread * STRIDE + THREAD.from;
    this.seq = BASE + thread * STRIDE + THREAD.seq;
  }
  begin(from: number): void {
    const s = this.slots;
    s[this.seq] = (s[this.seq] + 1) | 0;
    s[this.from] = from;
    if (Atomics.load(s, WATCHED) === 0) wakeWatchdog(s);
  }
  end(): void {
    this.slots[this.from] = IDLE;
  }
}

/** The main thread's view of every SIP thread's slots, and the watchdog's flag. */
export class InHandTable {
  private readonly slots: Int32Array;
  constructor(sab: SharedArrayBuffer) {
    this.slots = new Int32Array(sab);
  }
  from(thread: number): number {
    return Atomics.load(this.slots, BASE + thread * STRIDE + THREAD.from);
  }
  seq(thread: number): number {
    return Atomics.load(this.slots, BASE + thread * STRIDE + THREAD.seq);
  }
  /** After a thread died: its successor starts idle. */
  clear(thread: number): void {
    Atomics.store(this.slots, BASE + thread * STRIDE + THREAD.from, IDLE);
  }
  /** 1 while the watchdog watches; a thread that begins a message while it is 0 sets it and wakes the watchdog. */
  get watched(): number {
    return Atomics.load(this.slots, WATCHED);
  }
  set watched(v: number) {
    Atomics.store(this.slots, WATCHED, v);
  }
  /** Calls `onWake` once a thread begins a message (at once if one did since `watched` was set to 0). */
  waitWatched(onWake: () => void): void {
    const w = Atomics.waitAsync(this.slots, WATCHED, 0);
    if (w.async) void w.value.then(onWake);
    else onWake();
  }
  /** Ends a waitWatched (stop): its callback runs. */
  release(): void {
    Atomics.notify(this.slots, WATCHED);
  }
}
