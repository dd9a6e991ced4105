// Via and name-addr values: parameters, offsets, and removal ranges that leave a
// well-formed message.
import { describe, expect, it } from 'vitest';
import type { NameAddr, SipMessage, Via } from '../../../src/core/sip/message.js';
import { parseMessage } from '../../../src/core/sip/parser.js';
import { parseUri } from '../../../src/core/sip/uri.js';
import { validateMessage } from '../../../src/core/sip/validate.js';
import { MANDATORY, cut, parse, wire } from './helpers.js';

function vias(...lines: string[]): Via[] {
  return parse(['OPTIONS sip:x@example.com SIP/2.0', ...lines]).vias();
}

function text(msg: SipMessage, start: number, end: number): string {
  return msg.buf.toString('utf8', start, end);
}

describe('Via', () => {
  it('reads sent-protocol, sent-by and the known parameters', () => {
    const [v] = vias('Via: SIP/2.0/udp pc33.example.com:5066;Branch=z9hG4bKabc;received=192.0.2.1;rport=5070;maddr=239.1.1.1;ttl=16;x-Foo=Bar;lr');
    expect(v).toMatchObject({
      protocol: 'SIP/2.0/UDP', transport: 'UDP', host: 'pc33.example.com', port: 5066, branch: 'z9hG4bKabc',
      received: '192.0.2.1', rport: '5070', hasRport: true, maddr: '239.1.1.1', ttl: 16,
    });
    expect({ ...v.params }).toEqual({
      branch: 'z9hG4bKabc', received: '192.0.2.1', rport: '5070', maddr: '239.1.1.1', ttl: '16', 'x-foo': 'Bar', lr: '',
    });
  });

  it('tells rport without a value from no rport', () => {
    const [a, b] = vias('Via: SIP/2.0/UDP h1;rport;branch=z9hG4bK1', 'Via: SIP/2.0/TCP h2;branch=z9hG4bK2');
    expect([a.rport, a.hasRport, a.port]).toEqual(['', true, 0]);
    expect([b.rport, b.hasRport, b.received, b.maddr, b.ttl]).toEqual([undefined, false, undefined, undefined, undefined]);
    expect(b.params.constructor).toBeUndefined();
  });

  it('reads IPv6 sent-by and received', () => {
    const [v] = vias('Via: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1;received=2001:db8::9');
    expect([v.host, v.port, v.received]).toEqual(['2001:db8::1', 5060, '2001:db8::9']);
    expect(vias('Via: SIP/2.0/TLS [::1];branch=z9hG4bK1')[0]).toMatchObject({ host: '::1', port: 0, transport: 'TLS' });
  });

  it('allows LWS around / : ; = and folding (RFC 4475 3.1.1.1)', () => {
    const [v, w] = vias('Via:  SIP  / 2.0  / TCP     spindle.example.com : 5061  ;', '  branch  =   z9hG4bK9ikj8  ,', ' SIP/2.0/WSS host;rport');
    expect([v.protocol, v.transport, v.host, v.port, v.branch]).toEqual(['SIP/2.0/TCP', 'TCP', 'spindle.example.com', 5061, 'z9hG4bK9ikj8']);
    expect(w.protocol).toBe('SIP/2.0/WSS');
  });

  it('keeps quoted parameter values as written, and takes unquoted ones liberally up to ; , or LWS', () => {
    expect(vias('Via: SIP/2.0/UDP h;x="a;b, c"')[0].params.x).toBe('"a;b, c"');
    const [v, w] = vias('Via: SIP/2.0/UDP h;x=a/b@c;k=YWJj==,SIP/2.0/UDP h2');
    expect({ ...v.params }).toEqual({ x: 'a/b@c', k: 'YWJj==' });
    expect(w.host).toBe('h2');
  });

  it.each([
    ['Via: SIP/2.0/UDP 192.0.2.15;;,;,,', 'bad Via header: empty parameter'],
    ['Via: SIP/2.0 192.0.2.1', 'bad Via header: bad sent-protocol'],
    ['Via: SIP/2.0/UDP', 'bad Via header: missing sent-by'],
    ['Via: SIP/2.0/UDP h:70000', 'bad Via header: bad port'],
    ['Via: SIP/2.0/UDP h:0', 'bad Via header: bad port'],
    ['Via: SIP/2.0/UDP [2001:db8::1', 'bad Via header: bad IPv6 reference'],
    ['Via: SIP/2.0/UDP h;ttl=256', 'bad Via header: bad ttl'],
    ['Via: SIP/2.0/UDP h;branch=', 'bad Via header: empty value for parameter branch'],
    ['Via: SIP/2.0/UDP h, ', 'bad Via header: empty value after comma'],
    ['Via: SIP/2.0/UDP h junk', 'bad Via header: unexpected characters after a value'],
    ['Via:', 'bad Via header: empty value'],
  ])('rejects %j', (line, reason) => {
    expect(() => vias(line)).toThrow(reason);
  });

  it('gives each value its bytes and the header line it came from', () => {
    const msg = parse(['OPTIONS sip:x SIP/2.0', 'Via: SIP/2.0/UDP a;branch=z9hG4bK1 , SIP/2.0/UDP b', 'v: SIP/2.0/UDP c']);
    const [a, b, c] = msg.vias();
    expect(text(msg, a.start, a.end)).toBe('SIP/2.0/UDP a;branch=z9hG4bK1');
    expect(text(msg, b.start, b.end)).toBe('SIP/2.0/UDP b');
    expect(a.header).toBe(msg.headers[0]);
    expect(c.header).toBe(msg.headers[1]);
    expect(msg.topVia()).toBe(a);
  });
});

describe('name-addr values', () => {
  function from(value: string): NameAddr {
    return parse(['OPTIONS sip:x SIP/2.0', `From: ${value}`]).from();
  }

  it('reads display name, URI, header params and tag', () => {
    const f = from('"Alice \\"Al\\" Smith" <sip:alice@atlanta.example.com;transport=tcp> ;Tag=a73kszlfl;X=Y');
    expect(f.displayName).toBe('Alice "Al" Smith');
    expect(f.uri).toBe('sip:alice@atlanta.example.com;transport=tcp');
    expect(f.tag).toBe('a73kszlfl');
    expect({ ...f.params }).toEqual({ tag: 'a73kszlfl', x: 'Y' });
  });

  it('unescapes quoted-pairs and keeps UTF-8', () => {
    expect(from('"a\\\\b \\x" <sip:a@h>').displayName).toBe('a\\b x');
    expect(from('"Zoë 日本" <sip:a@h>').displayName).toBe('Zoë 日本');
    expect(from('"" <sip:a@h>').displayName).toBe('');
  });

  it('reads token display names and addr-specs', () => {
    expect(from('Bob Smith <sip:bob@h>')).toMatchObject({ displayName: 'Bob Smith', uri: 'sip:bob@h' });
    expect(from('<sip:bob@h>').displayName).toBeUndefined();
    const f = from('sip:bob@h;tag=88;other');
    expect(f).toMatchObject({ displayName: undefined, uri: 'sip:bob@h', tag: '88' });
    expect({ ...f.params }).toEqual({ tag: '88', other: '' });
  });

  it('gives byte offsets of the URI that account for multi-byte display names', () => {
    const msg = parse(['OPTIONS sip:x SIP/2.0', 'From: "Zoë" <sip:zoe@h>;tag=1']);
    const f = msg.from();
    expect(msg.buf.toString('latin1', f.uriStart, f.uriEnd)).toBe('sip:zoe@h');
    expect(text(msg, f.start, f.end)).toBe('"Zoë" <sip:zoe@h>;tag=1');
    expect(f.tag).toBe('1');
  });

  it.each([
    ['"Mr. J. User <sip:j.user@example.com>', 'bad From header: unterminated quoted string'],
    ['"Bob" sip:bob@h', 'bad From header: expected < after the display name'],
    ['<sip:bob@h', 'bad From header: missing >'],
    ['<>', 'bad From header: empty URI'],
    ['sip:bob@h?x=y', 'bad From header: a URI with headers must be enclosed in <>'],
    ['<sip:a@h>, <sip:b@h>', 'bad From header: more than one value'],
    ['<sip:a@h>;;tag=1', 'bad From header: empty parameter'],
    ['<sip:a@h>;tag="x', 'bad From header: unterminated quoted string'],
    ['Bob, <sip:a@h>', 'bad From header: more than one value'],
  ])('rejects From %j', (value, reason) => {
    expect(() => from(value)).toThrow(reason);
  });

  it('reads Contact: * and rejects * among other values', () => {
    const msg = parse(['REGISTER sip:x SIP/2.0', 'Contact: *', 'Expires: 0']);
    expect(msg.contacts()).toHaveLength(1);
    expect(msg.contacts()[0]).toMatchObject({ star: true, uri: '*' });
    expect(() => parse(['REGISTER sip:x SIP/2.0', 'Contact: *, <sip:a@h>']).contacts()).toThrow('bad Contact header: * must be the only value');
    expect(parse(['REGISTER sip:x SIP/2.0', 'Contact: <sip:a@h>']).contacts()[0].star).toBeUndefined();
  });

  it('splits comma-separated values, commas inside <> and quotes included', () => {
    const msg = parse([
      'OPTIONS sip:x SIP/2.0',
      'Contact: "Last, First" <sip:a@h;x=1,2>;q=0.7, sip:b@h;expires=60 ,<sip:c@h>',
      'm: <sip:d@h>',
    ]);
    const cs = msg.contacts();
    expect(cs.map((c) => c.uri)).toEqual(['sip:a@h;x=1,2', 'sip:b@h', 'sip:c@h', 'sip:d@h']);
    expect(cs[0].displayName).toBe('Last, First');
    expect(cs[0].params.q).toBe('0.7');
    expect(cs[1].params.expires).toBe('60');
  });
});

describe('parameters and display names built on first access', () => {
  /** A message with these From and top Via values; '~' in the Via stands for the invalid UTF-8 byte 0xFF. */
  function message(from: string, via: string): Buffer {
    const buf = wire([
      'OPTIONS sip:x@example.com SIP/2.0', `Via: ${via}`, 'Via: SIP/2.0/TCP h2;received=192.0.2.9;x', `From: ${from}`,
      'To: <sip:b@h>', 'Contact: "A, B" <sip:a@h>;q=0.5;+sip.instance="<urn:uuid:1>", sip:c@h;expires=60',
    ]);
    const at = buf.indexOf('~');
    if (at >= 0) buf[at] = 0xff;
    return buf;
  }

  it.each([
    ['ASCII', 'Alice <sip:a@h>;tag=1;X=Y', 'SIP/2.0/UDP h1;branch=z9hG4bK1;rport;ttl=1',
      ['Alice', { tag: '1', x: 'Y' }], { branch: 'z9hG4bK1', rport: '', ttl: '1' }],
    ['UTF-8, decoded piece by piece', '"Zoë \\"Z\\"" <sip:a@h>;tag=日本;lr', 'SIP/2.0/UDP h1;branch=z9hG4bK1;x=é',
      ['Zoë "Z"', { tag: '日本', lr: '' }], { branch: 'z9hG4bK1', x: 'é' }],
    ['an invalid UTF-8 byte', 'Alice <sip:a@h>;tag=1', 'SIP/2.0/UDP h1;branch=z9hG4bK1;x=a~b',
      ['Alice', { tag: '1' }], { branch: 'z9hG4bK1', x: 'a\ufffdb' }],
  ])('are what the message held, also once its buffer is reused (%s)', (_, fromValue, viaValue, from, via) => {
    const buf = message(fromValue, viaValue);
    const msg = parseMessage(buf);
    const [top, second] = msg.vias();
    const f = msg.from();
    const contacts = msg.contacts();
    buf.fill(0x41); // buf may be a view into a ring that the next datagram overwrites
    expect([f.displayName, { ...f.params }]).toEqual(from);
    expect({ ...top.params }).toEqual(via);
    expect({ ...second.params }).toEqual({ received: '192.0.2.9', x: '' });
    expect(contacts.map((c) => [c.displayName, { ...c.params }])).toEqual([
      ['A, B', { q: '0.5', '+sip.instance': '"<urn:uuid:1>"' }], [undefined, { expires: '60' }],
    ]);
  });
});

/**
 * Removes each value of `list` in turn and checks that the rest of the message is intact:
 * the removed value is gone, the others are unchanged and in order, and it still validates.
 */
function checkRemovals<T extends { start: number; end: number; removeStart: number; removeEnd: number }>(
  buf: Buffer, list: (m: SipMessage) => T[], key: (v: T) => string,
): void {
  const msg = parseMessage(buf);
  expect(validateMessage(msg)).toBeNull();
  const all = list(msg).map(key);
  list(msg).forEach((v, i) => {
    const rest = parseMessage(cut(buf, v.removeStart, v.removeEnd));
    expect(list(rest).map(key)).toEqual(all.filter((_, j) => j !== i));
    if (list(rest).length > 0 || rest.isRequest) expect(validateMessage(rest)).toBeNull();
    expect(rest.body().equals(msg.body())).toBe(true);
  });
}

describe('removal ranges', () => {
  const body = 'v=0\r\n';

  it('remove one Via value from lines with one, two and three values', () => {
    const buf = wire([
      'SIP/2.0 200 OK',
      'Via: SIP/2.0/UDP a.example.com;branch=z9hG4bKa',
      'Via: SIP/2.0/UDP b.example.com;branch=z9hG4bKb, SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKc',
      'v: SIP/2.0/TCP d;branch=z9hG4bKd ,SIP/2.0/TCP e;branch=z9hG4bKe,',
      '   SIP/2.0/TCP f;branch=z9hG4bKf;rport',
      ...MANDATORY,
      `Content-Length: ${body.length}`,
    ], body);
    checkRemovals(buf, (m) => m.vias(), (v) => `${v.host}:${v.port};${v.branch}`);
    const msg = parseMessage(buf);
    const [a, b, c, d] = msg.vias();
    expect(text(msg, a.removeStart, a.removeEnd)).toBe('Via: SIP/2.0/UDP a.example.com;branch=z9hG4bKa\r\n');
    expect(text(msg, b.removeStart, b.removeEnd)).toBe('SIP/2.0/UDP b.example.com;branch=z9hG4bKb, ');
    expect(text(msg, c.removeStart, c.removeEnd)).toBe(', SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKc');
    expect(text(msg, d.removeStart, d.removeEnd)).toBe('SIP/2.0/TCP d;branch=z9hG4bKd ,');
  });

  it('remove one Contact value', () => {
    const buf = wire([
      'REGISTER sip:registrar.example.com SIP/2.0',
      'Via: SIP/2.0/UDP h;branch=z9hG4bK1',
      'To: <sip:a@example.com>', 'From: <sip:a@example.com>;tag=1', 'Call-ID: r1', 'CSeq: 1 REGISTER',
      'Contact: <sip:a@192.0.2.1>;expires=60, "A" <sip:a@[2001:db8::5]:5062>',
      'Contact: sip:a@192.0.2.3;q=0.1',
      'Content-Length: 0',
    ]);
    checkRemovals(buf, (m) => m.contacts(), (c) => c.uri);
  });

  it('remove one Route or Record-Route value', () => {
    const buf = wire([
      'INVITE sip:bob@example.com SIP/2.0',
      'Via: SIP/2.0/UDP h;branch=z9hG4bK1',
      'Route: <sip:p1.example.com;lr>,<sip:[2001:db8::7];lr>',
      'Route: <sip:p3.example.com;lr>',
      'Record-Route: <sip:rr1.example.com;lr>, <sip:rr2.example.com;lr;ftag=x>',
      ...MANDATORY,
      'Content-Length: 5',
    ], 'hello');
    checkRemovals(buf, (m) => m.routes(), (r) => r.uri);
    checkRemovals(buf, (m) => m.recordRoutes(), (r) => r.uri);
    const msg = parseMessage(buf);
    const [r1, r2, r3] = msg.routes();
    expect(parseUri(r2.uri)).toMatchObject({ host: '2001:db8::7', hostIsIPv6: true });
    expect(msg.buf.toString('latin1', r1.uriStart, r1.uriEnd)).toBe('sip:p1.example.com;lr');
    expect(msg.buf.toString('latin1', r3.removeStart, r3.removeEnd)).toBe('Route: <sip:p3.example.com;lr>\r\n');
  });
});
