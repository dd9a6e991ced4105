// The shared memory a running server holds, region by region, for core.shmmem. Kamailio reports
// one shm pool it carves up; ours is a set of SharedArrayBuffers (the counters matrix, the rings
// between threads, module tables), each made once by the main thread. Whoever makes one names it
// here with a function that says how much of it is occupied when asked: nothing is tracked
// per message.
import type { ShmTable } from './hashtable.js';

/** One region now: its size and the bytes in use (for a fixed table, what its records occupy). */
export interface ShmUse {
  name: string;
  total: number;
  used: number;
}

/** A region that is wholly in use from the start (the counters, a table built to size). */
export function wholeRegion(name: string, sab: SharedArrayBuffer): ShmUse {
  return { name, total: sab.byteLength, used: sab.byteLength };
}

/** A shared hash table: its fixed part plus what its records and their arena blocks hold. */
export function tableRegion(table: ShmTable): ShmUse {
  return { name: table.name, total: table.sab.byteLength, used: table.usedBytes() };
}

/** The sources of regions, asked each time (a module's table may have been replaced by a reload). */
export class ShmRegions {
  private readonly sources: (() => ShmUse[])[] = [];

  add(source: () => ShmUse[]): void {
    this.sources.push(source);
  }

  list(): ShmUse[] {
    return this.sources.flatMap((s) => s());
  }
}
