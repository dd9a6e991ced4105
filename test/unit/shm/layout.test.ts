import { describe, expect, it } from 'vitest';
import { defineLayout } from '../../../src/core/shm/layout.js';
import { RING_CONTROL } from '../../../src/core/runtime/ring.js';
import { UDP_META, nativeUdp } from '../../../src/core/runtime/udp-native.js';
import { COUNTERS, ROW_CELLS, C } from '../../../src/core/stats/counters.js';

describe('defineLayout', () => {
  it('gives each field its index in an array of its own type, aligned, in order', () => {
    const L = defineLayout({ a: 'i32', b: 'f64', c: ['i32', 3], d: 'u8', e: ['f64', 2], f: ['u8', 5] });
    // a: byte 0 -> i32[0]; b: byte 8 -> f64[1]; c: bytes 16..27 -> i32[4]; d: byte 28; e: bytes 32..47 -> f64[4]; f: byte 48
    expect({ ...L }).toEqual({ a: 0, b: 1, c: 4, d: 28, e: 4, f: 48, BYTES: 56 });
    const buf = new SharedArrayBuffer(L.BYTES);
    new Float64Array(buf)[L.e + 1] = 2.5;
    expect(new DataView(buf).getFloat64(40, true)).toBe(2.5);
  });

  it('rounds the region up to the alignment asked for', () => {
    expect(defineLayout({ x: 'i32' }, { align: 64 }).BYTES).toBe(64);
    expect(defineLayout({ x: ['u8', 65] }, { align: 64 }).BYTES).toBe(128);
  });

  it('refuses bad specs with a message naming the field', () => {
    expect(() => defineLayout({ BYTES: 'i32' })).toThrow(/BYTES/);
    expect(() => defineLayout({ x: ['i32', -1] })).toThrow(/field x: bad count/);
    expect(() => defineLayout({ x: 'i16' as never })).toThrow(/field x: unknown slot type i16/);
    expect(() => defineLayout({ x: 'i32' }, { align: 3 })).toThrow(/power of two/);
  });

  it('keeps the ring, counter and UDP metadata slots where they were', () => {
    expect([RING_CONTROL.head, RING_CONTROL.tail, RING_CONTROL.drops, RING_CONTROL.BYTES]).toEqual([0, 1, 3, 64]);
    // the static counters in order from 0, then 64 cells for the modules' statistics
    const staticCount = COUNTERS.indexOf('viaduct:log_suppressed') + 1;
    expect(ROW_CELLS).toBe(Math.ceil((staticCount + 64) / 8) * 8);
    expect(C.rcv_requests).toBe(0);
    expect(C['viaduct:log_suppressed']).toBe(staticCount - 1);
    expect([UDP_META.length, UDP_META.port, UDP_META.family, UDP_META.address, UDP_META.textLength, UDP_META.text, UDP_META.BYTES])
      .toEqual([0, 1, 2, 3, 7, 32, 96]);
    const { udp } = nativeUdp();
    if (udp) expect([udp.META, udp.META_TEXT]).toEqual([UDP_META.BYTES, UDP_META.text]);
  });
});
