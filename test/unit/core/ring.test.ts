import { describe, expect, it } from 'vitest';
import { createRingBuffer, Ring, RING_DROPS, ringUsedBytes, type RingRecord } from '../../../src/core/runtime/ring.js';
import { callIdHash, scanCallIdHash } from '../../../src/core/runtime/callid.js';

const rec = (): RingRecord => ({ payload: Buffer.alloc(0), address: '', port: 0, socketIndex: 0 });

describe('Ring', () => {
  it('passes records in order with address, port and socket', () => {
    const r = new Ring(createRingBuffer(4096));
    expect(r.push(Buffer.from('one'), '127.0.0.1', 5060, 0)).toBe(true);
    expect(r.push(Buffer.from('two'), '2001:db8::1', 5070, 3)).toBe(true);
    const out = rec();
    expect(r.peek(out)).toBe(true);
    expect([out.payload.toString(), out.address, out.port, out.socketIndex]).toEqual(['one', '127.0.0.1', 5060, 0]);
    r.release();
    expect(r.peek(out)).toBe(true);
    expect([out.payload.toString(), out.address, out.port, out.socketIndex]).toEqual(['two', '2001:db8::1', 5070, 3]);
    r.release();
    expect(r.peek(out)).toBe(false);
  });

  it('says how many bytes it holds (core.shmmem), across the wrap', () => {
    const sab = createRingBuffer(1024);
    const control = sab.byteLength - 1024;
    const r = new Ring(sab);
    const out = rec();
    expect(ringUsedBytes(sab)).toBe(control);
    expect(r.push(Buffer.alloc(300), '127.0.0.1', 5060, 0)).toBe(true); // 56-byte header + 300, 4-aligned
    expect(ringUsedBytes(sab)).toBe(control + 356);
    expect(r.push(Buffer.alloc(300), '127.0.0.1', 5060, 0)).toBe(true);
    r.peek(out); r.release();
    expect(ringUsedBytes(sab)).toBe(control + 356);
    // 56 + 280 = 336 bytes do not fit in the 312 left at the end: the record wraps to offset 0,
    // and the end stays unusable until the consumer passes it
    expect(r.push(Buffer.alloc(280), '127.0.0.1', 5060, 0)).toBe(true);
    expect(ringUsedBytes(sab)).toBe(control + 356 + 312 + 336);
    r.peek(out); r.release();
    expect(ringUsedBytes(sab)).toBe(control + 312 + 336);
    r.peek(out); r.release();
    expect(ringUsedBytes(sab)).toBe(control);
  });

  it('wraps around many times without losing or corrupting a record', () => {
    const r = new Ring(createRingBuffer(1024));
    const out = rec();
    let next = 0;
    for (let i = 0; i < 5000; i++) {
      const body = `msg-${i}-${'x'.repeat(i % 97)}`;
      expect(r.push(Buffer.from(body), '10.0.0.1', i % 65536, i % 4)).toBe(true);
      if (i % 3 === 2) {
        // drain in bursts so head and tail cross the end at varying offsets
        while (r.peek(out)) {
          expect(out.payload.toString()).toBe(`msg-${next}-${'x'.repeat(next % 97)}`);
          expect(out.port).toBe(next % 65536);
          r.release();
          next++;
        }
      }
    }
    while (r.peek(out)) { r.release(); next++; }
    expect(next).toBe(5000);
  });

  it('refuses and counts records when full, then accepts again after draining', () => {
    const r = new Ring(createRingBuffer(512));
    let accepted = 0;
    for (let i = 0; i < 50; i++) if (r.push(Buffer.alloc(60, 65), '1.2.3.4', 1, 0)) accepted++;
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(50);
    expect(r.ctl[RING_DROPS]).toBe(50 - accepted);
    expect(r.pending()).toBe(accepted);
    const out = rec();
    while (r.peek(out)) r.release();
    expect(r.push(Buffer.alloc(60), '1.2.3.4', 1, 0)).toBe(true);
  });
});

describe('callIdHash', () => {
  const msg = (callHdr: string): Buffer => Buffer.from(`INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n${callHdr}\r\nCSeq: 1 INVITE\r\n\r\n`);
  it('hashes the Call-ID value whatever the header form', () => {
    const h = callIdHash(msg('Call-ID: abc@host'), 200);
    expect(h).toBeGreaterThanOrEqual(0);
    const b1 = msg('Call-ID: abc@host');
    const b2 = msg('i:abc@host');
    const b3 = msg('CALL-ID  :   abc@host');
    expect(callIdHash(b1, b1.length)).toBe(callIdHash(b2, b2.length));
    expect(callIdHash(b1, b1.length)).toBe(callIdHash(b3, b3.length));
    const other = msg('Call-ID: abd@host');
    expect(callIdHash(other, other.length)).not.toBe(callIdHash(b1, b1.length));
  });
  it('returns -1 without a Call-ID', () => {
    const b = msg('X-Call-ID: nope');
    expect(callIdHash(b, b.length)).toBe(-1);
  });
  it('takes the fast search and the byte scan to the same answer, and ignores a Call-ID in the body', () => {
    const b = msg('Call-ID: abc@host');
    expect(callIdHash(b, b.length)).toBe(scanCallIdHash(b, b.length));
    const inBody = Buffer.from('OPTIONS sip:a@b SIP/2.0\r\ni: real@host\r\nContent-Length: 18\r\n\r\nx\nCall-ID: fake\r\n');
    expect(callIdHash(inBody, inBody.length)).toBe(callIdHash(msg('Call-ID: real@host'), 200));
  });
});
