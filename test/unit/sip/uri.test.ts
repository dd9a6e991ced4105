import { describe, expect, it } from 'vitest';
import { SipParseError } from '../../../src/core/sip/errors.js';
import {
  URI_HAS_HEADERS, URI_OTHER, URI_SIP, URI_SIPS, URI_TEL, checkUri, formatHostPort, formatParams, formatUri, parseUri,
} from '../../../src/core/sip/uri.js';

describe('parseUri', () => {
  it('parses a full SIP URI', () => {
    const u = parseUri('sip:alice:secret@atlanta.example.com:5061;transport=TCP;LR;maddr=239.255.255.1?subject=project%20x&priority=urgent');
    expect(u).toMatchObject({
      scheme: 'sip', user: 'alice', password: 'secret', host: 'atlanta.example.com', hostIsIPv6: false, port: 5061,
      paramsRaw: ';transport=TCP;LR;maddr=239.255.255.1', headersRaw: '?subject=project%20x&priority=urgent',
    });
    expect({ ...u.params }).toEqual({ transport: 'TCP', lr: '', maddr: '239.255.255.1' });
  });

  it('gives absent parts their empty values', () => {
    const u = parseUri('sip:example.com');
    expect(u).toMatchObject({ user: '', password: undefined, host: 'example.com', port: 0, paramsRaw: '', headersRaw: '' });
    expect(Object.keys(u.params)).toEqual([]);
    expect(u.params.constructor).toBeUndefined(); // params inherit nothing
  });

  it('lower-cases the scheme and keeps the user as written', () => {
    const u = parseUri('SIPS:Bob%20X@Biloxi.Example.COM');
    expect(u.scheme).toBe('sips');
    expect(u.user).toBe('Bob%20X');
    expect(u.host).toBe('Biloxi.Example.COM');
  });

  it('parses IPv6 references, with and without a port', () => {
    expect(parseUri('sip:alice@[2001:db8::1]:5060;lr')).toMatchObject({ host: '2001:db8::1', hostIsIPv6: true, port: 5060, paramsRaw: ';lr' });
    expect(parseUri('sip:[::ffff:192.0.2.1]')).toMatchObject({ host: '::ffff:192.0.2.1', hostIsIPv6: true, port: 0 });
  });

  it('finds the host after the user part even when the user holds ; ? and / (RFC 4475 3.1.1.9)', () => {
    const u = parseUri('sip:user;par=u%40example.net@example.com;p=1');
    expect(u.user).toBe('user;par=u%40example.net');
    expect(u.host).toBe('example.com');
    expect(u.params.p).toBe('1');
  });

  it('parses tel URIs: the number is the user, there is no host', () => {
    const u = parseUri('tel:+1-201-555-0123;phone-context=example.com');
    expect(u).toMatchObject({ scheme: 'tel', user: '+1-201-555-0123', host: '', port: 0, paramsRaw: ';phone-context=example.com' });
    expect(u.params['phone-context']).toBe('example.com');
    expect(parseUri('tel:7042').user).toBe('7042');
  });

  it('keeps the scheme-specific part of other schemes as the user', () => {
    expect(parseUri('http://www.example.com')).toMatchObject({ scheme: 'http', user: '//www.example.com', host: '' });
    expect(parseUri('urn:service:sos').user).toBe('service:sos');
  });

  it.each([
    ['<sip:user@example.com>', 'bad URI scheme'],
    ['sip:', 'empty URI'],
    ['example.com', 'bad URI scheme'],
    ['sip:user@', 'bad URI host'],
    ['sip:@example.com', 'bad URI user'],
    ['sip:example.com:99999', 'bad URI port'],
    ['sip:example.com:', 'bad URI port'],
    ['sip:[2001:db8::1', 'bad URI host'],
    ['sip:example.com;;lr', 'bad URI parameter'],
    ['sip:example.com?', 'bad URI headers'],
    ['sip:a%zz@example.com', 'bad escape in URI user'],
    ['sip:user@example.com; lr', 'whitespace in URI'],
    ['sip:user@exa mple.com', 'whitespace in URI'],
    ['sip:user@example.com>', 'bad URI: unexpected characters after host'],
    ['tel:', 'empty URI'],
    ['tel:12 34', 'whitespace in URI'],
  ])('rejects %s (%s)', (s, reason) => {
    let err: unknown;
    try {
      parseUri(s);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SipParseError);
    expect((err as SipParseError).reason).toBe(reason);
  });
});

describe('parseUri on hostile input', () => {
  it('parses a URI of 20,000 flag parameters, each flag ending where the next ";" starts', () => {
    const u = parseUri(`sip:h${';x'.repeat(20000)};lr;y=1${';z'.repeat(3)}`);
    expect({ ...u.params }).toEqual({ x: '', lr: '', y: '1', z: '' });
    // an "=" after the URI ends (in the text around it) is not a parameter value
    expect(checkUri('<sip:h;lr;x>;tag=1', 1, 11)).toBe(URI_SIP);
    expect(() => checkUri('<sip:h;lr;;>;tag=1', 1, 11)).toThrow(/bad URI parameter/);
  });
});

describe('checkUri', () => {
  /** checkUri's result, or the reason it throws. */
  function outcome(check: () => number): number | string {
    try {
      return check();
    } catch (e) {
      if (e instanceof SipParseError) return e.reason;
      throw e;
    }
  }

  const uris = [
    'sip:alice:secret@atlanta.example.com:5061;transport=TCP;lr?subject=x', 'SIPS:Bob@Biloxi.example.com', 'sip:example.com',
    'sip:alice@[2001:db8::1]:5060;lr', 'tel:+1-201-555-0123;phone-context=example.com', 'http://www.example.com', 'urn:x',
    'sip:user;par=u%40example.net@example.com', 'sip:', 'sip:user@', 'sip:@h', 'sip:h:99999', 'sip:h:', 'sip:[2001:db8::1',
    'sip:h;;lr', 'sip:h?', 'sip:a%zz@h', 'sip:u@h; lr', 'sip:u@exa mple.com', 'sip:u@h>', 'tel:', 'tel:12 34', '<sip:u@h>', '',
    'sip:h', 'sip:h]', 'sip:u@h?x=y',
  ];

  it('gives the scheme, whether there are headers, and the errors of parseUri', () => {
    expect(checkUri('sip:a@h')).toBe(URI_SIP);
    expect(checkUri('SIPS:a@h;lr')).toBe(URI_SIPS);
    expect(checkUri('tel:+1234;x=y?z=1')).toBe(URI_TEL | URI_HAS_HEADERS);
    expect(checkUri('mailto:a@h')).toBe(URI_OTHER);
    expect(checkUri('sip:a@h?subject=x')).toBe(URI_SIP | URI_HAS_HEADERS);
    for (const u of uris) {
      const parsed = outcome(() => (parseUri(u), 0));
      if (typeof parsed === 'string') expect(outcome(() => checkUri(u))).toBe(parsed);
    }
  });

  it('checks a URI inside a longer string as it checks the URI alone', () => {
    // what surrounds the URI holds every character its scanners search for
    for (const u of uris) {
      for (const [before, after] of [['<', '>'], ['@:?]; ', ' ;?@]:x'], ['', '\r\nCall-ID: a@b?c:d]']]) {
        expect(outcome(() => checkUri(before + u + after, before.length, before.length + u.length))).toEqual(outcome(() => checkUri(u)));
      }
    }
  });
});

describe('formatUri', () => {
  it.each([
    'sip:alice:secret@atlanta.example.com:5061;transport=TCP;lr?subject=x',
    'sips:example.com',
    'sip:alice@[2001:db8::1]:5060;lr',
    'sip:[2001:db8::1]',
    'tel:+1-201-555-0123;phone-context=example.com',
    'http://www.example.com',
    'sip:user;par=u%40example.net@example.com',
  ])('is the inverse of parseUri for %s', (s) => {
    expect(formatUri(parseUri(s))).toBe(s);
  });

  it('writes a URI built by hand, bracketing IPv6 hosts', () => {
    const params = { lr: '', transport: 'udp' };
    expect(formatUri({
      scheme: 'sip', user: '', password: undefined, host: '2001:db8::2', hostIsIPv6: true, port: 5070,
      params, paramsRaw: formatParams(params), headersRaw: '',
    })).toBe('sip:[2001:db8::2]:5070;lr;transport=udp');
  });
});

describe('formatHostPort', () => {
  it('brackets IPv6 and leaves out port 0', () => {
    expect(formatHostPort('192.0.2.1', 5060)).toBe('192.0.2.1:5060');
    expect(formatHostPort('example.com', 0)).toBe('example.com');
    expect(formatHostPort('2001:db8::1', 5060)).toBe('[2001:db8::1]:5060');
    expect(formatHostPort('2001:db8::1', 0)).toBe('[2001:db8::1]');
    expect(formatHostPort('[2001:db8::1]', 5060)).toBe('[2001:db8::1]:5060');
  });
});
