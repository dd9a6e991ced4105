// How the SIP threads are arranged (DESIGN.md "Shape"), decided once, here, from the number of
// workers and the UDP backend. Everything else asks this object rather than `workers === 0`.
import { createRingBuffer } from './ring.js';

/**
 * - inline (workers 0): one thread, the receiving thread, reads the sockets and runs the script.
 * - single (workers 1): the one worker reads the sockets itself; there is no receiving thread
 *   (relaying through one would cost a second wake-up per datagram and decide nothing).
 * - sharded (workers N >= 2): a receiving thread hashes Call-IDs into per-worker SPSC rings.
 */
export type TopologyMode = 'inline' | 'single' | 'sharded';

export interface Topology {
  mode: TopologyMode;
  workers: number;
  /** Whether a receiving thread exists (inline: it is the SIP thread; sharded: it routes). */
  receiver: boolean;
  /**
   * Whether the workers read sockets: in single mode, and in sharded mode with node:dgram, where
   * every worker binds its own socket to the address and the kernel may deliver to any of them.
   */
  workersRead: boolean;
  /** Threads that run the script: the receiving thread in inline mode, else the workers. */
  sipThreads: number;
}

export function topologyFor(workers: number, nativeUdp: boolean): Topology {
  const mode: TopologyMode = workers === 0 ? 'inline' : workers === 1 ? 'single' : 'sharded';
  return {
    mode,
    workers,
    receiver: mode !== 'single',
    workersRead: mode === 'single' || (mode === 'sharded' && !nativeUdp),
    sipThreads: Math.max(1, workers),
  };
}

/**
 * The rings a topology uses: `[p][k]` from producer p (0: the receiving thread, 1..N: worker
 * p-1) into worker k, null where that pair has none. Only sharded mode has rings: from the
 * receiver into every worker, and with node:dgram also from every worker into every other one.
 */
export function createRings(t: Topology, ringBytes: number): (SharedArrayBuffer | null)[][] {
  if (t.mode !== 'sharded') return [];
  const producerReads = (p: number): boolean => p === 0 || t.workersRead;
  return Array.from({ length: t.workers + 1 }, (_, p) =>
    Array.from({ length: t.workers }, (_, k) => (producerReads(p) && p !== k + 1 ? createRingBuffer(ringBytes) : null)));
}

/** Every ring into worker k, in a fixed order (the worker drains them; a restart inspects them). */
export function ringsInto(rings: (SharedArrayBuffer | null)[][], k: number): SharedArrayBuffer[] {
  return rings.map((row) => row[k]).filter((r): r is SharedArrayBuffer => r != null);
}
