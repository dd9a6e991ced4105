// A sequence lock over one Int32 slot of shared memory, for records of several fields that
// threads read far more often than they write. The sequence is even while the record is stable
// and odd while a writer changes it. A writer takes the lock by moving the sequence from even to
// odd (a compare-and-swap, so writers exclude one another) and releases it by moving it to the
// next even value. A reader notes the (even) sequence, reads the fields with plain loads, and
// keeps what it read only if the sequence has not moved meanwhile; otherwise it reads again.
// Readers never write, so they never slow a writer down.
//
//   seqWriteLock(a, i); ...write the fields...; seqWriteUnlock(a, i);
//   let s; do { s = seqReadBegin(a, i); ...read the fields... } while (seqReadRetry(a, i, s));
//
// What a reader read before seqReadRetry says "stable" may be torn or stale (a writer was
// busy): it must not act on it, index memory with it unchecked, or loop on it unbounded.
//
// Waiting: spin a little (critical sections are short), then sleep in Atomics.wait with a short
// timeout, so that a holder that lost its core gets it back. Writers never call Atomics.notify:
// that would cost every write a lock inside V8's futex emulation, and waiters wake from the
// timeout anyway. Node allows Atomics.wait on its main thread; the waits here are short.

const SPINS = 64;
const WAIT_MS = 0.05;

/** Takes the lock for writing (sequence even -> odd). Not re-entrant. */
export function seqWriteLock(a: Int32Array, i: number): void {
  for (let n = 0; ; n++) {
    const s = Atomics.load(a, i);
    if ((s & 1) === 0 && Atomics.compareExchange(a, i, s, s + 1) === s) return;
    if (n >= SPINS) Atomics.wait(a, i, s | 1, WAIT_MS);
  }
}

/** Takes the lock for writing if it is free at once; false if a writer holds it. */
export function seqTryWriteLock(a: Int32Array, i: number): boolean {
  const s = Atomics.load(a, i);
  return (s & 1) === 0 && Atomics.compareExchange(a, i, s, s + 1) === s;
}

/** Releases the write lock (sequence odd -> next even). */
export function seqWriteUnlock(a: Int32Array, i: number): void {
  Atomics.add(a, i, 1);
}

/** Waits until no writer holds the record; returns the (even) sequence to pass to seqReadRetry. */
export function seqReadBegin(a: Int32Array, i: number): number {
  for (let n = 0; ; n++) {
    const s = Atomics.load(a, i);
    if ((s & 1) === 0) return s;
    if (n >= SPINS) Atomics.wait(a, i, s, WAIT_MS);
  }
}

/** True when a writer changed the record since seqReadBegin returned `seq`: read again. */
export function seqReadRetry(a: Int32Array, i: number, seq: number): boolean {
  return Atomics.load(a, i) !== seq;
}
