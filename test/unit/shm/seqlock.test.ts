import { describe, expect, it } from 'vitest';
import { seqReadBegin, seqReadRetry, seqTryWriteLock, seqWriteLock, seqWriteUnlock } from '../../../src/core/shm/seqlock.js';

describe('sequence lock (one thread; threads.test.ts runs four)', () => {
  it('is odd while written, and tells a reader that overlapped a write to read again', () => {
    const a = new Int32Array(new SharedArrayBuffer(8));
    const s = seqReadBegin(a, 1);
    expect(seqReadRetry(a, 1, s)).toBe(false);
    seqWriteLock(a, 1);
    expect(a[1]! & 1).toBe(1);
    expect(seqTryWriteLock(a, 1)).toBe(false); // writers exclude one another
    seqWriteUnlock(a, 1);
    expect(seqReadRetry(a, 1, s)).toBe(true);
    expect(seqTryWriteLock(a, 1)).toBe(true);
    seqWriteUnlock(a, 1);
    expect(a[1]).toBe(4);
  });

  it('keeps working when the sequence wraps around', () => {
    const a = new Int32Array(new SharedArrayBuffer(4));
    a[0] = 0x7ffffffe;
    seqWriteLock(a, 0);
    seqWriteUnlock(a, 0);
    expect(a[0]).toBe(-0x80000000);
    const s = seqReadBegin(a, 0);
    seqWriteLock(a, 0);
    seqWriteUnlock(a, 0);
    expect(seqReadRetry(a, 0, s)).toBe(true);
  });
});
