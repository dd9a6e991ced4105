// The pieces of the thread lifecycle that need no threads: which rings a topology allocates, the
// in-hand slots, and the watchdog's decision (driven by hand, with its own clock).
import { describe, expect, it } from 'vitest';
import { createInHandBuffer, FROM_RING, FROM_SOCKET, IDLE, InHand, InHandTable } from '../../../src/core/runtime/in-hand.js';
import { createRings, ringsInto, topologyFor } from '../../../src/core/runtime/topology.js';
import { Watchdog } from '../../../src/core/runtime/watchdog.js';
import { warmUp } from '../../../src/core/runtime/warm-up.js';
import { resolveSettings } from '../../../src/core/config.js';
import { socketInfos } from '../../../src/core/runtime/thread.js';

describe('topology', () => {
  it('is decided by the number of workers; only sharded mode has rings', () => {
    expect(topologyFor(0, true)).toMatchObject({ mode: 'inline', receiver: true, workersRead: false, sipThreads: 1 });
    expect(topologyFor(1, true)).toMatchObject({ mode: 'single', receiver: false, workersRead: true, sipThreads: 1 });
    expect(topologyFor(1, false)).toMatchObject({ mode: 'single', receiver: false, workersRead: true });
    expect(topologyFor(3, true)).toMatchObject({ mode: 'sharded', receiver: true, workersRead: false, sipThreads: 3 });
    expect(createRings(topologyFor(0, true), 1024)).toEqual([]);
    expect(createRings(topologyFor(1, false), 1024)).toEqual([]);
  });

  it('native sharded: one ring from the receiver into each worker; node:dgram: also between workers', () => {
    const count = (rings: (SharedArrayBuffer | null)[][]) => rings.flat().filter((r) => r !== null).length;
    const native = createRings(topologyFor(3, true), 1024);
    expect(count(native)).toBe(3);
    expect(native[0]!.every((r) => r !== null)).toBe(true);
    expect(ringsInto(native, 1)).toEqual([native[0]![1]]);
    const dgram = createRings(topologyFor(3, false), 1024);
    expect(count(dgram)).toBe(3 + 3 * 2); // receiver -> 3, each worker -> the 2 others
    expect(dgram[2]![1]).toBeNull(); // worker 2 (producer 2) into itself
    expect(ringsInto(dgram, 1)).toHaveLength(3);
  });
});

describe('in-hand slots and the watchdog', () => {
  const setup = (limitMs: number) => {
    const sab = createInHandBuffer(2);
    const stuck: [number, number][] = [];
    const table = new InHandTable(sab);
    const dog = new Watchdog(table, 2, limitMs, (k, ms) => stuck.push([k, ms]));
    return { threads: [new InHand(sab, 0), new InHand(sab, 1)], table, dog, stuck };
  };

  it('say where the message in hand came from, and clear', () => {
    const { threads, table } = setup(1000);
    threads[1]!.begin(FROM_RING + 2);
    expect([table.from(0), table.from(1), table.seq(1)]).toEqual([IDLE, FROM_RING + 2, 1]);
    threads[1]!.end();
    expect(table.from(1)).toBe(IDLE);
    threads[0]!.begin(FROM_SOCKET);
    table.clear(0);
    expect(table.from(0)).toBe(IDLE);
  });

  it('finds a thread whose message in hand has not changed for the limit, once', () => {
    const { threads, dog, stuck } = setup(1000);
    threads[0]!.begin(FROM_SOCKET);
    dog.check(10_000);
    dog.check(10_900);
    expect(stuck).toEqual([]);
    dog.check(11_000);
    dog.check(11_500);
    expect(stuck).toEqual([[0, 1000]]);
  });

  it('leaves alone a busy thread that moves on, and an idle one', () => {
    const { threads, dog, stuck } = setup(1000);
    for (let t = 0; t < 10_000; t += 250) {
      threads[0]!.end();
      threads[0]!.begin(FROM_SOCKET); // a new message every tick: busy, not stuck
      dog.check(t); // thread 1 stays idle throughout
    }
    expect(stuck).toEqual([]);
    expect(dog.tickMs).toBe(250);
  });

  it('sleeps after two quiet ticks; the next message begun wakes it, and it checks at once', async () => {
    const { threads, table, dog, stuck } = setup(1000);
    dog.start();
    try {
      expect([dog.awake, table.watched]).toEqual([true, 1]);
      threads[0]!.begin(FROM_SOCKET);
      threads[0]!.end();
      dog.tick(0); // a message since the last look: stays awake
      expect([dog.awake, table.watched]).toEqual([true, 1]);
      dog.tick(250); // quiet: clears the flag, still ticking
      expect([dog.awake, table.watched]).toEqual([true, 0]);
      dog.tick(500); // quiet again: asleep
      expect(dog.awake).toBe(false);
      threads[1]!.begin(FROM_SOCKET); // sets the flag and wakes the watchdog
      expect(table.watched).toBe(1);
      await expect.poll(() => dog.awake).toBe(true);
      // the wake-up's check saw thread 1 begin: stuck only a whole limit after that
      dog.check(Date.now() + 900);
      expect(stuck).toEqual([]);
      dog.check(Date.now() + 1100);
      expect(stuck.map(([k]) => k)).toEqual([1]);
    } finally {
      dog.stop();
    }
  });

  it('stays awake when a message begun just as it cleared the flag shows up on the next tick', () => {
    const { threads, table, dog } = setup(1000);
    dog.start();
    try {
      dog.tick(0); // quiet: clears the flag
      expect([dog.awake, table.watched]).toEqual([true, 0]);
      // a thread whose read of the flag came before the clear: it began without waking anyone
      table.watched = 1;
      threads[0]!.begin(FROM_SOCKET);
      table.watched = 0;
      dog.tick(250); // sees the message: watches again instead of sleeping
      expect([dog.awake, table.watched]).toEqual([true, 1]);
    } finally {
      dog.stop();
    }
  });

  it('is off with a limit of 0', () => {
    const { dog } = setup(0);
    dog.start();
    expect((dog as unknown as { timer: unknown }).timer).toBeNull();
  });
});

describe('warm-up', () => {
  it('forwards every message of its synthetic calls (6 per call), for IPv4 and IPv6 sockets', () => {
    for (const listen of ['udp:127.0.0.1:5060', 'udp:[::1]:5062']) {
      const settings = resolveSettings(undefined, { listen: [listen], alias: [], modparams: [] }, 2);
      expect(warmUp(settings, socketInfos(settings), 'vdtest-', 20), listen).toBe(120);
    }
  });
});
