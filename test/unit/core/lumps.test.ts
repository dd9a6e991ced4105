import { describe, expect, it } from 'vitest';
import { applyLumps, Lumps } from '../../../src/core/lumps.js';

describe('applyLumps', () => {
  const src = Buffer.from('LINE1\r\nA: 1\r\nB: 2\r\n\r\nbody');
  it('inserts, replaces and removes in offset order, keeping call order at one offset', () => {
    const l = new Lumps();
    l.insert(src.indexOf('\r\n\r\n') + 2, 'Z: 9\r\n');
    l.replace(src.indexOf(': 1') + 2, src.indexOf(': 1') + 3, '42');
    l.remove(src.indexOf('B:'), src.indexOf('B:') + 6);
    l.insert(src.indexOf('\r\n\r\n') + 2, 'Y: 8\r\n');
    const out = applyLumps(src, 0, src.length, l.list, 7, 'Via: x\r\n');
    expect(out.toString()).toBe('LINE1\r\nVia: x\r\nA: 42\r\nZ: 9\r\nY: 8\r\n\r\nbody');
  });
  it('with no lumps copies the message and the prefix', () => {
    expect(applyLumps(src, 0, src.length, [], 7, 'P\r\n').toString()).toBe('LINE1\r\nP\r\nA: 1\r\nB: 2\r\n\r\nbody');
  });
  it('merges overlapping deletions', () => {
    const l = new Lumps();
    l.remove(7, 13); // "A: 1\r\n"
    l.remove(9, 19); // overlaps it and takes "B: 2\r\n" too
    expect(applyLumps(src, 0, src.length, l.list, 0, '').toString()).toBe('LINE1\r\n\r\nbody');
  });
  it('restore: starts again from a saved list; later insertions at one offset follow the saved ones, the saved list is not changed', () => {
    const first = new Lumps();
    const end = src.indexOf('\r\n\r\n') + 2;
    first.insert(end, 'X-Req: 1\r\n');
    first.insert(end, 'X-Req: 2\r\n');
    const saved = first.list.slice();
    const again = new Lumps(); // a fresh context: its own sequence starts at 0
    again.restore(saved);
    again.insert(end, 'X-Fail: 1\r\n');
    expect(applyLumps(src, 0, src.length, again.list, 0, '').toString()).toBe('LINE1\r\nA: 1\r\nB: 2\r\nX-Req: 1\r\nX-Req: 2\r\nX-Fail: 1\r\n\r\nbody');
    expect(saved.length).toBe(2);
    again.restore(saved); // the next failure route: without the first one's edit
    expect(applyLumps(src, 0, src.length, again.list, 0, '').toString()).toBe('LINE1\r\nA: 1\r\nB: 2\r\nX-Req: 1\r\nX-Req: 2\r\n\r\nbody');
  });
});
