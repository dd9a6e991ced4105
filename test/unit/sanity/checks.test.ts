// Kamailio's sanity checks (src/modules/sanity/checks.ts): bit by bit with the reply Kamailio
// sends for each (status lines as Kamailio 5.6.3 sent them to the same requests, see the
// e2e test), and the module's KSR functions on a real core: return codes, replies, noreply
// with sanity_reply(), proxy_require.
import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../../src/core/sip/parser.js';
import {
  CHECK, DEFAULT_CHECKS, DEFAULT_URI_CHECKS, URI_CHECK, runChecks, type SanityConfig,
} from '../../../src/modules/sanity/checks.js';
import { setup } from '../core/ksr-harness.js';

const SIZES = { message: 16384, method: 32, ruri: 256, header: 2048, headers: 8192, body: 8192, fromUri: 256, toUri: 256, contactUri: 256, routeUri: 256 };
const CFG: SanityConfig = { proxyRequire: [], sizeChecks: false, sizes: SIZES };

const BASE: Record<string, string> = {
  Via: 'SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bKs1',
  From: '<sip:alice@example.com>;tag=f1',
  To: '<sip:bob@example.com>',
  'Call-ID': 'c1@example.com',
  CSeq: '1 INVITE',
  'Max-Forwards': '70',
  Contact: '<sip:alice@192.0.2.10:5061>',
};

/** An INVITE with header lines replaced, added or (null) removed; `tail` follows the empty line. */
function request(changes: Record<string, string | null> = {}, opts: { ruri?: string; method?: string; tail?: string } = {}): string {
  const h = { ...BASE, ...changes };
  const lines = [`${opts.method ?? 'INVITE'} ${opts.ruri ?? 'sip:bob@example.com'} SIP/2.0`];
  for (const [k, v] of Object.entries(h)) if (v !== null) lines.push(`${k}: ${v}`);
  return `${lines.join('\r\n')}\r\nContent-Length: 0\r\n\r\n${opts.tail ?? ''}`;
}

function check(raw: string, msgChecks: number, uriChecks = DEFAULT_URI_CHECKS, cfg = CFG, ruri?: string) {
  const msg = parseMessage(Buffer.from(raw, 'latin1'));
  return runChecks({ msg, ruri: ruri ?? (msg.isRequest ? msg.ruri : '') }, msgChecks, uriChecks, cfg);
}
const result = (f: ReturnType<typeof check>) => (f === null ? 'pass' : f.code === 0 ? `fail${f.noReply ? ' (no reply possible)' : ''}` : `${f.code} ${f.reason}`);

describe('sanity checks, one bit at a time', () => {
  it('has Kamailio\'s defaults: 3047 = 1|2|4|32|64|128|256|512|2048, uri 7 = R-URI|From|To', () => {
    expect(DEFAULT_CHECKS).toBe(CHECK.RURI_SIP_VERSION | CHECK.RURI_SCHEME | CHECK.REQUIRED_HEADERS | CHECK.CSEQ_METHOD |
      CHECK.CSEQ_VALUE | CHECK.CONTENT_LENGTH | CHECK.EXPIRES_VALUE | CHECK.PROXY_REQUIRE | CHECK.DIGEST);
    expect(DEFAULT_URI_CHECKS).toBe(URI_CHECK.RURI | URI_CHECK.FROM | URI_CHECK.TO);
    // every check passes a well-formed request
    expect(result(check(request(), (1 << 17) - 1, 15))).toBe('pass');
  });

  it.each([
    ['R-URI SIP version', CHECK.RURI_SIP_VERSION, request().replace('SIP/2.0\r\n', 'SIP/2.1\r\n'), '505 Version Not Supported (R-URI)'],
    ['R-URI scheme', CHECK.RURI_SCHEME, request({}, { ruri: 'foo:bob' }), '400 Bad Request URI'],
    ['required headers: no Call-ID', CHECK.REQUIRED_HEADERS, request({ 'Call-ID': null }), 'fail (no reply possible)'],
    ['required headers: two CSeq', CHECK.REQUIRED_HEADERS, request({ 'CSeq': '1 INVITE\r\nCSeq: 2 INVITE' }), 'fail'],
    ['CSeq method', CHECK.CSEQ_METHOD, request({ CSeq: '1 BYE' }), '400 CSeq method does not match request method'],
    ['CSeq method case', CHECK.CSEQ_METHOD, request({ CSeq: '1 invite' }), '400 CSeq method does not match request method'],
    ['CSeq value', CHECK.CSEQ_VALUE, request({ CSeq: '2147483648 INVITE' }), '400 CSeq number is illegal'],
    ['Content-Length', CHECK.CONTENT_LENGTH, request({}, { tail: 'xyz' }), '400 Content-Length mis-match'],
    ['Expires not a number', CHECK.EXPIRES_VALUE, request({ Expires: 'abc' }), '400 Expires value is illegal'],
    ['Expires empty', CHECK.EXPIRES_VALUE, request({ Expires: '' }), '400 Bad Expires Header'],
    ['Expires over 2**32', CHECK.EXPIRES_VALUE, request({ Expires: '4294967297' }), '400 Expires value is illegal'],
    ['Proxy-Require', CHECK.PROXY_REQUIRE, request({ 'Proxy-Require': 'foo, bar' }), '420 Bad Proxy Require Extension'],
    ['R-URI parse', CHECK.PARSE_URIS, request({}, { ruri: 'sip:bob@' }), '400 Bad Request URI'],
    ['From URI', CHECK.PARSE_URIS, request({ From: '<sip:alice@example.com:port>;tag=f1' }), '400 Invalid From Header'],
    ['To URI', CHECK.PARSE_URIS, request({ To: '<sip:bob@example.com:port>' }), '400 Invalid To Header'],
    ['To of another scheme', CHECK.PARSE_URIS, request({ To: '<mailto:bob@example.com>' }), '400 Invalid To Header'],
    ['no From', CHECK.PARSE_URIS, request({ From: null }), 'fail (no reply possible)'],
    ['digest without nonce', CHECK.DIGEST, request({ Authorization: 'Digest username="a", realm="r"' }), '400 Bad Auth Credentials'],
    ['digest, empty user', CHECK.DIGEST, request({ Authorization: 'Digest username="", realm="r", nonce="n", uri="sip:x", response="r"' }), '400 Auth Empty User'],
    ['digest, empty nonce', CHECK.DIGEST, request({ 'Proxy-Authorization': 'Digest username="a", realm="r", nonce="", uri="sip:x", response="r"' }), '400 Auth Empty Nonce'],
    ['digest, qop without nc', CHECK.DIGEST, request({ Authorization: 'Digest username="a", realm="r", nonce="n", uri="sip:x", response="r", qop=auth, cnonce="c"' }), '400 Bad Auth Credentials'],
    ['digest, unparsable', CHECK.DIGEST, request({ Authorization: 'Digest username="a' }), '400 Bad Auth Header'],
    ['digest, Basic scheme', CHECK.DIGEST, request({ Authorization: 'Basic abc' }), 'fail'],
    ['duplicate From tag', CHECK.DUPTAGS, request({ From: '<sip:alice@example.com>;tag=a;tag=b' }), '400 Many From Tag Params'],
    ['duplicate To tag', CHECK.DUPTAGS, request({ To: '<sip:bob@example.com>;tag=a;x="y;tag=z";TAG=b' }), '400 Many To Tag Params'],
    ['first Via without branch', CHECK.VIA1_HEADER, request({ Via: 'SIP/2.0/UDP 192.0.2.10' }), 'fail (no reply possible)'],
    ['RFC 3261: no magic cookie', CHECK.RFC3261_COMPLIANCE, request({ Via: 'SIP/2.0/UDP 192.0.2.10;branch=1' }), 'fail'],
    ['RFC 3261: Route without lr', CHECK.RFC3261_COMPLIANCE, request({ Route: '<sip:p1.example.com;lr>, <sip:p2.example.com>' }), 'fail'],
    ['sizes: long R-URI', CHECK.SIZES, request({}, { ruri: `sip:${'b'.repeat(300)}@example.com` }), 'fail'],
    ['sizes: long header', CHECK.SIZES, request({ Subject: 'x'.repeat(2100) }), 'fail'],
  ])('%s (bit %i)', (_name, bit, raw, want) => {
    expect(result(check(raw, bit, 15))).toBe(want);
  });

  it.each([
    ['Via SIP version', CHECK.VIA_SIP_VERSION, request({ Via: 'SIP/3.0/UDP h;branch=z9hG4bK1' })],
    ['Via protocol', CHECK.VIA_PROTOCOL, request({ Via: 'SIP/2.0/FOO h;branch=z9hG4bK1' })],
    ['Authorization, other scheme', CHECK.AUTHORIZATION, request({ Authorization: 'Basic abc' })],
    ['Contact * is not a URI', CHECK.PARSE_URIS, request({ Contact: '*' }, { method: 'REGISTER' }).replace('1 INVITE', '1 REGISTER')],
    ['digest, complete', CHECK.DIGEST, request({ Authorization: 'Digest username="a", realm="r", nonce="n", uri="sip:x", response="r", qop=auth, nc=00000001, cnonce="c"' })],
    ['RFC 3261: loose routes', CHECK.RFC3261_COMPLIANCE, request({ Route: '<sip:p1.example.com;lr>', 'Record-Route': '<sip:p0.example.com;lr=on>' })],
    ['sizes: within the limits', CHECK.SIZES, request()],
  ])('%s (bit %i) passes', (_name, bit, raw) => {
    expect(result(check(raw, bit, 15))).toBe('pass');
  });

  it('checks the Contact URI only with uri_checks 8, and only the first contact', () => {
    const bad = request({ Contact: '<sip:alice@127.0.0.1:port>' });
    expect(result(check(bad, CHECK.PARSE_URIS, 7))).toBe('pass');
    expect(result(check(bad, CHECK.PARSE_URIS, 8))).toBe('400 Bad Contact URI');
    expect(result(check(request({ Contact: '<sip:a@h>, <sip:b@h:port>' }), CHECK.PARSE_URIS, 8))).toBe('pass');
    expect(result(check(request({ Contact: '<sip:a@h;lr' }), CHECK.PARSE_URIS, 8))).toBe('400 Bad Contact Header');
  });

  it('the default checks do not parse URIs (1024 is not in 3047): a bad Contact or To passes them', () => {
    expect(result(check(request({ Contact: '<sip:alice@127.0.0.1:port>', To: '<sip:bob@example.com:port>' }), DEFAULT_CHECKS))).toBe('pass');
  });

  it('checks the R-URI the script set, not the received one', () => {
    expect(result(check(request(), CHECK.PARSE_URIS, URI_CHECK.RURI, CFG, 'sip:bob@'))).toBe('400 Bad Request URI');
  });

  it('runs the checks in Kamailio\'s order and reports the first failure', () => {
    const raw = request({ CSeq: '1 BYE', Expires: 'abc', To: '<sip:bob@h:port>' });
    expect(result(check(raw, 4071, 15))).toBe('400 CSeq method does not match request method');
    expect(result(check(raw, 4071 & ~CHECK.CSEQ_METHOD, 15))).toBe('400 Expires value is illegal');
    expect(result(check(raw, CHECK.PARSE_URIS | CHECK.CSEQ_VALUE, 15))).toBe('400 Invalid To Header');
  });

  it('passes the request-only checks for a reply', () => {
    const reply = 'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\n' +
      'Call-ID: c\r\nCSeq: 1 INVITE\r\nProxy-Require: foo\r\nContent-Length: 0\r\n\r\n';
    expect(result(check(reply, CHECK.RURI_SIP_VERSION | CHECK.RURI_SCHEME | CHECK.CSEQ_METHOD | CHECK.PROXY_REQUIRE | CHECK.CSEQ_VALUE))).toBe('pass');
  });
});

describe('KSR.sanity on a running core', () => {
  // the harness writes each \n as CRLF
  const lf = (wire: string) => wire.replace(/\r\n/g, '\n');
  const raw = (changes: Record<string, string | null> = {}) => lf(request(changes));
  const statusLines = (sent: { text: string }[]) => sent.map((s) => s.text.slice(0, s.text.indexOf('\r\n')));

  it('sanity_check: 1 when it passes, -1 with Kamailio\'s reply when a check fails', () => {
    const { KSR, run } = setup();
    let rc = 0;
    const route = () => { rc = KSR.sanity.sanity_check(4071, 15); };
    expect(run(route, raw())).toEqual([]);
    expect(rc).toBe(1);
    expect(statusLines(run(route, raw({ Contact: '<sip:alice@127.0.0.1:port>' })))).toEqual(['SIP/2.0 400 Bad Contact URI']);
    expect(rc).toBe(-1);
    expect(statusLines(run(route, raw({ To: '<sip:bob@example.com:port>' })))).toEqual(['SIP/2.0 400 Invalid To Header']);
    expect(rc).toBe(-1);
    // the reply echoes the request's To, with our tag
    expect(run(route, raw({ To: '<sip:bob@example.com:port>' }))[0]!.text).toMatch(/\r\nTo: <sip:bob@example\.com:port>;tag=vdtest-/);
  });

  it('sanity_check: -1 without a reply for flags out of range', () => {
    const { KSR, run } = setup();
    const codes: number[] = [];
    const route = () => { codes.push(KSR.sanity.sanity_check(0, 7), KSR.sanity.sanity_check(1 << 17, 7), KSR.sanity.sanity_check(1, 16)); };
    expect(run(route, raw({ CSeq: '1 BYE' }))).toEqual([]);
    expect(codes).toEqual([-1, -1, -1]);
  });

  it('sanity_check_defaults: default_checks and uri_checks as set', () => {
    const { KSR, run } = setup(undefined, { sanity: { default_checks: CHECK.PARSE_URIS, uri_checks: 8 } });
    let rc = 0;
    const route = () => { rc = KSR.sanity.sanity_check_defaults(); };
    expect(statusLines(run(route, raw({ Contact: '<sip:a@h:port>' })))).toEqual(['SIP/2.0 400 Bad Contact URI']);
    expect(rc).toBe(-1);
    expect(run(route, raw({ CSeq: '1 BYE' }))).toEqual([]);
    expect(rc).toBe(1);
  });

  it('420 lists the first unsupported tag in Unsupported; proxy_require names the supported ones, for the core too', () => {
    const plain = setup();
    // the core's own RFC 3261 16.3 check answers first, listing every tag
    const core420 = plain.deliver(raw({ 'Proxy-Require': 'foo, bar' }))[0]!.text;
    expect(core420).toMatch(/^SIP\/2\.0 420 Bad Extension\r\n/);
    expect(core420).toContain('\r\nUnsupported: foo, bar\r\n');
    const { KSR, run } = setup(undefined, { sanity: { proxy_require: 'foo, bar' } });
    let rc = 0;
    expect(run(() => { rc = KSR.sanity.sanity_check(512, 7); }, raw({ 'Proxy-Require': 'foo,bar' }))).toEqual([]);
    expect(rc).toBe(1);
    const one = setup(undefined, { sanity: { proxy_require: 'bar' } });
    expect(one.run(() => undefined, raw({ 'Proxy-Require': 'bar' }))).toEqual([]); // the core lets it through
    const sent = one.run(() => { one.KSR.sanity.sanity_check(512, 7); }, raw({ 'Proxy-Require': 'bar' }).replace('Proxy-Require: bar', 'Proxy-Require: bar\r\nX: 1'));
    expect(sent).toEqual([]);
  });

  it('noreply=1: the failure is kept for sanity_reply(), which answers 500 when nothing failed', () => {
    const { KSR, run } = setup(undefined, { sanity: { noreply: 1 } });
    const codes: number[] = [];
    const checkThenReply = () => { codes.push(KSR.sanity.sanity_check(4071, 15)); if (codes.at(-1)! < 0) codes.push(KSR.sanity.sanity_reply()); };
    expect(statusLines(run(checkThenReply, raw({ To: '<mailto:bob@example.com>' })))).toEqual(['SIP/2.0 400 Invalid To Header']);
    expect(codes).toEqual([-1, 1]);
    expect(statusLines(run(() => { KSR.sanity.sanity_reply(); }, raw()))).toEqual(['SIP/2.0 500 Server Sanity Failure']);
    // a failure that leaves nothing to address a reply with is not answered (Kamailio's FL_MSG_NOREPLY)
    expect(run(() => { KSR.sanity.sanity_check(CHECK.VIA1_HEADER, 7); KSR.sanity.sanity_reply(); }, raw({ Via: 'SIP/2.0/UDP 192.0.2.10:5061' }))).toEqual([]);
    // without the check's failure kept for this message, the one of an earlier message is not used
    run(() => { KSR.sanity.sanity_check(CHECK.CSEQ_METHOD, 7); }, raw({ CSeq: '1 BYE' }));
    expect(statusLines(run(() => { KSR.sanity.sanity_reply(); }, raw()))).toEqual(['SIP/2.0 500 Server Sanity Failure']);
  });

  it('noreply=0: sanity_reply() does nothing and returns 1', () => {
    const { KSR, run } = setup();
    let rc = 0;
    expect(run(() => { rc = KSR.sanity.sanity_reply(); }, raw())).toEqual([]);
    expect(rc).toBe(1);
  });

  it('never answers an ACK', () => {
    const { KSR, run } = setup();
    let rc = 0;
    const ack = lf(request({ CSeq: '1 ACK', To: '<sip:bob@example.com:port>;tag=t' }, { method: 'ACK' }));
    expect(run(() => { rc = KSR.sanity.sanity_check(1024, 7); }, ack)).toEqual([]);
    expect(rc).toBe(-1);
  });
});
