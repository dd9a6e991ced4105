// A coarse hashed timer wheel, one per thread (DESIGN.md "Timers"). An entry is a top-level
// function and its argument, so arming a timer allocates no closure; entries live in recycled
// struct-of-array slots, and a handle (slot index + generation) cancels in O(1) and goes stale
// once the entry fired or was cancelled. Time moves only through tick(now): a test drives it by
// hand, start() drives it from one setTimeout armed for the next occupied slot, none when the
// wheel is empty (an idle viaduct does not wake up).
import { performance } from 'node:perf_hooks';

export type TimerFn<A> = (arg: A) => void;

/** A handle from schedule(); 0 is never one, so it can mean "no timer". */
export type TimerHandle = number;

export interface TimerWheelOptions {
  /** Width of a slot in ms: timers fire up to this late, never early. Default 10. */
  resolutionMs?: number;
  /** Slots in one turn of the wheel (longer timers wait their turn in their slot). Default 1024. */
  slots?: number;
  /** The clock schedule() measures from, in ms. Default performance.now. */
  now?: () => number;
  /** Called when a timer function throws; the wheel goes on with the other entries. */
  onError?: (err: unknown) => void;
}

const NONE = -1;
// handle = generation * INDEX_SPAN + index; generations start at 1 so a handle is never 0
const INDEX_SPAN = 1 << 24;
const GENERATION_WRAP = 1 << 28;
const INITIAL_ENTRIES = 64;

export class TimerWheel {
  readonly resolutionMs: number;
  private readonly slotCount: number;
  private readonly now: () => number;
  private readonly onError: (err: unknown) => void;
  /** Per slot, the first entry of its list; slot `slotCount` is the list being fired. */
  private readonly heads: Int32Array;
  private readonly firing: number;
  // the entries, struct of arrays, grown by doubling
  private fns: (TimerFn<never> | null)[] = [];
  private args: unknown[] = [];
  private dueTick = new Float64Array(INITIAL_ENTRIES);
  private next = new Int32Array(INITIAL_ENTRIES);
  private prev = new Int32Array(INITIAL_ENTRIES);
  private slotOf = new Int32Array(INITIAL_ENTRIES);
  private generation = new Int32Array(INITIAL_ENTRIES);
  private freeHead = NONE;
  private used = 0;     // entries ever handed out (the rest of the arrays is unused)
  private live = 0;     // entries scheduled and not yet fired or cancelled
  /** The last tick processed: entries due at or before it have fired. */
  private current: number;
  // the real-time driver
  private driving = false;
  private unref = true;
  private timer: NodeJS.Timeout | null = null;
  private armedTick = Infinity;
  private ticking = false;
  private readonly onTimer = (): void => {
    this.timer = null;
    this.armedTick = Infinity;
    this.tick(this.now()); // arms the next one
  };

  constructor(opts: TimerWheelOptions = {}) {
    this.resolutionMs = opts.resolutionMs ?? 10;
    this.slotCount = opts.slots ?? 1024;
    if (!(this.resolutionMs > 0) || !Number.isInteger(this.slotCount) || this.slotCount < 1) {
      throw new RangeError('timer wheel: resolutionMs must be > 0 and slots an integer >= 1');
    }
    this.now = opts.now ?? (() => performance.now());
    this.onError = opts.onError ?? ((e) => { console.error('timer function failed:', e); });
    this.heads = new Int32Array(this.slotCount + 1).fill(NONE);
    this.firing = this.slotCount;
    this.current = Math.floor(this.now() / this.resolutionMs);
  }

  /** Timers scheduled and not yet fired or cancelled. */
  get size(): number {
    return this.live;
  }

  /** Calls fn(arg) once, `ms` from now (rounded up to the wheel's resolution). */
  schedule<A>(fn: TimerFn<A>, arg: A, ms: number): TimerHandle {
    const i = this.allocate();
    const due = Math.max(Math.ceil((this.now() + (ms > 0 ? ms : 0)) / this.resolutionMs), this.current + 1);
    this.fns[i] = fn as TimerFn<never>;
    this.args[i] = arg;
    this.dueTick[i] = due;
    this.link(i, due % this.slotCount);
    this.live++;
    if (this.driving && !this.ticking && due < this.armedTick) this.arm(); // tick() arms once at its end
    return this.generation[i]! * INDEX_SPAN + i;
  }

  /** Cancels a timer; false when the handle is stale (fired, cancelled) or 0. */
  cancel(handle: TimerHandle): boolean {
    const i = handle % INDEX_SPAN;
    if (handle <= 0 || i >= this.used || this.generation[i] !== (handle - i) / INDEX_SPAN || this.fns[i] === null) return false;
    this.unlink(i);
    this.release(i);
    if (--this.live === 0 && this.driving && !this.ticking) this.arm(); // nothing left: no wake-up
    return true;
  }

  /** True while the handle's timer is scheduled. */
  pending(handle: TimerHandle): boolean {
    const i = handle % INDEX_SPAN;
    return handle > 0 && i < this.used && this.generation[i] === (handle - i) / INDEX_SPAN && this.fns[i] !== null;
  }

  /**
   * Fires every timer due at or before `now` (ms, the clock of `now` in the options), in due
   * order (after a stall of more than one turn of the wheel: in slot order). A timer function
   * may schedule and cancel timers, its own entry included.
   */
  tick(now: number): void {
    const target = Math.floor(now / this.resolutionMs);
    if (target > this.current) {
      // past one full turn every slot is visited once: each holds entries due by now or later turns
      const from = target - this.current > this.slotCount ? target - this.slotCount + 1 : this.current + 1;
      this.current = target;
      this.ticking = true;
      for (let t = from; t <= target && this.live > 0; t++) {
        this.collect(t % this.slotCount, target);
        this.fire();
      }
      this.ticking = false;
    }
    if (this.driving) this.arm();
  }

  /** Drives the wheel from real time until stop(); `unref`: the timer does not keep the process alive. */
  start(opts: { unref?: boolean } = {}): void {
    this.unref = opts.unref ?? true;
    this.driving = true;
    this.arm();
  }

  /** Stops the real-time driver; scheduled entries stay (tick() still fires them). */
  stop(): void {
    this.driving = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.armedTick = Infinity;
  }

  /** Drops every entry without firing it. */
  clear(): void {
    for (let i = 0; i < this.used; i++) {
      if (this.fns[i] === null) continue;
      this.unlink(i);
      this.release(i);
    }
    this.live = 0;
    if (this.driving) this.arm();
  }

  // ---------------------------------------------------------------- the driver

  /** One setTimeout for the next occupied slot, none when the wheel is empty. */
  private arm(): void {
    if (!this.driving) return;
    const next = this.live > 0 ? this.nextOccupiedTick() : Infinity;
    if (next === this.armedTick) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.armedTick = next;
    if (next === Infinity) return;
    const delay = Math.max(0, next * this.resolutionMs - this.now());
    this.timer = setTimeout(this.onTimer, delay);
    if (this.unref) this.timer.unref();
  }

  /**
   * The first tick after `current` whose slot holds an entry: a lower bound of the next due
   * entry (the slot may hold only later turns' entries; the driver then wakes once for nothing).
   */
  private nextOccupiedTick(): number {
    for (let t = this.current + 1; t <= this.current + this.slotCount; t++) {
      if (this.heads[t % this.slotCount] !== NONE) return t;
    }
    return Infinity;
  }

  // ---------------------------------------------------------------- entries

  /** Moves the entries of `slot` due by tick `target` onto the (empty) firing list. */
  private collect(slot: number, target: number): void {
    // a slot lists its newest entry first; relinking each at the firing list's head puts the
    // oldest first, so entries due together fire in the order they were scheduled
    for (let i = this.heads[slot]!; i !== NONE;) {
      const n = this.next[i]!;
      if (this.dueTick[i]! <= target) {
        this.unlink(i);
        this.link(i, this.firing);
      }
      i = n;
    }
  }

  /** Fires the firing list; an entry cancelled meanwhile has left it. */
  private fire(): void {
    for (let i = this.heads[this.firing]!; i !== NONE; i = this.heads[this.firing]!) {
      const fn = this.fns[i]!;
      const arg = this.args[i];
      this.unlink(i);
      this.release(i);
      this.live--;
      try {
        (fn as TimerFn<unknown>)(arg);
      } catch (e) {
        this.onError(e);
      }
    }
  }

  private allocate(): number {
    if (this.freeHead !== NONE) {
      const i = this.freeHead;
      this.freeHead = this.next[i]!;
      return i;
    }
    if (this.used === this.dueTick.length) this.grow();
    const i = this.used++;
    this.generation[i] = 1;
    this.fns.push(null);
    this.args.push(undefined);
    return i;
  }

  private release(i: number): void {
    this.fns[i] = null;
    this.args[i] = undefined;
    this.generation[i] = this.generation[i]! + 1 >= GENERATION_WRAP ? 1 : this.generation[i]! + 1;
    this.next[i] = this.freeHead;
    this.freeHead = i;
  }

  private grow(): void {
    const n = this.dueTick.length * 2;
    if (n > INDEX_SPAN) throw new RangeError(`timer wheel: more than ${INDEX_SPAN} timers`);
    const widen = <T extends Int32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.dueTick = widen(this.dueTick, (k) => new Float64Array(k));
    this.next = widen(this.next, (k) => new Int32Array(k));
    this.prev = widen(this.prev, (k) => new Int32Array(k));
    this.slotOf = widen(this.slotOf, (k) => new Int32Array(k));
    this.generation = widen(this.generation, (k) => new Int32Array(k));
  }

  private link(i: number, slot: number): void {
    const head = this.heads[slot]!;
    this.slotOf[i] = slot;
    this.prev[i] = NONE;
    this.next[i] = head;
    if (head !== NONE) this.prev[head] = i;
    this.heads[slot] = i;
  }

  private unlink(i: number): void {
    const p = this.prev[i]!;
    const n = this.next[i]!;
    if (p === NONE) this.heads[this.slotOf[i]!] = n;
    else this.next[p] = n;
    if (n !== NONE) this.prev[n] = p;
  }
}

let wheelOfThisThread: TimerWheel | null = null;

/** This thread's wheel (module state is per thread), driven from real time; its timer is unref'd. */
export function threadWheel(): TimerWheel {
  if (!wheelOfThisThread) {
    wheelOfThisThread = new TimerWheel();
    wheelOfThisThread.start({ unref: true });
  }
  return wheelOfThisThread;
}
