// Framing (first line, header boundaries, Content-Length) and the lazy accessors of SipMessage.
import { describe, expect, it } from 'vitest';
import { HDR } from '../../../src/core/sip/headers.js';
import { METHOD_INVITE, METHOD_OTHER } from '../../../src/core/sip/methods.js';
import { SipLimitError, SipParseError, parseMessage } from '../../../src/core/sip/parser.js';
import { MANDATORY, invite, parse, wire } from './helpers.js';

function parseError(buf: Buffer): string {
  try {
    parseMessage(buf);
  } catch (e) {
    if (e instanceof SipParseError) return e.reason;
    throw e;
  }
  throw new Error('parsed');
}

describe('first line', () => {
  it('parses a request line', () => {
    const msg = parseMessage(invite());
    expect(msg.isRequest).toBe(true);
    expect(msg.method).toBe('INVITE');
    expect(msg.methodId).toBe(METHOD_INVITE);
    expect(msg.ruri).toBe('sip:bob@biloxi.example.com');
    expect(msg.buf.toString('latin1', msg.ruriStart, msg.ruriEnd)).toBe('sip:bob@biloxi.example.com');
    expect(msg.version).toBe('SIP/2.0');
    expect(msg.status).toBe(0);
    expect(msg.reason).toBe('');
    expect(msg.firstLineEnd).toBe('INVITE sip:bob@biloxi.example.com SIP/2.0\r\n'.length);
  });

  it('parses a status line, with a reason phrase, an empty one, or none', () => {
    const ok = parse(['SIP/2.0 180 Ringing', ...MANDATORY, 'Via: SIP/2.0/UDP h;branch=z9hG4bK1']);
    expect([ok.isRequest, ok.status, ok.reason, ok.method, ok.methodId]).toEqual([false, 180, 'Ringing', '', 0]);
    expect(parse(['SIP/2.0 404 Not  Found here ', 'Via: SIP/2.0/UDP h']).reason).toBe('Not  Found here ');
    expect(parse(['SIP/2.0 100 ', 'Via: SIP/2.0/UDP h']).reason).toBe('');
    expect(parse(['SIP/2.0 100', 'Via: SIP/2.0/UDP h']).reason).toBe('');
  });

  it('keeps an unknown method and a version other than 2.0 for the validator', () => {
    const msg = parse(['FOO sip:x SIP/3.1', 'Via: SIP/2.0/UDP h']);
    expect([msg.method, msg.methodId, msg.version]).toEqual(['FOO', METHOD_OTHER, 'SIP/3.1']);
  });

  it('ignores CRLFs before the first line (RFC 3261 7.5)', () => {
    const msg = parseMessage(Buffer.concat([Buffer.from('\r\n\r\n'), invite()]));
    expect(msg.method).toBe('INVITE');
    expect(msg.ruriStart).toBe(4 + 'INVITE '.length);
  });

  it.each([
    ['INVITE sip:a@b SIP/2.0 ', 'trailing whitespace in request line'],
    ['INVITE  sip:a@b SIP/2.0', 'multiple SP in request line'],
    ['INVITE sip:a@b; lr SIP/2.0', 'whitespace in Request-URI'],
    ['INVITE sip:a@b', 'bad request line: no SIP version'],
    ['INV@TE sip:a@b SIP/2.0', 'bad request line: bad method'],
    ['INVITE sip:a@b HTTP/1.1', 'bad request line: bad SIP version'],
    ['INVITE sip:a@b SIP/2', 'bad request line: bad SIP version'],
    [' INVITE sip:a@b SIP/2.0', 'leading whitespace in request line'],
    ['SIP/2.0 OK', 'bad status line'],
    ['SIP/2.0 2x0 OK', 'bad status line'],
    ['SIP/2.0', 'bad status line'],
  ])('rejects %j: %s', (line, reason) => {
    expect(parseError(wire([line, 'Via: SIP/2.0/UDP h']))).toBe(reason);
  });

  it('rejects an empty datagram or an unterminated first line', () => {
    expect(parseError(Buffer.from('\r\n\r\n'))).toBe('empty message');
    expect(parseError(Buffer.from('INVITE sip:a@b SIP/2.0'))).toBe('first line not terminated');
  });
});

describe('header lines', () => {
  it('records byte offsets and ids of every header line', () => {
    const buf = invite();
    const msg = parseMessage(buf);
    expect(msg.headers.map((h) => h.id)).toEqual([
      HDR.VIA, HDR.MAX_FORWARDS, HDR.TO, HDR.FROM, HDR.CALL_ID, HDR.CSEQ, HDR.CONTACT, HDR.CONTENT_LENGTH,
    ]);
    const h = msg.headers[4];
    expect(buf.toString('latin1', h.nameStart, h.nameEnd)).toBe('Call-ID');
    expect(buf.toString('latin1', h.valueStart, h.valueEnd)).toBe('a84b4c76e66710@pc33.atlanta.example.com');
    expect(buf.toString('latin1', h.lineStart, h.lineEnd)).toBe('Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n');
    expect(msg.headers[0].lineStart).toBe(msg.firstLineEnd);
    for (let i = 1; i < msg.headers.length; i++) expect(msg.headers[i].lineStart).toBe(msg.headers[i - 1].lineEnd);
    expect(msg.headersEnd).toBe(msg.headers[msg.headers.length - 1].lineEnd);
    expect(buf.toString('latin1', msg.headersEnd, msg.bodyStart)).toBe('\r\n');
  });

  it('recognises compact forms and names in any case', () => {
    const msg = parse([
      'INVITE sip:b@example.com SIP/2.0',
      'v: SIP/2.0/UDP h;branch=z9hG4bK1', 'f: <sip:a@example.com>;tag=x', 't: sip:b@example.com', 'i: abc@h',
      'CSEQ: 1 INVITE', 'm: <sip:a@h>', 'c: application/sdp', 'k: timer', 's: hi', 'e: gzip', 'o: presence',
      'r: <sip:c@h>', 'u: talk', 'b: <sip:d@h>', 'x: 1800', 'l: 0',
    ]);
    expect(msg.headers.map((h) => h.id)).toEqual([
      HDR.VIA, HDR.FROM, HDR.TO, HDR.CALL_ID, HDR.CSEQ, HDR.CONTACT, HDR.CONTENT_TYPE, HDR.SUPPORTED, HDR.SUBJECT,
      HDR.CONTENT_ENCODING, HDR.EVENT, HDR.REFER_TO, HDR.ALLOW_EVENTS, HDR.REFERRED_BY, HDR.SESSION_EXPIRES, HDR.CONTENT_LENGTH,
    ]);
    expect(msg.callId()).toBe('abc@h');
    expect(msg.from().tag).toBe('x');
    expect(msg.to().uri).toBe('sip:b@example.com');
    expect(msg.contacts()[0].uri).toBe('sip:a@h');
    expect(msg.getHeaderValue('Content-Type')).toBe('application/sdp');
    expect(msg.getHeaderValue('content-type')).toBe('application/sdp');
    expect(msg.getHeaderValue('C')).toBe('application/sdp');
    expect(msg.headerName(msg.headers[0])).toBe('v');
  });

  it('finds unknown headers by name, case-insensitively', () => {
    const msg = parse(['OPTIONS sip:x SIP/2.0', 'X-Custom: one', 'x-custom: two', 'X-Other: three', 'x-custom2: four']);
    expect(msg.getHeaderValue('X-CUSTOM')).toBe('one');
    expect(msg.getHeaders('x-Custom').map((h) => msg.headerValue(h))).toEqual(['one', 'two']);
    expect(msg.getHeaders(HDR.OTHER)).toHaveLength(4);
    expect(msg.getHeader('X-Missing')).toBeUndefined();
    expect(msg.getHeaderValue(HDR.VIA)).toBeUndefined();
  });

  it('unfolds folded values and allows whitespace around the colon', () => {
    const msg = parse([
      'OPTIONS sip:x SIP/2.0',
      'Subject  :   first part  ',
      '\t  second part',
      '   third',
      'Accept:',
      ' application/sdp',
      'Organization:',
      'X-Empty:   ',
    ]);
    const [subject, accept, org, empty] = msg.headers;
    expect(msg.headerValue(subject)).toBe('first part second part third');
    expect(msg.buf.toString('latin1', subject.valueStart, subject.valueEnd)).toBe('first part  \r\n\t  second part\r\n   third');
    expect(msg.buf.toString('latin1', subject.lineStart, subject.lineEnd)).toBe('Subject  :   first part  \r\n\t  second part\r\n   third\r\n');
    expect(msg.headerName(subject)).toBe('Subject');
    expect(msg.headerValue(accept)).toBe('application/sdp');
    expect(msg.headerValue(org)).toBe('');
    expect(msg.headerValue(empty)).toBe('');
    expect(org.valueStart).toBe(org.valueEnd);
  });

  it('accepts lines ended by a bare LF', () => {
    const msg = parseMessage(Buffer.from('OPTIONS sip:x SIP/2.0\nCall-ID: a\nl: 2\n\nhi'));
    expect(msg.callId()).toBe('a');
    expect(msg.body().toString()).toBe('hi');
  });

  it.each([
    [['Foobar roobar'], 'bad header line'],
    [[': value'], 'bad header line'],
    [['Bad Name: value'], 'bad header line'],
    [['Via\x01: x'], 'bad header line'],
    [[' Via: leading space'], 'bad header line'],
  ])('rejects %j', (lines, reason) => {
    expect(parseError(wire(['OPTIONS sip:x SIP/2.0', ...lines]))).toBe(reason);
  });

  it('rejects headers that are not ended by an empty line', () => {
    expect(parseError(Buffer.from('OPTIONS sip:x SIP/2.0\r\nCall-ID: a\r\n'))).toBe('missing empty line after headers');
    expect(parseError(Buffer.from('OPTIONS sip:x SIP/2.0\r\nCall-ID: a'))).toBe('missing empty line after headers');
  });
});

describe('Content-Length framing', () => {
  const head = ['MESSAGE sip:x SIP/2.0', ...MANDATORY];

  it('takes the body length from Content-Length and ignores extra datagram bytes (RFC 3261 18.3)', () => {
    const msg = parse([...head, 'Content-Length: 5'], 'hello, and more');
    expect(msg.contentLength()).toBe(5);
    expect(msg.bodyLength).toBe(5);
    expect(msg.body().toString()).toBe('hello');
    expect(msg.body().buffer).toBe(msg.buf.buffer); // a view, not a copy
  });

  it('takes the rest of the datagram when Content-Length is absent', () => {
    const msg = parse(head, 'whole rest');
    expect(msg.contentLength()).toBe(-1);
    expect(msg.body().toString()).toBe('whole rest');
  });

  it('accepts Content-Length 0 with no body and compact l with leading zeros', () => {
    expect(parse([...head, 'Content-Length: 0']).bodyLength).toBe(0);
    expect(parse([...head, 'l: 007'], '1234567').bodyLength).toBe(7);
  });

  it.each([
    [['Content-Length: 6'], 'hello', 'Content-Length larger than the message'],
    [['Content-Length: -1'], '', 'negative Content-Length'],
    [['Content-Length: five'], '', 'bad Content-Length'],
    [['Content-Length:'], '', 'bad Content-Length'],
    [['Content-Length: 1 2'], '12', 'bad Content-Length'],
    [['Content-Length: 0', 'l: 0'], '', 'duplicate Content-Length'],
  ])('rejects %j with body %j: %s', (lines, body, reason) => {
    expect(parseError(wire([...head, ...lines], body))).toBe(reason);
  });
});

describe('lazy accessors', () => {
  it('parse once and cache', () => {
    const msg = parseMessage(invite());
    expect(msg.topVia()).toBe(msg.topVia());
    expect(msg.vias()[0]).toBe(msg.topVia());
    const other = parseMessage(invite());
    expect(other.vias()[0]).toBe(other.topVia()); // vias() first, then topVia()
    expect(msg.from()).toBe(msg.from());
    expect(msg.cseq()).toBe(msg.cseq());
    expect(msg.contacts()).toBe(msg.contacts());
    expect(msg.requestUri()).toBe(msg.requestUri());
  });

  it('read CSeq, Max-Forwards and Call-ID', () => {
    const msg = parse(['ACK sip:x SIP/2.0', 'CSeq:  2147483647 \r\n  ACK', 'Max-Forwards: 0', 'Call-ID:  x@y  ']);
    expect(msg.cseq()).toEqual({ num: 2147483647, method: 'ACK', methodId: 4 });
    expect(msg.maxForwards()).toBe(0);
    expect(msg.callId()).toBe('x@y');
  });

  it('report absent optional headers and throw for absent mandatory ones', () => {
    const msg = parse(['OPTIONS sip:x SIP/2.0']);
    expect(msg.maxForwards()).toBe(-1);
    expect(msg.contentLength()).toBe(-1);
    expect(msg.routes()).toEqual([]);
    expect(msg.contacts()).toEqual([]);
    expect(msg.vias()).toEqual([]);
    expect(() => msg.callId()).toThrow('missing Call-ID header');
    expect(() => msg.cseq()).toThrow('missing CSeq header');
    expect(() => msg.topVia()).toThrow('missing Via header');
    expect(() => msg.from()).toThrow('missing From header');
    expect(() => msg.to()).toThrow(SipParseError);
  });

  it.each([
    ['CSeq: INVITE', 'bad CSeq header: missing sequence number'],
    ['CSeq: 1INVITE', 'bad CSeq header: expected a number and a method'],
    ['CSeq: 1 INVITE x', 'bad CSeq header: expected a number and a method'],
    ['CSeq: 2147483648 INVITE', 'bad CSeq header: sequence number out of range'],
    ['CSeq: 99999999999999999999999 INVITE', 'bad CSeq header: sequence number out of range'],
  ])('throw for %j', (line, reason) => {
    expect(() => parse(['INVITE sip:x SIP/2.0', line]).cseq()).toThrow(reason);
  });

  it('throw for a non-numeric Max-Forwards and an empty Call-ID', () => {
    expect(() => parse(['INVITE sip:x SIP/2.0', 'Max-Forwards: 7a']).maxForwards()).toThrow('bad Max-Forwards header');
    expect(() => parse(['INVITE sip:x SIP/2.0', 'Call-ID:']).callId()).toThrow('bad Call-ID header: empty value');
  });

  it('refuse requestUri() on a reply', () => {
    expect(() => parse(['SIP/2.0 200 OK']).requestUri()).toThrow('not a request');
  });
});

describe('limits (sip_max_headers, sip_max_header_size)', () => {
  const limited = (buf: Buffer, maxHeaders: number, maxHeaderSize: number): string => {
    try {
      return `parsed ${parseMessage(buf, { maxHeaders, maxHeaderSize }).headers.length}`;
    } catch (e) {
      if (e instanceof SipLimitError) return e.reason;
      throw e;
    }
  };
  const withLines = (lines: string) => Buffer.from(`OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n${lines}Content-Length: 0\r\n\r\n`);

  it('counts header lines, a folded one once, and stops at the first over the limit', () => {
    expect(limited(withLines('A: 1\r\nB: 2\r\n'), 4, 1000)).toBe('parsed 4');
    expect(limited(withLines('A: 1\r\nB: 2\r\n'), 3, 1000)).toBe('more than 3 headers');
    expect(limited(withLines('A: 1\r\n 1b\r\n\t1c\r\nB: 2\r\n'), 4, 1000)).toBe('parsed 4');
    // over the limit is found before a later line is looked at: the broken one is never reached
    expect(limited(withLines('A: 1\r\nB: 2\r\nbroken line\r\n'), 3, 1000)).toBe('more than 3 headers');
    expect(new SipLimitError('x')).toBeInstanceOf(SipParseError);
  });

  it('measures a header line from its name to its CRLF, continuation lines included', () => {
    const line = `Subject: ${'x'.repeat(89)}\r\n`; // 100 bytes
    expect(limited(withLines(line), 100, 100)).toBe('parsed 3');
    expect(limited(withLines(line), 100, 99)).toBe('header line over 99 bytes');
    expect(limited(withLines(`Subject: ${'x'.repeat(50)}\r\n ${'y'.repeat(40)}\r\n`), 100, 99)).toBe('header line over 99 bytes');
  });

  it('has none by default: 5,000 headers parse', () => {
    let lines = '';
    for (let i = 0; i < 5000; i++) lines += `X-${i}: ${i}\r\n`;
    expect(parseMessage(withLines(lines)).headers).toHaveLength(5002);
  });
});
