// Every thread that reads a socket (the receiving thread, and a worker whose own socket the
// kernel chose) sends each datagram to the worker that owns its Call-ID, so all messages of a
// call are processed by one worker, in order.
import type { ThreadCounters } from '../stats/counters.js';
import { C } from '../stats/counters.js';
import { callIdHash } from './callid.js';
import { Doorbells, Ring } from './ring.js';

export class CallRouter {
  private readonly rings: (Ring | null)[];
  private readonly bells: Doorbells;

  /**
   * `rings[k]`: this thread's ring into worker k (null for this thread itself). `self`: this
   * thread's worker index, or -1 for the receiving thread.
   */
  constructor(rings: (SharedArrayBuffer | null)[], bells: Doorbells, readonly self: number, private readonly counters: ThreadCounters) {
    this.rings = rings.map((sab) => (sab ? new Ring(sab) : null));
    this.bells = bells;
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

  /** Queues the datagram for worker k and wakes it if it sleeps; counts a drop when full. */
  handOff(k: number, buf: Buffer, address: string, port: number, sockIndex: number): void {
    if (this.rings[k]!.push(buf, address, port, sockIndex)) {
      this.counters.inc(C['viaduct:ring_handoffs']);
      this.bells.ring(k);
    } else {
      this.counters.inc(C['viaduct:ring_full_drops']);
    }
  }
}
