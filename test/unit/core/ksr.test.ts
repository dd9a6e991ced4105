import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../../src/core/sip/parser.js';
import { RFC4475_DIR } from '../../fixtures/paths.js';
import { setup } from './ksr-harness.js';

const invite = (extra = '', ruri = 'sip:bob@example.com', via = 'SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bKabc') => `INVITE ${ruri} SIP/2.0
Via: ${via}
From: "Alice" <sip:alice@example.com>;tag=f1
To: <sip:bob@example.com>
Call-ID: c1@192.0.2.10
CSeq: 1 INVITE
Max-Forwards: 70
${extra}Content-Length: 0

`;

const hdr = (text: string, name: string): string | undefined => new RegExp(`^${name}: (.*)$`, 'mi').exec(text)?.[1];

describe('KSR on the stateless core', () => {
  it('forwards with our Via on top, Max-Forwards decremented, header ops and pv writes applied', () => {
    const { KSR, run } = setup();
    const out = run(() => {
      KSR.hdr.append('X-Proxied: You betcha\r\n');
      KSR.hdr.insert('X-First: 1\r\n');
      KSR.hdr.remove('Subject');
      KSR.pv.sets('$fU', 'rewritten');
      KSR.pv.sets('$fn', 'New Name');
      KSR.pv.sets('$tU', 'carol');
      KSR.pv.sets('$rU', 'dave');
      KSR.forward_uri('sip:127.0.0.1:5070');
    }, invite('Subject: gone\n'));
    expect(out).toHaveLength(1);
    const m = parseMessage(Buffer.from(out[0].text));
    expect([out[0].host, out[0].port]).toEqual(['127.0.0.1', 5070]);
    expect(m.ruri).toBe('sip:dave@example.com');
    expect(m.vias()).toHaveLength(2);
    expect(m.topVia().host).toBe('127.0.0.1');
    expect(m.topVia().branch).toMatch(/^z9hG4bK/);
    expect(m.vias()[1].received).toBeUndefined(); // sent-by equals the source address
    expect(m.maxForwards()).toBe(69);
    expect(m.from().uri).toBe('sip:rewritten@example.com');
    expect(m.from().displayName).toBe('New Name');
    expect(m.from().tag).toBe('f1');
    expect(m.to().uri).toBe('sip:carol@example.com');
    expect(hdr(out[0].text, 'X-Proxied')).toBe('You betcha');
    // insert puts a header before the received ones, append after them
    expect(m.headers.map((h) => m.headerName(h))).toEqual(['Via', 'X-First', 'Via', 'From', 'To', 'Call-ID', 'CSeq', 'Max-Forwards', 'Content-Length', 'X-Proxied']);
    expect(m.getHeaderValue('X-First')).toBe('1');
    expect(m.getHeader('Subject')).toBeUndefined();
  });

  it('reads pseudo-variables', () => {
    const { KSR, run } = setup();
    let got: unknown[] = [];
    run(() => {
      KSR.pv.sets('$var(x)', 'kept');
      got = ['$rm', '$ru', '$rU', '$rd', '$fU', '$fn', '$ft', '$tU', '$tt', '$ci', '$cs', '$si', '$sp', '$Rp', '$pr', '$hdr(Max-Forwards)', '$hdrc(Via)', '$var(x)', '$du']
        .map((n) => KSR.pv.get(n));
    }, invite());
    expect(got).toEqual(['INVITE', 'sip:bob@example.com', 'bob', 'example.com', 'alice', 'Alice', 'f1', 'bob', null, 'c1@192.0.2.10', 1, '192.0.2.10', 5061, 5060, 'udp', '70', 1, 'kept', null]);
  });

  it('adds received and fills rport on the upstream Via (RFC 3581)', () => {
    const { KSR, run } = setup();
    const out = run(() => { KSR.forward_uri('sip:127.0.0.1:5070'); }, invite('', 'sip:bob@example.com', 'SIP/2.0/UDP client.example.com:5061;rport;branch=z9hG4bKx'), '192.0.2.99', 40000);
    const up = parseMessage(Buffer.from(out[0].text)).vias()[1];
    expect(up.received).toBe('192.0.2.99');
    expect(up.rport).toBe('40000');
  });

  it('answers 483 at Max-Forwards 0 and process_maxfwd returns Kamailio codes', () => {
    const { KSR, run } = setup();
    let codes: number[] = [];
    run(() => { codes.push(KSR.maxfwd.process_maxfwd(10)); }, invite().replace('Max-Forwards: 70\n', ''));
    run(() => { codes.push(KSR.maxfwd.process_maxfwd(10)); }, invite());
    expect(codes).toEqual([2, 1]);
    const out = run(() => { KSR.forward_uri('sip:127.0.0.1:5070'); }, invite().replace('Max-Forwards: 70', 'Max-Forwards: 1').replace('CSeq: 1', 'CSeq: 1'));
    expect(parseMessage(Buffer.from(out[0].text)).maxForwards()).toBe(0);
  });

  it('sl_send_reply copies Via/From/To/Call-ID/CSeq, adds a To-tag and append_to_reply headers', () => {
    const { KSR, run, stats } = setup();
    const out = run(() => { KSR.hdr.append_to_reply('X-Why: because\r\n'); KSR.sl.sl_send_reply(404, 'Nope'); }, invite());
    expect(out).toHaveLength(1);
    const r = parseMessage(Buffer.from(out[0].text));
    expect([r.status, r.reason]).toEqual([404, 'Nope']);
    expect(r.topVia().branch).toBe('z9hG4bKabc');
    expect(r.to().tag).toMatch(/^vdtest-/);
    expect(r.callId()).toBe('c1@192.0.2.10');
    expect(r.cseq()).toMatchObject({ num: 1, method: 'INVITE' });
    expect(hdr(out[0].text, 'X-Why')).toBe('because');
    expect([out[0].host, out[0].port]).toEqual(['192.0.2.10', 5061]);
    expect(stats().get('sl:404_replies')).toBe(1);
  });

  it('record_route adds one entry, or two with r2=on when the socket changes; enable_double_rr=0 keeps one', () => {
    const one = setup();
    let out = one.run(() => { one.KSR.rr.record_route(); one.KSR.rr.add_rr_param(';did=7'); one.KSR.forward_uri('sip:127.0.0.1:5070'); }, invite());
    expect(parseMessage(Buffer.from(out[0].text)).recordRoutes().map((r) => r.uri)).toEqual(['sip:127.0.0.1:5060;lr;did=7']);
    out = one.run(() => { one.KSR.rr.record_route(); one.KSR.forward_uri('sip:[::1]:5070'); }, invite());
    expect(parseMessage(Buffer.from(out[0].text)).recordRoutes().map((r) => r.uri)).toEqual(['sip:[::1]:5062;r2=on;lr', 'sip:127.0.0.1:5060;r2=on;lr']);
    expect(out[0].sock).toBe(1);
    const single = setup(undefined, { rr: { enable_double_rr: 0 } });
    out = single.run(() => { single.KSR.rr.record_route(); single.KSR.forward_uri('sip:[::1]:5070'); }, invite());
    expect(parseMessage(Buffer.from(out[0].text)).recordRoutes()).toHaveLength(1);
  });

  it('loose_route: removes our Route and routes to the next loose hop, or by the R-URI', () => {
    const { KSR, run } = setup();
    let rc = 0;
    let out = run(() => { rc = KSR.rr.loose_route(); KSR.forward(); },
      invite('Route: <sip:127.0.0.1:5060;lr;did=7>, <sip:next.example.com:5080;lr>\n').replace('To: <sip:bob@example.com>', 'To: <sip:bob@example.com>;tag=t1'));
    expect(rc).toBe(1);
    expect([out[0].host, out[0].port]).toEqual(['next.example.com', 5080]);
    let m = parseMessage(Buffer.from(out[0].text));
    expect(m.routes().map((r) => r.uri)).toEqual(['sip:next.example.com:5080;lr']);
    out = run(() => { rc = KSR.rr.loose_route(); KSR.forward(); },
      invite('Route: <sip:127.0.0.1:5060;lr>\n', 'sip:bob@192.0.2.30:5099').replace('To: <sip:bob@example.com>', 'To: <sip:bob@example.com>;tag=t1'));
    expect(rc).toBe(1);
    expect([out[0].host, out[0].port]).toEqual(['192.0.2.30', 5099]);
    expect(parseMessage(Buffer.from(out[0].text)).getHeader('Route')).toBeUndefined();
    let checked = 0;
    run(() => { KSR.rr.loose_route(); checked = KSR.rr.check_route_param('did=7'); }, invite('Route: <sip:127.0.0.1:5060;lr;did=7>\n').replace('To: <sip:bob@example.com>', 'To: <sip:bob@example.com>;tag=t1'));
    expect(checked).toBe(1);
  });

  it('loose_route: a strict router before us (our URI in the R-URI) and a strict router after us', () => {
    const { KSR, run } = setup();
    let rc = 0;
    // previous hop was a strict router: R-URI is our RR URI, the last Route is the real target
    let out = run(() => { rc = KSR.rr.loose_route(); KSR.forward(); },
      invite('Route: <sip:bob@192.0.2.30:5099>\n', 'sip:127.0.0.1:5060;lr').replace('To: <sip:bob@example.com>', 'To: <sip:bob@example.com>;tag=t1'));
    expect(rc).toBe(1);
    let m = parseMessage(Buffer.from(out[0].text));
    expect(m.ruri).toBe('sip:bob@192.0.2.30:5099');
    expect([out[0].host, out[0].port]).toEqual(['192.0.2.30', 5099]);
    // next hop is a strict router (no lr): it goes in the R-URI, the R-URI moves to the end
    out = run(() => { rc = KSR.rr.loose_route(); KSR.forward(); },
      invite('Route: <sip:127.0.0.1:5060;lr>, <sip:strict.example.com:5090>\n', 'sip:bob@192.0.2.30').replace('To: <sip:bob@example.com>', 'To: <sip:bob@example.com>;tag=t1'));
    m = parseMessage(Buffer.from(out[0].text));
    expect(m.ruri).toBe('sip:strict.example.com:5090');
    expect(m.routes().map((r) => r.uri)).toEqual(['sip:bob@192.0.2.30']);
    expect([out[0].host, out[0].port]).toEqual(['strict.example.com', 5090]);
    // no Route: -1; only our own Route outside a dialog: -1 and removed
    run(() => { rc = KSR.rr.loose_route(); }, invite());
    expect(rc).toBe(-1);
    out = run(() => { rc = KSR.rr.loose_route(); KSR.forward(); }, invite('Route: <sip:127.0.0.1:5060;lr>\n', 'sip:bob@192.0.2.30'));
    expect(rc).toBe(-1);
    expect(parseMessage(Buffer.from(out[0].text)).getHeader('Route')).toBeUndefined();
  });

  it('loose_route on a Route set of 1,500 lines, and on lines that hold several values', () => {
    const { KSR, run } = setup(undefined, {}, {}, { sip_max_headers: 2000 });
    const hop = (i: number) => `sip:10.0.${i >> 8}.${i & 255}:5060;lr`;
    let routes = 'Route: <sip:127.0.0.1:5060;lr>\n';
    for (let i = 1; i < 1500; i++) routes += `Route: <${hop(i)}>\n`;
    let rc = 0;
    let out = run(() => { rc = KSR.rr.loose_route(); KSR.forward(); }, invite(routes));
    expect(rc).toBe(1);
    expect([out[0].host, out[0].port]).toEqual(['10.0.0.1', 5060]);
    let m = parseMessage(Buffer.from(out[0].text));
    expect(m.routes().map((r) => r.uri)).toEqual(Array.from({ length: 1499 }, (_, i) => hop(i + 1)));
    expect(m.getHeaders('Route')).toHaveLength(1499);
    // both of our double Record-Route entries go: the first line whole, one value of the second
    out = run(() => { rc = KSR.rr.loose_route(); KSR.forward(); }, invite(
      'Route: <sip:127.0.0.1:5060;r2=on;lr>\nRoute: <sip:[::1]:5062;r2=on;lr>, <sip:a.example.com;lr>\nRoute: <sip:b.example.com;lr>, <sip:c.example.com;lr>\n'));
    expect(rc).toBe(1);
    m = parseMessage(Buffer.from(out[0].text));
    expect(m.routes().map((r) => r.uri)).toEqual(['sip:a.example.com;lr', 'sip:b.example.com;lr', 'sip:c.example.com;lr']);
    expect(m.getHeaders('Route').map((h) => m.headerValue(h))).toEqual(['<sip:a.example.com;lr>', '<sip:b.example.com;lr>, <sip:c.example.com;lr>']);
  });

  it('answers 513 a request over a sip_max_* limit, counts it, and drops what cannot be answered', () => {
    const { core, KSR, deliver, stats } = setup(undefined, {}, {}, { sip_max_headers: 16, sip_max_header_size: 300, sip_max_msg_size: 2000 });
    core.routes = { request: () => KSR.forward_uri('sip:127.0.0.1:5070'), named: () => undefined };
    const codeOf = (text: string) => /^SIP\/2\.0 (\d+) (.*)\r\n/.exec(text)?.slice(1);
    const forwarded = (raw: string) => deliver(raw).map((o) => [o.port, o.text.slice(0, 7)]);
    // 7 headers in invite(): 9 more make 16, the limit; 10 more are over it
    const fill = (n: number) => Array.from({ length: n }, (_, i) => `X-${i}: ${i}\n`).join('');
    expect(forwarded(invite(fill(9)))).toEqual([[5070, 'INVITE ']]);
    let out = deliver(invite(fill(10)));
    expect(out).toHaveLength(1);
    expect(codeOf(out[0].text)).toEqual(['513', 'Message Too Large (more than 16 headers)']);
    expect([out[0].host, out[0].port]).toEqual(['192.0.2.10', 5061]);
    expect(parseMessage(Buffer.from(out[0].text)).callId()).toBe('c1@192.0.2.10');
    // a line of 300 bytes passes, of 301 not ("Subject: " and CRLF are 11 of them)
    expect(forwarded(invite(`Subject: ${'s'.repeat(289)}\n`))).toEqual([[5070, 'INVITE ']]);
    out = deliver(invite(`Subject: ${'s'.repeat(290)}\n`));
    expect(codeOf(out[0].text)).toEqual(['513', 'Message Too Large (header line over 300 bytes)']);
    out = deliver(invite(`X-Big: ${'b'.repeat(250)}\n`.repeat(8)));
    expect(codeOf(out[0].text)).toEqual(['513', 'Message Too Large (message over 2000 bytes)']);
    expect(stats().get('viaduct:oversized_msgs')).toBe(3);
    expect(stats().get('core:err_requests')).toBe(3);
    expect(stats().get('core:bad_msg_hdr')).toBe(0);
    // an ACK, a request without the headers a reply copies, a reply: dropped and counted
    expect(deliver(invite(fill(10)).replace('INVITE sip', 'ACK sip').replace('1 INVITE', '1 ACK'))).toEqual([]);
    expect(deliver(invite(fill(11)).replace(/^From: .*\n/m, ''))).toEqual([]);
    expect(stats().get('core:drop_requests')).toBe(2);
    const reply = `SIP/2.0 200 OK\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKvd1\nVia: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bKabc\n` +
      `From: <sip:alice@example.com>;tag=f1\nTo: <sip:bob@example.com>;tag=t1\nCall-ID: c1@192.0.2.10\nCSeq: 1 INVITE\n${fill(12)}Content-Length: 0\n\n`;
    expect(deliver(reply)).toEqual([]);
    expect(stats().get('viaduct:oversized_msgs')).toBe(6);
    expect(stats().get('core:err_replies')).toBe(1);
    expect(stats().get('core:fwd_replies')).toBe(0);
  });

  it('core predicates and flags', () => {
    const { KSR, run } = setup();
    let r: unknown[] = [];
    run(() => {
      KSR.setflag(3);
      r = [KSR.is_INVITE(), KSR.is_BYE(), KSR.is_method('INVITE'), KSR.is_method_in('BI'), KSR.is_method_in('RO'),
        KSR.is_myself('sip:127.0.0.1:5060'), KSR.is_myself('sip:proxy.example.com'), KSR.is_myself('sip:[::1]:5062'), KSR.is_myself('sip:127.0.0.1:5070'),
        KSR.is_myself_ruri(), KSR.isflagset(3), KSR.isflagset(4), KSR.isdsturiset(), KSR.setdsturi('sip:127.0.0.1:5070'), KSR.isdsturiset(),
        KSR.siputils.has_totag(), KSR.siputils.is_request(), KSR.siputils.is_first_hop(), KSR.textops.search('^CSeq: 1 INVITE'), KSR.textops.is_present_hf('max-forwards')];
    }, invite());
    expect(r).toEqual([true, false, true, true, false, true, true, true, false, false, true, false, false, 1, true, -1, 1, 1, 1, 1]);
  });

  it('a route that throws or fails an expect() fails the test; exit, drop and rejected input do not', () => {
    const { KSR, run, deliver, stats } = setup();
    expect(() => run(() => { throw new Error('script bug'); }, invite())).toThrow('script bug');
    expect(() => run(() => { expect(KSR.is_BYE()).toBe(true); }, invite())).toThrow(/expected false to be true/);
    expect(stats().get('viaduct:script_errors')).toBe(2); // still counted, as in a worker
    let after = false;
    expect(run(() => { KSR.sl.sl_send_reply(404, 'Nope'); KSR.x.exit(); after = true; }, invite())).toHaveLength(1);
    expect(run(() => { KSR.x.drop(); }, invite())).toEqual([]);
    expect(after).toBe(false);
    // bad input is rejected before any route (run() says when its route did not run)
    const badFrom = invite().replace('From: "Alice" <sip:alice@example.com>;tag=f1', 'From: <sip:alice@example.com');
    expect(() => run(() => undefined, badFrom)).toThrow(/did not run/);
    expect(deliver('INVITE sip:bob@example.com SIP/2.0\nContent-Length: 5\n\n')).toEqual([]);
    expect(stats().get('viaduct:script_errors')).toBe(2);
    expect(stats().get('core:bad_msg_hdr')).toBeGreaterThan(0);
  });

  it('drops and counts a request without From, To and Call-ID (RFC 4475 3.3.1): a 400 could not be matched by its client', () => {
    const { deliver, stats } = setup();
    const insuf = readFileSync(join(RFC4475_DIR, 'invalid/insuf.dat')).toString('latin1');
    expect(deliver(insuf.replace(/\r\n/g, '\n'))).toEqual([]);
    expect(stats().get('core:err_requests')).toBe(1);
    expect(stats().get('core:bad_msg_hdr')).toBe(1);
    expect(stats().get('viaduct:script_errors')).toBe(0);
  });
});
