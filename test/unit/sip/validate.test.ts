// validateMessage rules beyond the RFC 4475 files, and their order (RFC 3261 16.3). What it no
// longer checks (URIs of From/To/Contact, Expires, CSeq method...) is the sanity module's,
// tested in test/unit/sanity/.
import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../../src/core/sip/parser.js';
import { DROP, canReplyTo, validateMessage } from '../../../src/core/sip/validate.js';
import { invite, INVITE_HEADERS, wire } from './helpers.js';

const HEADERS = INVITE_HEADERS;

/** The default INVITE with header lines replaced (matched by name prefix), added or removed (value null). */
function request(changes: Record<string, string | null> = {}, firstLine = 'INVITE sip:bob@biloxi.example.com SIP/2.0') {
  const lines = HEADERS.filter((l) => !Object.keys(changes).some((name) => l.startsWith(name + ':')));
  for (const [name, value] of Object.entries(changes)) if (value !== null) lines.push(`${name}: ${value}`);
  return validateMessage(parseMessage(wire([firstLine, ...lines, 'Content-Length: 0'])));
}

function reply(status: string, extra: string[] = [], vias = ['Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp', 'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK1']) {
  return validateMessage(parseMessage(wire([
    `SIP/2.0 ${status}`, ...vias,
    'To: <sip:bob@biloxi.example.com>;tag=b', 'From: <sip:alice@atlanta.example.com>;tag=a', 'Call-ID: c1', 'CSeq: 1 INVITE',
    ...extra, 'Content-Length: 0',
  ])));
}

describe('validateMessage: requests', () => {
  it('accepts well-formed requests with sip, sips and tel Request-URIs', () => {
    expect(validateMessage(parseMessage(invite()))).toBeNull();
    expect(request({}, 'INVITE sips:bob@biloxi.example.com SIP/2.0')).toBeNull();
    expect(request({}, 'INVITE tel:+15551234567;phone-context=example.com SIP/2.0')).toBeNull();
    expect(request({}, 'INVITE sip:[2001:db8::1]:5060;transport=udp SIP/2.0')).toBeNull();
  });

  it('accepts what a proxy forwards untouched: no Max-Forwards, Contact *, a GMT Date, Route, unknown headers', () => {
    expect(request({ 'Max-Forwards': null })).toBeNull();
    expect(request({ Contact: '*', Expires: '0', CSeq: '2 REGISTER' }, 'REGISTER sip:example.com SIP/2.0')).toBeNull();
    expect(request({ Date: 'Sat, 13 Nov 2010 23:29:00 GMT' })).toBeNull();
    expect(request({ Route: '<sip:p1.example.com;lr>, <sip:[2001:db8::2];lr>' })).toBeNull();
  });

  it.each([
    [{ Via: null }, 'missing Via header'],
    [{ CSeq: null }, 'missing CSeq header'],
    [{ 'Call-ID': '  ' }, 'bad Call-ID header: empty value'],
    [{ 'Max-Forwards': '256' }, 'Max-Forwards out of range'],
    [{ 'Max-Forwards': 'ten' }, 'bad Max-Forwards header'],
    [{ CSeq: '2147483648 INVITE' }, 'bad CSeq header: sequence number out of range'],
    [{ 'Max-Forwards': '70\r\nMax-Forwards: 69' }, 'multiple Max-Forwards headers'],
    [{ Via: 'SIP/3.0/UDP h;branch=z9hG4bK1' }, 'unsupported protocol in Via'],
    [{ Via: 'SIP/2.0/UDP h:99999' }, 'bad Via header: bad port'],
    [{ From: '<sip:alice@atlanta.example.com' }, 'bad From header: missing >'],
    [{ To: '"Bob <sip:bob@biloxi.example.com>' }, 'bad To header: unterminated quoted string'],
    [{ Route: '<sip:p1;lr' }, 'bad Route header: missing >'],
    [{ Route: '<sip:p1:port;lr>' }, 'bad Route URI: bad URI port'],
  ])('answers 400 to %j: %s', (changes, reason) => {
    expect(request(changes as Record<string, string | null>)).toEqual({ code: 400, reason });
  });

  it('answers 400 to a Request-URI that is not a valid URI or has headers', () => {
    expect(request({}, 'INVITE sip:bob@ SIP/2.0')).toEqual({ code: 400, reason: 'bad Request-URI: bad URI host' });
    expect(request({}, 'INVITE sip:bob@h?Subject=x SIP/2.0')).toEqual({ code: 400, reason: 'Request-URI must not contain headers' });
  });

  it('forwards what a proxy does not read, well-formed or not (RFC 3261 16.3 step 1)', () => {
    expect(request({ Contact: '<sip:a@h:port>' })).toBeNull();
    expect(request({ To: '<sip:bob@biloxi.example.com:port>', From: '<mailto:alice>;tag=1' })).toBeNull();
    expect(request({ 'Call-ID': 'a b' })).toBeNull();
    expect(request({ Expires: '4294967296' })).toBeNull();
    expect(request({ Expires: '-1' })).toBeNull();
    expect(request({ CSeq: '314159 BYE' })).toBeNull();
    expect(request({ CSeq: '1 INVITE' }, 'FOO sip:b@h SIP/2.0')).toBeNull();
    expect(request({ 'Record-Route': '<sip:p1;lr>,' })).toBeNull();
    expect(request({ Date: 'Sat, 13 Nov 2010 23:29:00 UT' })).toBeNull();
    expect(request({ 'Content-Type': 'a/b', 'Content-type': 'c/d' })).toBeNull();
  });

  it('answers in the order of RFC 3261 16.3: version, syntax, scheme (416), Max-Forwards (483), Proxy-Require (420)', () => {
    expect(request({ Via: null }, 'INVITE sip:b@h SIP/3.0')).toEqual({ code: 505, reason: 'Version Not Supported' });
    expect(request({ Route: '<sip:p1' }, 'INVITE urn:x SIP/2.0')).toEqual({ code: 400, reason: 'bad Route header: missing >' });
    expect(request({ 'Max-Forwards': '0' }, 'INVITE urn:x SIP/2.0')).toEqual({ code: 416, reason: 'Unsupported URI Scheme' });
    expect(request({ 'Max-Forwards': '0', 'Proxy-Require': 'x' })).toEqual({ code: 483, reason: 'Too Many Hops' });
    expect(request({ 'Proxy-Require': 'sec-agree, x' })).toEqual({ code: 420, reason: 'Bad Extension', unsupported: ['sec-agree', 'x'] });
  });

  it('tells whether a rejected request can be answered: Via, From, To, Call-ID and CSeq present and readable', () => {
    const of = (changes: Record<string, string | null>) => {
      const lines = HEADERS.filter((l) => !Object.keys(changes).some((name) => l.startsWith(name + ':')));
      for (const [name, value] of Object.entries(changes)) if (value !== null) lines.push(`${name}: ${value}`);
      return canReplyTo(parseMessage(wire(['INVITE sip:bob@biloxi.example.com SIP/2.0', ...lines, 'Content-Length: 0'])));
    };
    expect(of({})).toBe(true);
    expect(of({ Contact: '<sip:a@h:port>', To: '<sip:b@h:port>' })).toBe(true);
    for (const name of ['Via', 'From', 'To', 'Call-ID', 'CSeq']) expect(of({ [name]: null }), name).toBe(false);
    expect(of({ Via: 'SIP/2.0/UDP' })).toBe(false);
    expect(of({ To: '"Bob <sip:b@h>' })).toBe(false);
    expect(of({ 'Call-ID': '' })).toBe(false);
  });
});

describe('validateMessage: replies (failures are drops, code 0)', () => {
  it('accepts a well-formed reply', () => {
    expect(reply('200 OK')).toBeNull();
    expect(reply('699 Whatever')).toBeNull();
  });

  it.each([
    ['099 Early', 'status code out of range'],
    ['700 Late', 'status code out of range'],
  ])('drops status %s', (status, reason) => {
    expect(reply(status)).toEqual({ code: DROP, reason });
  });

  it('drops replies without Via, with a bad CSeq, or with a broadcast next hop', () => {
    expect(reply('200 OK', [], [])).toEqual({ code: DROP, reason: 'missing Via header' });
    expect(reply('200 OK', ['CSeq: 2 INVITE'])).toEqual({ code: DROP, reason: 'multiple CSeq headers' });
    expect(reply('200 OK', [], ['Via: SIP/2.0/UDP proxy;branch=z9hG4bKp', 'Via: SIP/2.0/UDP h;received=255.255.255.255'])).toEqual({
      code: DROP, reason: 'Via sent-by is a broadcast address',
    });
  });

  it('leaves From and To of a reply to whoever reads them (a stateless proxy does not)', () => {
    const msg = parseMessage(wire([
      'SIP/2.0 200 OK', 'Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1',
      'To: <sip:bob@biloxi.example.com', 'From: "unterminated <sip:alice@atlanta.example.com>', 'Call-ID: c1', 'CSeq: 1 INVITE',
      'Content-Length: 0',
    ]));
    expect(validateMessage(msg)).toBeNull();
    expect(() => msg.to()).toThrow('bad To header: missing >');
    expect(() => msg.from()).toThrow('bad From header: unterminated quoted string');
  });

  it('drops a reply of another SIP version', () => {
    const msg = parseMessage(wire(['SIP/3.0 200 OK', 'Via: SIP/2.0/UDP h']));
    expect(validateMessage(msg)).toEqual({ code: DROP, reason: 'unsupported SIP version' });
  });
});
