// Every thread that reads a socket (the receiving thread, and a worker whose own socket the
// kernel chose) sends each datagram to the worker that owns its Call-ID, so all messages of a
// call are processed by one worker, in order.
import type { ThreadCounters } from '../stats/counters.js';
import { C } from '../stats/counters.js';
import { callIdHash } from './callid.js';
import { Doorbells, Ring } from './ring.js';

/**
 * How long a reader waits for room in a full ring before it drops. A worker that is behind
 * (start-up, a burst, a GC pause) gets time to catch up while the reader sleeps: what arrives
 * meanwhile waits in the kernel's socket buffer, and the reader's CPU goes to the workers. A
 * worker whose ring stays full this long (stuck: see the watchdog) has its datagrams dropped
 * at once until it makes room again, so the other workers' calls go on.
 */
const FULL_RING_WAIT_MS = 50;

export class CallRouter {
  private readonly rings: (Ring | null)[];
  private readonly bells: Doorbells;
  private readonly fullSince: Float64Array; // per worker: when its ring was found full (0: it has room)
  private readonly pause = new Int32Array(new SharedArrayBuffer(4)); // Atomics.wait as a sleep

  /**
   * `rings[k]`: this thread's ring into worker k (null for this thread itself). `self`: this
   * thread's worker index, or -1 for the receiving thread.
   */
  constructor(rings: (SharedArrayBuffer | null)[], bells: Doorbells, readonly self: number, private readonly counters: ThreadCounters) {
    this.rings = rings.map((sab) => (sab ? new Ring(sab) : null));
    this.bells = bells;
    this.fullSince = new Float64Array(rings.length);
  }

  get workers(): number {
    return this.rings.length;
  }

  /** The worker owning this datagram (a datagram without Call-ID goes to worker 0). */
  owner(buf: Buffer): number {
    if (this.rings.length === 1) return 0; // one worker owns every call: no need to look
    const h = callIdHash(buf, buf.length);
    return h < 0 ? 0 : h % this.rings.length;
  }

  /** Queues the datagram for worker k and wakes it if it sleeps; counts a drop when it stays full. */
  handOff(k: number, buf: Buffer, address: string, port: number, sockIndex: number): void {
    const ring = this.rings[k]!;
    if (ring.push(buf, address, port, sockIndex) || this.waitForRoom(k, ring, buf, address, port, sockIndex)) {
      this.fullSince[k] = 0;
      this.counters.inc(C['viaduct:ring_handoffs']);
      this.bells.ring(k);
    } else {
      this.counters.inc(C['viaduct:ring_full_drops']);
    }
  }

  /** Worker k's ring is full: sleep in 1 ms steps until it takes the datagram (see FULL_RING_WAIT_MS). */
  private waitForRoom(k: number, ring: Ring, buf: Buffer, address: string, port: number, sockIndex: number): boolean {
    let now = Date.now();
    if (this.fullSince[k] === 0) this.fullSince[k] = now;
    while (now - this.fullSince[k] < FULL_RING_WAIT_MS) {
      this.bells.ring(k);
      Atomics.wait(this.pause, 0, 0, 1);
      if (ring.push(buf, address, port, sockIndex)) return true;
      now = Date.now();
    }
    return false;
  }
}
