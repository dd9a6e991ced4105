// The reader's hand-off into a worker's ring: a full ring makes the reader wait a moment for
// room (the worker is behind) and then drop (the worker is stuck), counted.
import { describe, expect, it } from 'vitest';
import { createRingBuffer, Doorbells, Ring, type RingRecord } from '../../../src/core/runtime/ring.js';
import { CallRouter } from '../../../src/core/runtime/router.js';
import { C, createStatsBuffer, ThreadCounters } from '../../../src/core/stats/counters.js';

describe('CallRouter.handOff into a full ring', () => {
  it('waits up to 50 ms for room, then drops at once while the ring stays full, and takes again once drained', () => {
    const sab = createRingBuffer(1024);
    const counters = new ThreadCounters(createStatsBuffer(1), 0);
    const router = new CallRouter([sab], new Doorbells(Doorbells.create(1)), -1, counters);
    const datagram = Buffer.alloc(100, 65);
    let accepted = 0;
    while (counters.row[C['viaduct:ring_full_drops']] === 0) {
      router.handOff(0, datagram, '127.0.0.1', 5060, 0);
      accepted = counters.row[C['viaduct:ring_handoffs']]!;
    }
    expect(accepted).toBeGreaterThan(3);

    let t = performance.now();
    router.handOff(0, datagram, '127.0.0.1', 5060, 0); // still full: no second wait
    expect(performance.now() - t).toBeLessThan(20);
    expect(counters.row[C['viaduct:ring_full_drops']]).toBe(2);

    const consumer = new Ring(sab);
    const rec: RingRecord = { payload: Buffer.alloc(0), address: '', port: 0, socketIndex: 0 };
    for (let i = 0; i < 2; i++) { // two records' room (the ring keeps 4 bytes between head and tail)
      expect(consumer.peek(rec)).toBe(true);
      consumer.release();
    }
    router.handOff(0, datagram, '127.0.0.1', 5060, 0); // room again
    expect(counters.row[C['viaduct:ring_handoffs']]).toBe(accepted + 1);

    t = performance.now();
    router.handOff(0, datagram, '127.0.0.1', 5060, 0); // full again: a new wait before the drop
    expect(performance.now() - t).toBeGreaterThanOrEqual(45);
    expect(counters.row[C['viaduct:ring_full_drops']]).toBe(3);
  });
});
