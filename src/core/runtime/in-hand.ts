// What each SIP thread has in hand, in shared memory the main thread reads. One mechanism serves
// two purposes: when a thread dies, the supervisor counts the message it was processing as lost
// (and skips it if it came from a ring: it may be what killed the thread); and the watchdog sees
// a thread whose message count has not moved while a message is in hand, i.e. one stuck in it.
//
// Per SIP thread two Int32 slots: FROM (0: idle, FROM_SOCKET, or FROM_RING + ring index) and
// SEQ (messages begun, wrapping). The thread writes them with plain stores, two per message.

const FROM = 0;
const SEQ = 1;
const SLOTS = 2;

export const IDLE = 0;
export const FROM_SOCKET = 1;
/** FROM_RING + r: record at the tail of the thread's r-th ring (ThreadData.ringsIn order). */
export const FROM_RING = 2;

export function createInHandBuffer(sipThreads: number): SharedArrayBuffer {
  return new SharedArrayBuffer(Math.max(1, sipThreads) * SLOTS * 4);
}

/** A SIP thread's own slots. */
export class InHand {
  private readonly slots: Int32Array;
  private readonly from: number;
  private readonly seq: number;
  constructor(sab: SharedArrayBuffer, thread: number) {
    this.slots = new Int32Array(sab);
    this.from = thread * SLOTS + FROM;
    this.seq = thread * SLOTS + SEQ;
  }
  begin(from: number): void {
    const s = this.slots;
    s[this.seq] = (s[this.seq] + 1) | 0;
    s[this.from] = from;
  }
  end(): void {
    this.slots[this.from] = IDLE;
  }
}

/** The main thread's view of every SIP thread's slots. */
export class InHandTable {
  private readonly slots: Int32Array;
  constructor(sab: SharedArrayBuffer) {
    this.slots = new Int32Array(sab);
  }
  from(thread: number): number {
    return Atomics.load(this.slots, thread * SLOTS + FROM);
  }
  seq(thread: number): number {
    return Atomics.load(this.slots, thread * SLOTS + SEQ);
  }
  /** After a thread died: its successor starts idle. */
  clear(thread: number): void {
    Atomics.store(this.slots, thread * SLOTS + FROM, IDLE);
  }
}
