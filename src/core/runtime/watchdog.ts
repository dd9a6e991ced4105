// The watchdog (main thread): finds a SIP thread stuck in one message, e.g. a script in an
// endless loop, from the in-hand slots (in-hand.ts): a message in hand and a message count that
// has not moved for longer than the limit. It checks on a coarse, unref'd timer (a quarter of
// the limit, at most every 500 ms) only while the threads work: after two checks that found
// every thread idle and no message begun, it stops its timer and sleeps until a thread begins a
// message (in-hand.ts WATCHED), so an idle server has no timer running for it.
//
// Going to sleep takes two quiet checks because a thread's plain stores of its slots may become
// visible after its read of WATCHED: the first check clears WATCHED, the second one, a tick
// later, sees any message begun before the thread could see the cleared flag.
import type { InHandTable } from './in-hand.js';
import { IDLE } from './in-hand.js';

export class Watchdog {
  private readonly lastSeq: Int32Array;
  private readonly since: Float64Array;  // when lastSeq was first seen with a message in hand; 0: idle
  private readonly reported: Uint8Array; // onStuck was called for this message (wait for a change)
  private timer: NodeJS.Timeout | null = null;
  private running = false;               // between start() and stop()
  private readonly onTick = (): void => this.tick(Date.now());
  private readonly onWake = (): void => {
    if (!this.running) return;
    this.arm();
    this.onTick(); // the message that woke us: first seen now
  };

  constructor(
    private readonly table: InHandTable,
    private readonly threads: number,
    readonly limitMs: number,
    private readonly onStuck: (thread: number, stuckMs: number) => void,
  ) {
    this.lastSeq = new Int32Array(threads);
    this.since = new Float64Array(threads);
    this.reported = new Uint8Array(threads);
  }

  get tickMs(): number {
    return Math.max(10, Math.min(500, Math.floor(this.limitMs / 4)));
  }

  /** Whether the timer runs (false: off, or asleep until a thread begins a message). */
  get awake(): boolean {
    return this.timer !== null;
  }

  start(): void {
    if (this.running || this.limitMs <= 0) return;
    this.running = true;
    this.arm();
  }

  stop(): void {
    this.running = false;
    this.disarm();
    this.table.release();
  }

  private arm(): void {
    this.table.watched = 1;
    if (this.timer) return;
    this.timer = setInterval(this.onTick, this.tickMs);
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One timer tick: a check, then asleep after two quiet ones (see the top of the file). */
  tick(now: number): void {
    if (this.check(now)) {
      if (this.table.watched === 0) this.table.watched = 1;
    } else if (this.table.watched === 1) {
      this.table.watched = 0;
    } else {
      this.disarm();
      this.table.waitWatched(this.onWake);
    }
  }

  /**
   * One look at every thread (the timer calls it; exposed so that a test can drive it). True
   * when a thread has a message in hand or began one since the previous look.
   */
  check(now: number): boolean {
    let active = false;
    for (let k = 0; k < this.threads; k++) {
      const seq = this.table.seq(k);
      const from = this.table.from(k);
      if (from !== IDLE || seq !== this.lastSeq[k]) active = true;
      if (from === IDLE || seq !== this.lastSeq[k]) {
        this.lastSeq[k] = seq;
        this.since[k] = from === IDLE ? 0 : now;
        this.reported[k] = 0;
        continue;
      }
      if (this.since[k] === 0) this.since[k] = now;
      const stuck = now - this.since[k];
      if (stuck >= this.limitMs && !this.reported[k]) {
        this.reported[k] = 1;
        this.onStuck(k, stuck);
      }
    }
    return active;
  }
}
