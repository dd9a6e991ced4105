// The timer wheel driven by hand (a fake clock and tick()) and by real time (start()).
import { describe, expect, it } from 'vitest';
import { TimerWheel } from '../../../src/core/timer/wheel.js';

/** A wheel on a clock the test moves; fired entries are logged as "arg@now". */
function handWheel(opts: { resolutionMs?: number; slots?: number } = {}) {
  let now = 0;
  const fired: string[] = [];
  const wheel = new TimerWheel({ ...opts, now: () => now });
  const log = (arg: string): void => { fired.push(`${arg}@${now}`); };
  const advance = (to: number): void => { now = to; wheel.tick(now); };
  return { wheel, fired, log, advance, at: () => now };
}

describe('TimerWheel by hand', () => {
  it('fires an entry at its slot, never early, at most one resolution late', () => {
    const { wheel, fired, log, advance } = handWheel({ resolutionMs: 10 });
    wheel.schedule(log, 'a', 25); // due 25: slot of 30
    advance(20);
    expect(fired).toEqual([]);
    advance(29);
    expect(fired).toEqual([]);
    advance(30);
    expect(fired).toEqual(['a@30']);
    expect(wheel.size).toBe(0);
  });

  it('fires in due order, and entries due together in the order scheduled', () => {
    const { wheel, fired, log, advance } = handWheel();
    wheel.schedule(log, 'late', 500);
    wheel.schedule(log, 'x', 100);
    wheel.schedule(log, 'y', 100);
    wheel.schedule(log, 'z', 100);
    wheel.schedule(log, 'early', 50);
    advance(1000); // one tick covers all of them
    expect(fired).toEqual(['early@1000', 'x@1000', 'y@1000', 'z@1000', 'late@1000']);
  });

  it('keeps entries longer than one turn of the wheel for their own turn', () => {
    const { wheel, fired, log, advance } = handWheel({ resolutionMs: 10, slots: 8 }); // one turn: 80 ms
    wheel.schedule(log, 'long', 250);
    wheel.schedule(log, 'short', 20);
    for (let t = 10; t <= 240; t += 10) advance(t);
    expect(fired).toEqual(['short@20']);
    advance(250);
    expect(fired).toEqual(['short@20', 'long@250']);
  });

  it('a jump of many turns fires everything due and keeps what is not', () => {
    const { wheel, fired, log, advance } = handWheel({ resolutionMs: 10, slots: 8 });
    wheel.schedule(log, 'a', 30);
    wheel.schedule(log, 'b', 700);
    wheel.schedule(log, 'c', 5000);
    advance(1000);
    // after a stall longer than a turn, what is due fires in slot order, not due order
    expect(fired.sort()).toEqual(['a@1000', 'b@1000']);
    expect(wheel.size).toBe(1);
    advance(5000);
    expect(fired).toEqual(['a@1000', 'b@1000', 'c@5000']);
  });

  it('cancel removes an entry in O(1); a stale handle is refused, a recycled entry is not disturbed', () => {
    const { wheel, fired, log, advance } = handWheel();
    const a = wheel.schedule(log, 'a', 100);
    const b = wheel.schedule(log, 'b', 100);
    expect(wheel.pending(a)).toBe(true);
    expect(wheel.cancel(a)).toBe(true);
    expect(wheel.cancel(a)).toBe(false);
    expect(wheel.pending(a)).toBe(false);
    // the freed entry is reused by the next schedule: the old handle must not cancel it
    const c = wheel.schedule(log, 'c', 100);
    expect(c).not.toBe(a);
    expect(wheel.cancel(a)).toBe(false);
    expect(wheel.cancel(0)).toBe(false);
    advance(200);
    expect(fired).toEqual(['b@200', 'c@200']);
    expect(wheel.cancel(b)).toBe(false); // fired
  });

  it('a timer function may reschedule itself and cancel an entry due in the same tick', () => {
    const { wheel, fired, log, advance } = handWheel({ resolutionMs: 10 });
    const state = { n: 0, victim: 0 };
    const repeat = (s: typeof state): void => {
      fired.push(`repeat${s.n}`);
      wheel.cancel(s.victim);
      if (++s.n < 3) wheel.schedule(repeat, s, 100);
    };
    wheel.schedule(repeat, state, 100);
    state.victim = wheel.schedule(log, 'victim', 100);
    advance(100);
    expect(fired).toEqual(['repeat0']);
    advance(150);
    expect(fired).toEqual(['repeat0']);
    advance(200);
    advance(300);
    advance(400);
    expect(fired).toEqual(['repeat0', 'repeat1', 'repeat2']);
    expect(wheel.size).toBe(0);
  });

  it('an entry of 0 ms (or less) fires at the next tick, not during the current one', () => {
    const { wheel, fired, log, advance } = handWheel({ resolutionMs: 10 });
    const now0 = (arg: string): void => { fired.push(arg); wheel.schedule(log, 'child', 0); };
    wheel.schedule(now0, 'parent', -5);
    advance(10);
    expect(fired).toEqual(['parent']);
    advance(20);
    expect(fired).toEqual(['parent', 'child@20']);
  });

  it('a throwing timer function is reported and the others still fire', () => {
    let now = 0;
    const errors: unknown[] = [];
    const fired: string[] = [];
    const wheel = new TimerWheel({ now: () => now, onError: (e) => errors.push(e) });
    wheel.schedule(() => { throw new Error('boom'); }, null, 10);
    wheel.schedule((s: string) => fired.push(s), 'after', 10);
    now = 20;
    wheel.tick(now);
    expect((errors[0] as Error).message).toBe('boom');
    expect(fired).toEqual(['after']);
  });

  it('recycles entries: 100,000 schedule/fire cycles keep the entry arrays at the peak in use', () => {
    const { wheel, advance } = handWheel({ resolutionMs: 10 });
    let count = 0;
    const bump = (): void => { count++; };
    let t = 0;
    for (let round = 0; round < 1000; round++) {
      for (let k = 0; k < 100; k++) wheel.schedule(bump, null, 10 + (k % 7) * 10);
      t += 100;
      advance(t);
    }
    expect(count).toBe(100_000);
    expect((wheel as unknown as { used: number }).used).toBeLessThanOrEqual(128);
  });

  it('refuses a nonsense configuration', () => {
    expect(() => new TimerWheel({ resolutionMs: 0 })).toThrow(/resolutionMs/);
    expect(() => new TimerWheel({ slots: 0 })).toThrow(/slots/);
  });
});

describe('TimerWheel in real time', () => {
  it('fires on time from one setTimeout and arms none when empty', async () => {
    const wheel = new TimerWheel({ resolutionMs: 5 });
    const firedAt: number[] = [];
    const t0 = performance.now();
    const done = new Promise<void>((resolve) => {
      const note = (last: boolean): void => { firedAt.push(performance.now() - t0); if (last) resolve(); };
      wheel.schedule(note, false, 30);
      wheel.schedule(note, true, 80);
    });
    wheel.start({ unref: false });
    await done;
    expect(firedAt[0]).toBeGreaterThanOrEqual(30);
    expect(firedAt[1]).toBeGreaterThanOrEqual(80);
    expect(firedAt[1]).toBeLessThan(80 + 200);
    // empty now: no timer left armed
    expect((wheel as unknown as { timer: unknown }).timer).toBeNull();
    // an earlier entry scheduled while a later one is armed re-arms the driver
    const order: string[] = [];
    const both = new Promise<void>((resolve) => {
      wheel.schedule((s: string) => { order.push(s); resolve(); }, 'late', 200);
      wheel.schedule((s: string) => order.push(s), 'early', 20);
    });
    await both;
    expect(order).toEqual(['early', 'late']);
    // cancelling the last entry disarms it
    const h = wheel.schedule(() => undefined, null, 1000);
    expect((wheel as unknown as { timer: unknown }).timer).not.toBeNull();
    wheel.cancel(h);
    expect((wheel as unknown as { timer: unknown }).timer).toBeNull();
    wheel.stop();
  });
});
