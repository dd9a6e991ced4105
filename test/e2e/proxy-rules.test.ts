// RFC 3261 / 3581 proxy rules on the wire: raw datagrams from a client socket to viaduct, a UDP
// listener as the next hop, and replies crafted from what the next hop received.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts, releasePorts, startViaduct, UdpListener, type Datagram, type ViaductProcess, parseMetrics } from './harness.js';

const LOOPBACK = '127.0.0.1';
const WAIT_MS = 2000; // for something that must arrive
const QUIET_MS = 400; // for something that must not

const rnd = () => randomBytes(6).toString('hex');

interface RequestSpec {
  method: string;
  ruri: string;
  callId: string;
  /** sent-by of our Via, e.g. "127.0.0.1:20000" */
  sentBy: string;
  branch: string;
  viaParams?: string;
  /** extra Via lines below ours (further upstream) */
  moreVias?: string[];
  fromTag: string;
  toTag?: string;
  cseq: number;
  cseqMethod?: string;
  /** null: no Max-Forwards header */
  maxForwards?: number | null;
  extra?: string[];
}

function sipRequest(r: RequestSpec): string {
  const lines = [
    `${r.method} ${r.ruri} SIP/2.0`,
    `Via: SIP/2.0/UDP ${r.sentBy};branch=${r.branch}${r.viaParams ?? ''}`,
    ...(r.moreVias ?? []).map((v) => `Via: ${v}`),
    `From: "Alice" <sip:alice@example.com>;tag=${r.fromTag}`,
    `To: <${r.ruri}>${r.toTag ? `;tag=${r.toTag}` : ''}`,
    `Call-ID: ${r.callId}`,
    `CSeq: ${r.cseq} ${r.cseqMethod ?? r.method}`,
    ...(r.maxForwards === null ? [] : [`Max-Forwards: ${r.maxForwards ?? 70}`]),
    `Contact: <sip:alice@${r.sentBy}>`,
    ...(r.extra ?? []),
    'Content-Length: 0',
    '',
    '',
  ];
  return lines.join('\r\n');
}

const text = (d: Datagram) => d.data.toString('utf8');
const startLine = (msg: string) => msg.slice(0, msg.indexOf('\r\n'));
/** Values of every header line named `name` (case-insensitive), in order. */
const headers = (msg: string, name: string): string[] =>
  msg
    .slice(0, msg.indexOf('\r\n\r\n'))
    .split('\r\n')
    .slice(1)
    .filter((l) => l.slice(0, l.indexOf(':')).trim().toLowerCase() === name.toLowerCase())
    .map((l) => l.slice(l.indexOf(':') + 1).trim());
const header = (msg: string, name: string) => headers(msg, name)[0];
const branchOf = (via: string | undefined) => /;\s*branch=([^;\s,]+)/i.exec(via ?? '')?.[1];

/**
 * A reply to `req` (a request as the next hop received it), as a UAS sends it: every Via, From,
 * To (with a tag), Call-ID and CSeq copied.
 */
function replyTo(req: string, code: number, reason: string, extra: string[] = []): string {
  return [
    `SIP/2.0 ${code} ${reason}`,
    ...headers(req, 'Via').map((v) => `Via: ${v}`),
    `From: ${header(req, 'From')}`,
    `To: ${header(req, 'To')};tag=uas${rnd()}`,
    `Call-ID: ${header(req, 'Call-ID')}`,
    `CSeq: ${header(req, 'CSeq')}`,
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

describe.each([0, 1])('proxy rules on the wire, --workers %i', (workers) => {
  let ports: number[] = [];
  let viaduct: ViaductProcess;
  let client: UdpListener;
  let hop: UdpListener;
  let proxyPort: number;
  let clientPort: number;
  let hopPort: number;

  beforeAll(async () => {
    ports = await freePorts(3);
    [proxyPort, clientPort, hopPort] = ports as [number, number, number];
    const script = `
      function ksr_request_route() {
        var user = KSR.pv.get("$rU");
        if (user === "nope") { KSR.sl.sl_send_reply(404, "Nope"); return; }
        if (user === "loop") { KSR.forward_uri("sip:127.0.0.1:${proxyPort}"); return; }
        KSR.forward_uri("sip:127.0.0.1:${hopPort}");
      }
      function ksr_reply_route() {
        if (KSR.hdr.is_present("X-Drop-Me") > 0) { KSR.x.drop(); }
      }
    `;
    viaduct = await startViaduct({ script, listen: [`udp:${LOOPBACK}:${proxyPort}`], workers });
    client = await UdpListener.open(LOOPBACK, clientPort);
    hop = await UdpListener.open(LOOPBACK, hopPort);
  });

  afterAll(async () => {
    await client?.close();
    await hop?.close();
    let status;
    try {
      status = await viaduct?.stop(); // rejects if its script threw
    } finally {
      releasePorts(ports);
    }
    // The server survived everything above and stopped cleanly.
    expect(status?.code).toBe(0);
  });

  const ruri = (user: string) => `sip:${user}@127.0.0.1:${proxyPort}`;
  const base = (over: Partial<RequestSpec> = {}): RequestSpec => ({
    method: 'INVITE',
    ruri: ruri('bob'),
    callId: `${rnd()}@e2e`,
    sentBy: `127.0.0.1:${clientPort}`,
    branch: `z9hG4bK${rnd()}`,
    fromTag: rnd(),
    cseq: 1,
    ...over,
  });
  const send = (msg: string, from: UdpListener = client) =>
    new Promise<void>((resolve, reject) => from.socket.send(Buffer.from(msg), proxyPort, LOOPBACK, (e) => (e ? reject(e) : resolve())));
  const withCallId = (l: UdpListener, callId: string, first?: string) =>
    l.received.filter((d) => header(text(d), 'Call-ID') === callId && (first === undefined || startLine(text(d)).startsWith(first)));
  /** Waits for the n-th datagram with this Call-ID (and start line prefix) at `l`. */
  async function nth(l: UdpListener, callId: string, n: number, first?: string): Promise<string> {
    const ok = await l.waitFor(() => withCallId(l, callId, first).length >= n, WAIT_MS);
    if (!ok) {
      const seen = l.received.map((d) => startLine(text(d))).slice(-10);
      throw new Error(`no datagram #${n} ${first ?? ''} for Call-ID ${callId} within ${WAIT_MS} ms (last seen: ${JSON.stringify(seen)})\n${viaduct.stderr().slice(-2000)}`);
    }
    return text(withCallId(l, callId, first)[n - 1]!);
  }
  const quiet = () => new Promise((r) => setTimeout(r, QUIET_MS));
  const counter = async (name: string) => parseMetrics(await viaduct.metrics()).get(name) ?? NaN;
  async function counterReaches(name: string, atLeast: number): Promise<number> {
    let v = await counter(name);
    for (let i = 0; i < 20 && !(v >= atLeast); i++) {
      await new Promise((r) => setTimeout(r, 100));
      v = await counter(name);
    }
    return v;
  }

  it('answers Max-Forwards: 0 with 483 and does not forward', async () => {
    const req = base({ maxForwards: 0 });
    await send(sipRequest(req));
    const reply = await nth(client, req.callId, 1);
    expect(startLine(reply)).toMatch(/^SIP\/2\.0 483 /);
    await quiet();
    expect(withCallId(hop, req.callId)).toHaveLength(0);
  });

  it('decrements Max-Forwards (5 arrives as 4) and adds Max-Forwards: 70 when absent', async () => {
    const five = base({ method: 'OPTIONS', maxForwards: 5 });
    const none = base({ method: 'OPTIONS', maxForwards: null });
    await send(sipRequest(five));
    await send(sipRequest(none));
    expect(headers(await nth(hop, five.callId, 1), 'Max-Forwards')).toEqual(['4']);
    expect(headers(await nth(hop, none.callId, 1), 'Max-Forwards')).toEqual(['70']);
  });

  it('puts its Via on top with a z9hG4bK branch: the same for a retransmission, the CANCEL and the non-2xx ACK, another for another INVITE', async () => {
    const invite = base();
    const inviteText = sipRequest(invite);
    await send(inviteText);
    const first = await nth(hop, invite.callId, 1, 'INVITE');
    const vias = headers(first, 'Via');
    expect(vias).toHaveLength(2);
    expect(vias[0]).toMatch(new RegExp(`^SIP/2\\.0/UDP 127\\.0\\.0\\.1:${proxyPort};branch=z9hG4bK[^;,\\s]+$`));
    expect(vias[1]).toBe(`SIP/2.0/UDP 127.0.0.1:${clientPort};branch=${invite.branch}`);
    const branch = branchOf(vias[0])!;
    expect(branch).not.toBe(invite.branch);

    // A retransmission is forwarded again, byte for byte the same.
    await send(inviteText);
    const again = await nth(hop, invite.callId, 2, 'INVITE');
    expect(branchOf(header(again, 'Via'))).toBe(branch);
    expect(again).toBe(first);

    // CANCEL and the ACK of a non-2xx carry the INVITE's top branch (RFC 3261 9.1, 17.1.1.3).
    await send(sipRequest({ ...invite, method: 'CANCEL' }));
    const cancel = await nth(hop, invite.callId, 1, 'CANCEL');
    expect(branchOf(header(cancel, 'Via'))).toBe(branch);
    await send(sipRequest({ ...invite, method: 'ACK', toTag: 'uas487' }));
    const ack = await nth(hop, invite.callId, 1, 'ACK');
    expect(branchOf(header(ack, 'Via'))).toBe(branch);

    // A different INVITE from the same client gets a different branch.
    const other = base();
    await send(sipRequest(other));
    const otherBranch = branchOf(header(await nth(hop, other.callId, 1, 'INVITE'), 'Via'));
    expect(otherBranch).toMatch(/^z9hG4bK/);
    expect(otherBranch).not.toBe(branch);
  });

  it('adds received= to the upstream Via when its sent-by is not the source address, and only then', async () => {
    const foreign = base({ method: 'OPTIONS', sentBy: '192.0.2.1:5060' });
    const same = base({ method: 'OPTIONS' });
    await send(sipRequest(foreign));
    await send(sipRequest(same));
    expect(headers(await nth(hop, foreign.callId, 1), 'Via')[1]).toBe(`SIP/2.0/UDP 192.0.2.1:5060;branch=${foreign.branch};received=127.0.0.1`);
    expect(headers(await nth(hop, same.callId, 1), 'Via')[1]).toBe(`SIP/2.0/UDP 127.0.0.1:${clientPort};branch=${same.branch}`);
  });

  /** The parameters of a Via value after the sent-by, e.g. ['branch=z9hG4bKx', 'rport=5060']. */
  const viaParamsOf = (via: string) => via.split(';').slice(1).map((p) => p.trim());

  // ";rport" last (as SIPp and most phones send it) and before the branch.
  it.each([
    { where: 'last', params: (branch: string) => `;branch=${branch};rport` },
    { where: 'first', params: (branch: string) => `;rport;branch=${branch}` },
  ])('fills in rport=SOURCEPORT and received= when the client sent ;rport ($where), and routes the reply back to that port', async ({ params }) => {
    // The Via claims port 5999; the datagram comes from clientPort.
    const branch = `z9hG4bK${rnd()}`;
    const req = base({ sentBy: '127.0.0.1:5999', branch });
    const reqText = sipRequest(req).replace(`;branch=${branch}`, params(branch));
    await send(reqText);
    const fwd = await nth(hop, req.callId, 1, 'INVITE');
    const upstream = headers(fwd, 'Via')[1]!;
    expect(upstream.startsWith('SIP/2.0/UDP 127.0.0.1:5999;'), upstream).toBe(true);
    expect(viaParamsOf(upstream).sort(), upstream).toEqual([`branch=${branch}`, 'received=127.0.0.1', `rport=${clientPort}`]);

    // The reply comes back to the port rport names, not to the Via's 5999.
    await new Promise<void>((r) => hop.socket.send(Buffer.from(replyTo(fwd, 180, 'Ringing')), proxyPort, LOOPBACK, () => r()));
    const reply = await nth(client, req.callId, 1, 'SIP/2.0 180');
    expect(headers(reply, 'Via')).toEqual([upstream]);
  });

  it('answers a request with ;rport from the source port, with rport= and received= in its Via', async () => {
    const branch = `z9hG4bK${rnd()}`;
    const req = base({ ruri: ruri('nope'), sentBy: '127.0.0.1:5999', branch, viaParams: ';rport' });
    await send(sipRequest(req));
    const reply = await nth(client, req.callId, 1);
    expect(startLine(reply)).toBe('SIP/2.0 404 Nope');
    const via = headers(reply, 'Via')[0]!;
    expect(viaParamsOf(via).sort(), via).toEqual([`branch=${branch}`, 'received=127.0.0.1', `rport=${clientPort}`]);
  });

  it('answers 482 when the script forwards a request back to its own address (loop)', async () => {
    const before = await counter('viaduct_loops_detected_total');
    const req = base({ ruri: ruri('loop') });
    await send(sipRequest(req));
    const reply = await nth(client, req.callId, 1);
    expect(startLine(reply)).toMatch(/^SIP\/2\.0 482 /);
    // The 482 reached us through the proxy: its own Via is gone, ours is on top again.
    expect(headers(reply, 'Via')).toEqual([`SIP/2.0/UDP 127.0.0.1:${clientPort};branch=${req.branch}`]);
    expect(await counterReaches('viaduct_loops_detected_total', before + 1)).toBeGreaterThanOrEqual(before + 1);
    expect(withCallId(hop, req.callId)).toHaveLength(0);
  });

  it('drops a reply whose top Via is not its own and counts it in drop_replies', async () => {
    const before = await counter('viaduct_core_drop_replies_total');
    const callId = `${rnd()}@e2e`;
    const stray = [
      'SIP/2.0 200 OK',
      'Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKstray',
      `Via: SIP/2.0/UDP 127.0.0.1:${clientPort};branch=z9hG4bKclient`,
      'From: <sip:a@example.com>;tag=1',
      'To: <sip:b@example.com>;tag=2',
      `Call-ID: ${callId}`,
      'CSeq: 1 INVITE',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    await send(stray, hop);
    const after = await counterReaches('viaduct_core_drop_replies_total', before + 1);
    expect(after, `drop_replies before ${before}, after ${after}`).toBe(before + 1);
    await quiet();
    expect(withCallId(client, callId)).toHaveLength(0);
  });

  it('lets ksr_reply_route stop a reply with KSR.x.drop() and forwards the others without its own Via', async () => {
    const req = base();
    await send(sipRequest(req));
    const fwd = await nth(hop, req.callId, 1, 'INVITE');
    const before = await counter('viaduct_core_drop_replies_total');
    const toProxy = (msg: string) => new Promise<void>((r) => hop.socket.send(Buffer.from(msg), proxyPort, LOOPBACK, () => r()));

    await toProxy(replyTo(fwd, 180, 'Ringing', ['X-Drop-Me: yes']));
    expect(await counterReaches('viaduct_core_drop_replies_total', before + 1)).toBe(before + 1);
    await toProxy(replyTo(fwd, 200, 'OK'));
    const ok = await nth(client, req.callId, 1, 'SIP/2.0 200');
    expect(headers(ok, 'Via')).toEqual([`SIP/2.0/UDP 127.0.0.1:${clientPort};branch=${req.branch}`]);
    expect(withCallId(client, req.callId, 'SIP/2.0 180')).toHaveLength(0);
  });

  it('KSR.sl.sl_send_reply(404, "Nope") answers with the request Vias, From, To with a tag, Call-ID and CSeq', async () => {
    const upstream = 'SIP/2.0/UDP 192.0.2.44:5070;branch=z9hG4bKupstream;received=192.0.2.45';
    const req = base({ ruri: ruri('nope'), cseq: 4711, moreVias: [upstream] });
    const reqText = sipRequest(req);
    await send(reqText);
    const reply = await nth(client, req.callId, 1);
    expect(startLine(reply)).toBe('SIP/2.0 404 Nope');
    expect(headers(reply, 'Via')).toEqual(headers(reqText, 'Via'));
    expect(header(reply, 'From')).toBe(header(reqText, 'From'));
    expect(header(reply, 'To')).toMatch(new RegExp(`^${header(reqText, 'To')!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')};tag=[^;\\s]+$`));
    expect(header(reply, 'Call-ID')).toBe(req.callId);
    expect(header(reply, 'CSeq')).toBe('4711 INVITE');
    expect(headers(reply, 'Content-Length')).toEqual(['0']);
    expect(withCallId(hop, req.callId)).toHaveLength(0);
  });
});
