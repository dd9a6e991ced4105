// The watchdog (main thread): finds a SIP thread stuck in one message, e.g. a script in an
// endless loop, from the in-hand slots (in-hand.ts): a message in hand and a message count that
// has not moved for longer than the limit. It checks on a coarse, unref'd timer (a quarter of
// the limit, at most every 500 ms), so an idle server pays one cheap tick now and then.
import type { InHandTable } from './in-hand.js';
import { IDLE } from './in-hand.js';

export class Watchdog {
  private readonly lastSeq: Int32Array;
  private readonly since: Float64Array;  // when lastSeq was first seen with a message in hand; 0: idle
  private readonly reported: Uint8Array; // onStuck was called for this message (wait for a change)
  private timer: NodeJS.Timeout | null = null;

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

  start(): void {
    if (this.timer || this.limitMs <= 0) return;
    this.timer = setInterval(() => this.check(Date.now()), this.tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One look at every thread (the timer calls it; exposed so that a test can drive it). */
  check(now: number): void {
    for (let k = 0; k < this.threads; k++) {
      const seq = this.table.seq(k);
      if (this.table.from(k) === IDLE || seq !== this.lastSeq[k]) {
        this.lastSeq[k] = seq;
        this.since[k] = this.table.from(k) === IDLE ? 0 : now;
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
  }
}
