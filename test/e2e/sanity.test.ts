// The core checks only what RFC 3261 16.3 asks of a proxy; Kamailio's sanity module checks the
// rest when the script asks. On the wire, against the built server (run `npx tsc` first):
// - a script without sanity_check forwards a request with a malformed Contact or To URI, and one
//   calling KSR.sanity.sanity_check(4071, 15) answers it 400 with Kamailio's reason. The same
//   requests sent to Kamailio 5.6.3 (kamailio.cfg: `if (!sanity_check("4071", "15")) exit;`
//   then forward) were forwarded without the call and answered "400 Bad Contact URI" and
//   "400 Ivalid To Header" with it: 5.6.3's typo, spelt "Invalid To Header" in Kamailio since.
// - requests and replies missing or garbling From, To, Call-ID, CSeq or Via get a 400 when a
//   reply can be addressed, else a counted drop; never a script error or a stack trace.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts, parseMetrics, releasePorts, startViaduct, UdpListener, type Datagram, type ViaductProcess } from './harness.js';

const LOOPBACK = '127.0.0.1';
const QUIET_MS = 400;

describe('sanity checks on demand, and requests missing the headers a reply needs', () => {
  let ports: number[] = [];
  let viaduct: ViaductProcess;
  let client: UdpListener;
  let hop: UdpListener;
  let proxyPort: number;
  let clientPort: number;
  let n = 0;

  beforeAll(async () => {
    ports = await freePorts(3);
    [proxyPort, clientPort] = ports as [number, number, number];
    const hopPort = ports[2]!;
    const script = `
      function ksr_request_route() {
        if (KSR.pv.get("$rU") === "checked" && KSR.sanity.sanity_check(4071, 15) < 0) { KSR.x.exit(); }
        KSR.forward_uri("sip:127.0.0.1:${hopPort}");
      }
      function ksr_reply_route() {
        // each reads From or To, which the core does not check on a reply
        if (KSR.is_myself_furi() || KSR.is_myself_turi()) { KSR.x.drop(); }
        if (KSR.siputils.has_totag() > 0) { KSR.x.drop(); }
        if (KSR.pv.get("$fU") === "nobody" || KSR.pv.sets("$tU", "x") > 0) { KSR.x.drop(); }
      }
    `;
    viaduct = await startViaduct({ script, listen: [`udp:${LOOPBACK}:${proxyPort}`], workers: 1 });
    client = await UdpListener.open(LOOPBACK, clientPort);
    hop = await UdpListener.open(LOOPBACK, hopPort);
  });

  afterAll(async () => {
    await client?.close();
    await hop?.close();
    const status = await viaduct?.stop();
    releasePorts(ports);
    expect(status?.code).toBe(0);
  });

  const text = (d: Datagram) => d.data.toString('utf8');
  const callIdOf = (s: string) => /\r\nCall-ID: ([^\r]*)/i.exec(s)?.[1];

  /** A request from the client with header lines replaced, added or (null) removed. */
  function request(user: string, changes: Record<string, string | null>, callId = `sanity-${++n}-${Date.now()}`): { callId: string; wire: string } {
    const h: Record<string, string | null> = {
      Via: `SIP/2.0/UDP 127.0.0.1:${clientPort};branch=z9hG4bK${callId}`,
      From: '<sip:alice@example.com>;tag=f1',
      To: `<sip:${user}@example.com>`,
      'Call-ID': callId,
      CSeq: '1 INVITE',
      'Max-Forwards': '70',
      Contact: `<sip:alice@127.0.0.1:${clientPort}>`,
      ...changes,
    };
    const lines = [`INVITE sip:${user}@127.0.0.1:${proxyPort} SIP/2.0`];
    for (const [k, v] of Object.entries(h)) if (v !== null) lines.push(`${k}: ${v}`);
    return { callId, wire: `${lines.join('\r\n')}\r\nContent-Length: 0\r\n\r\n` };
  }

  const send = (wire: string) => new Promise<void>((r) => client.socket.send(Buffer.from(wire), proxyPort, LOOPBACK, () => r()));

  /** What became of a request: the status lines answered and how many copies were forwarded. */
  async function outcome(callId: string): Promise<{ replies: string[]; forwarded: number }> {
    const mine = (d: Datagram) => text(d).includes(`\r\nCall-ID: ${callId}\r\n`);
    await Promise.race([client.waitFor(mine, QUIET_MS * 3), hop.waitFor(mine, QUIET_MS * 3)]);
    await new Promise((r) => setTimeout(r, 50));
    return {
      replies: client.received.filter(mine).map((d) => text(d).slice(0, text(d).indexOf('\r\n'))),
      forwarded: hop.received.filter(mine).length,
    };
  }

  const metrics = async () => parseMetrics(await viaduct.metrics());

  it.each([
    ['a malformed Contact URI', { Contact: '<sip:alice@127.0.0.1:port>' }, 'SIP/2.0 400 Bad Contact URI'],
    ['a malformed To URI', { To: '<sip:bob@example.com:port>' }, 'SIP/2.0 400 Invalid To Header'],
    ['a To URI of another scheme', { To: '<mailto:bob@example.com>' }, 'SIP/2.0 400 Invalid To Header'],
    ['a CSeq of another method', { CSeq: '1 BYE' }, 'SIP/2.0 400 CSeq method does not match request method'],
    ['an Expires that is no number', { Expires: 'abc' }, 'SIP/2.0 400 Expires value is illegal'],
  ])('forwards %s without sanity_check, and sanity_check(4071, 15) answers it', async (_what, changes, status) => {
    const plain = request('plain', changes);
    await send(plain.wire);
    expect(await outcome(plain.callId)).toEqual({ replies: [], forwarded: 1 });
    const checked = request('checked', changes);
    await send(checked.wire);
    expect(await outcome(checked.callId)).toEqual({ replies: [status], forwarded: 0 });
  });

  it('forwards a well-formed request that sanity_check(4071, 15) passes', async () => {
    const r = request('checked', {});
    await send(r.wire);
    expect(await outcome(r.callId)).toEqual({ replies: [], forwarded: 1 });
  });

  const NEEDED = ['From', 'To', 'Call-ID', 'CSeq', 'Via'];
  /** Every non-empty subset of the headers a reply echoes. */
  const subsets = Array.from({ length: (1 << NEEDED.length) - 1 }, (_, i) => NEEDED.filter((_, b) => ((i + 1) >> b) & 1));

  it('drops and counts requests without From, To, Call-ID, CSeq or Via (each and every combination), with no script error', async () => {
    const before = await metrics();
    const sent: { missing: string[]; callId: string }[] = [];
    for (const missing of subsets) {
      const id = `missing-${++n}-${Date.now()}`;
      const changes = Object.fromEntries(missing.map((h) => [h, null]));
      // without a Call-ID header the id still travels in the branch and a Subject, to find strays
      const r = request('plain', { ...changes, Subject: id }, id);
      sent.push({ missing, callId: id });
      await send(r.wire);
    }
    await new Promise((r) => setTimeout(r, QUIET_MS));
    const answered = client.received.filter((d) => sent.some((s) => text(d).includes(s.callId)));
    const forwarded = hop.received.filter((d) => sent.some((s) => text(d).includes(s.callId)));
    expect(answered.map(text), 'nothing to address a reply to').toEqual([]);
    expect(forwarded.map(text)).toEqual([]);
    const after = await metrics();
    const delta = (k: string) => (after.get(`viaduct_core_${k}_total`) ?? 0) - (before.get(`viaduct_core_${k}_total`) ?? 0);
    expect(delta('err_requests')).toBe(subsets.length);
    expect(delta('bad_msg_hdr')).toBe(subsets.length);
    expect((after.get('viaduct_script_errors_total') ?? 0) - (before.get('viaduct_script_errors_total') ?? 0)).toBe(0);
  });

  it.each([
    ['an unterminated From', { From: '"Alice <sip:alice@example.com>;tag=f1' }, null],
    ['an unterminated To', { To: '<sip:bob@example.com' }, null],
    ['an empty Call-ID', { 'Call-ID': '' }, null],
    ['a Via without host', { Via: 'SIP/2.0/UDP' }, null],
    ['two To headers', { To: '<sip:bob@example.com>\r\nTo: <sip:carol@example.com>' }, 'SIP/2.0 400 multiple To headers'],
    ['a CSeq without number', { CSeq: 'INVITE' }, 'SIP/2.0 400 bad CSeq header: missing sequence number'],
  ])('answers or drops a request with %s, never a script error', async (_what, changes, status) => {
    const before = await metrics();
    // an empty Call-ID leaves no id on the wire: find it by its branch instead
    const r = request('plain', changes as Record<string, string>);
    await send(r.wire);
    const mine = (d: Datagram) => text(d).includes(`branch=z9hG4bK${r.callId}`);
    await Promise.race([client.waitFor(mine, QUIET_MS), hop.waitFor(mine, QUIET_MS)]);
    expect(hop.received.filter(mine)).toEqual([]);
    const replies = client.received.filter(mine).map((d) => text(d).slice(0, text(d).indexOf('\r\n')));
    const after = await metrics();
    const delta = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
    expect(replies).toEqual(status === null ? [] : [status]);
    expect(delta('viaduct_core_err_requests_total')).toBe(1);
    expect(delta('viaduct_core_bad_msg_hdr_total')).toBe(status === null ? 1 : 0);
    expect(delta('viaduct_script_errors_total')).toBe(0);
  });

  it('runs the reply route on a reply with a broken From and To: the KSR functions that read them return, the reply goes on', async () => {
    const before = await metrics();
    const id = `reply-${++n}-${Date.now()}`;
    const reply = [
      'SIP/2.0 180 Ringing',
      `Via: SIP/2.0/UDP 127.0.0.1:${proxyPort};branch=z9hG4bKvdproxy`,
      `Via: SIP/2.0/UDP 127.0.0.1:${clientPort};branch=z9hG4bK${id}`,
      'From: "Alice <sip:alice@example.com>;tag=f1',
      'To: <sip:bob@example.com',
      `Call-ID: ${id}`,
      'CSeq: 1 INVITE',
      'Content-Length: 0',
      '', '',
    ].join('\r\n');
    await new Promise<void>((r) => hop.socket.send(Buffer.from(reply), proxyPort, LOOPBACK, () => r()));
    const mine = (d: Datagram) => callIdOf(text(d)) === id;
    expect(await client.waitFor(mine, QUIET_MS * 3)).toBe(true);
    const after = await metrics();
    expect((after.get('viaduct_script_errors_total') ?? 0) - (before.get('viaduct_script_errors_total') ?? 0)).toBe(0);
  });

  it('wrote no stack trace and no TypeError to stderr', () => {
    const err = viaduct.stderr();
    expect(err).not.toMatch(/TypeError|\n\s+at /);
  });
});
