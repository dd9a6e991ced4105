import { describe, expect, it } from 'vitest';
import { HDR, HDR_CANONICAL_NAMES, headerIdFromBytes, headerIdOf } from '../../../src/core/sip/headers.js';
import { parseMessage } from '../../../src/core/sip/parser.js';
import {
  METHOD_ACK, METHOD_INVITE, METHOD_NAMES, METHOD_OTHER, METHOD_REGISTER, METHOD_SUBSCRIBE, METHOD_UNDEF,
  methodIdFromBytes, methodIdOf,
} from '../../../src/core/sip/methods.js';

function idFromBytes(name: string, pad = '  '): number {
  const buf = Buffer.from(pad + name + ': x');
  return headerIdFromBytes(buf, pad.length, pad.length + name.length);
}

describe('header ids', () => {
  it('maps every canonical name back to its id, in any case, from strings and bytes', () => {
    for (const [id, name] of Object.entries(HDR_CANONICAL_NAMES)) {
      for (const spelling of [name, name.toLowerCase(), name.toUpperCase()]) {
        expect(headerIdOf(spelling)).toBe(Number(id));
        expect(idFromBytes(spelling)).toBe(Number(id));
      }
    }
  });

  it('maps the compact forms (RFC 3261 7.3.3 and registered ones)', () => {
    const compact: Record<string, number> = {
      i: HDR.CALL_ID, m: HDR.CONTACT, e: HDR.CONTENT_ENCODING, l: HDR.CONTENT_LENGTH, c: HDR.CONTENT_TYPE,
      f: HDR.FROM, s: HDR.SUBJECT, k: HDR.SUPPORTED, t: HDR.TO, v: HDR.VIA, o: HDR.EVENT, r: HDR.REFER_TO,
      u: HDR.ALLOW_EVENTS, b: HDR.REFERRED_BY, x: HDR.SESSION_EXPIRES,
    };
    for (const [letter, id] of Object.entries(compact)) {
      expect(headerIdOf(letter)).toBe(id);
      expect(headerIdOf(letter.toUpperCase())).toBe(id);
      expect(idFromBytes(letter)).toBe(id);
      expect(idFromBytes(letter.toUpperCase())).toBe(id);
    }
  });

  it('keeps the ids other code is written against', () => {
    expect(HDR).toMatchObject({
      OTHER: 0, VIA: 1, FROM: 2, TO: 3, CALL_ID: 4, CSEQ: 5, CONTACT: 6, MAX_FORWARDS: 7, ROUTE: 8,
      RECORD_ROUTE: 9, CONTENT_LENGTH: 10, CONTENT_TYPE: 11,
    });
    expect(new Set(Object.values(HDR)).size).toBe(Object.keys(HDR).length);
  });

  it('returns OTHER for unknown names and near misses', () => {
    for (const name of ['X-Foo', 'Vias', 'Vi', 'Call_ID', 'Content Length', 'C%6Fntact', 'q', '1', 'Max-Forwards2', 'Content\rLength']) {
      expect(headerIdOf(name)).toBe(HDR.OTHER);
      expect(idFromBytes(name)).toBe(HDR.OTHER);
    }
    expect(headerIdFromBytes(Buffer.from('x'), 0, 0)).toBe(HDR.OTHER);
  });

  it('are the same when parseMessage finds them from the words it packs while looking for the colon', () => {
    const names = Object.values(HDR_CANONICAL_NAMES).filter((n) => n !== 'Content-Length') // framing: one, with digits
      .flatMap((n) => [n, n.toLowerCase(), n.toUpperCase()]);
    // near misses of every length around the 4-byte word boundaries, and names past 16 bytes
    names.push('X-Foo', 'Vias', 'Vi', 'Call_ID', 'Call.ID', 'Max-Forwards2', 'Max-Forward', 'Content-Lengths', 'Content-Lengt',
      'Proxy-Authorization', 'P-Preferred-Identity', 'Authentication-Info', 'P-Preferred-Identit', 'Via-', 'CSeq2', 'To2');
    const msg = parseMessage(Buffer.from(`OPTIONS sip:x SIP/2.0\r\n${names.map((n) => `${n}: x\r\n`).join('')}Subject\t :x\r\n\r\n`));
    expect(msg.headers.map((h) => h.id)).toEqual([...names.map(headerIdOf), HDR.SUBJECT]);
  });

  it('never match a known name through a control byte that differs from a non-letter only by case folding', () => {
    // 0x0D | 0x20 is '-': "Call\rID" must not be taken for Call-ID (it is not even a token)
    expect(() => parseMessage(Buffer.from('OPTIONS sip:x SIP/2.0\r\nCall\rID: x\r\n\r\n'))).toThrow('bad header line');
    expect(() => parseMessage(Buffer.from('OPTIONS sip:x SIP/2.0\r\nMax\rForwards: 1\r\n\r\n'))).toThrow('bad header line');
  });
});

describe('method ids', () => {
  it('are Kamailio bit values', () => {
    expect([METHOD_UNDEF, METHOD_INVITE, METHOD_ACK, METHOD_REGISTER, METHOD_OTHER]).toEqual([0, 1, 4, 32, 524288]);
  });

  it('map every known name, from strings and bytes', () => {
    for (const [id, name] of Object.entries(METHOD_NAMES)) {
      expect(methodIdOf(name)).toBe(Number(id));
      const buf = Buffer.from(`x${name} sip:a SIP/2.0`);
      expect(methodIdFromBytes(buf, 1, 1 + name.length)).toBe(Number(id));
    }
    expect(methodIdOf('SUBSCRIBE')).toBe(METHOD_SUBSCRIBE);
  });

  it('are case-sensitive, and unknown methods are OTHER', () => {
    expect(methodIdOf('invite')).toBe(METHOD_OTHER);
    expect(methodIdOf('NEWMETHOD')).toBe(METHOD_OTHER);
    expect(methodIdOf('')).toBe(METHOD_UNDEF);
    const buf = Buffer.from('Invite INVITEX');
    expect(methodIdFromBytes(buf, 0, 6)).toBe(METHOD_OTHER);
    expect(methodIdFromBytes(buf, 7, 14)).toBe(METHOD_OTHER);
    expect(methodIdFromBytes(buf, 7, 13)).toBe(METHOD_INVITE);
  });
});
