// Hostile input on the wire (issue 10, item 6): a 49 KB INVITE with 1,500 Route lines, the first
// ours, is answered 513 under the default sip_max_headers (256) and counted; with the limits
// raised it is loose-routed to the second Route with ours removed. A header line over
// sip_max_header_size is answered 513; a reply over it is dropped, not relayed, and counted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts, releasePorts, sendUdp, startViaduct, UdpListener, type Datagram, type ViaductProcess } from './harness.js';

const LOOPBACK = '127.0.0.1';
const WAIT_MS = 3000; // for something that must arrive
const QUIET_MS = 500; // for something that must not

const SCRIPT = (settings: string) => `var settings = ${settings};
function ksr_request_route() {
  if (KSR.rr.loose_route() > 0) { KSR.forward(); return; }
  KSR.sl.sl_send_reply(404, "Not here");
}
`;

/** An INVITE whose Route set is ours, then `next`, then filler hops up to `routes` lines. */
function hostileInvite(proxyPort: number, next: string, routes: number, callId: string, extra = ''): string {
  let s = `INVITE sip:bob@192.0.2.20 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bK${callId}\r\nMax-Forwards: 70\r\n` +
    `Route: <sip:${LOOPBACK}:${proxyPort};lr>\r\nRoute: <${next}>\r\n`;
  for (let i = 2; i < routes; i++) s += `Route: <sip:10.0.${i >> 8}.${i & 255}:5060;lr>\r\n`;
  return s + `From: <sip:mallory@example.com>;tag=m1\r\nTo: <sip:bob@example.com>;tag=b1\r\nCall-ID: ${callId}\r\n` +
    `CSeq: 1 INVITE\r\n${extra}Content-Length: 0\r\n\r\n`;
}

const text = (d: Datagram) => d.data.toString('latin1');
const firstLine = (d: Datagram) => text(d).slice(0, text(d).indexOf('\r\n'));
const routeLines = (msg: string) => msg.slice(0, msg.indexOf('\r\n\r\n')).split('\r\n').filter((l) => l.startsWith('Route:'));

async function stat(v: ViaductProcess, name: string): Promise<number> {
  const [line] = await v.rpc<string[]>('stats.get_statistics', name);
  return Number(/= (\d+)$/.exec(line ?? '')?.[1]);
}

describe('sip_max_* limits and a 1,500-Route INVITE over UDP', () => {
  let ports: number[] = [];
  let byDefault: ViaductProcess | undefined;
  let raised: ViaductProcess | undefined;
  let hop: UdpListener | undefined;

  beforeAll(async () => {
    ports = await freePorts(3);
    const [defaultPort, raisedPort, hopPort] = ports as [number, number, number];
    [byDefault, raised, hop] = await Promise.all([
      startViaduct({ script: SCRIPT('{}'), listen: [`udp:${LOOPBACK}:${defaultPort}`], workers: 1 }),
      startViaduct({ script: SCRIPT('{ sip_max_headers: 2000, sip_max_header_size: 1024 }'), listen: [`udp:${LOOPBACK}:${raisedPort}`], workers: 2 }),
      UdpListener.open(LOOPBACK, hopPort),
    ]);
  }, 30000);

  afterAll(async () => {
    hop?.socket.close();
    await Promise.all([byDefault?.stop(), raised?.stop()]);
    releasePorts(ports);
  });

  it('answers the 1,500-Route INVITE 513 under the default limits and counts it', async () => {
    const [defaultPort, , hopPort] = ports as [number, number, number];
    const invite = hostileInvite(defaultPort, `sip:${LOOPBACK}:${hopPort};lr`, 1500, 'hostile-default');
    expect(invite.length).toBeGreaterThan(45000);
    const replies = await sendUdp(LOOPBACK, defaultPort, invite, { waitReplyMs: WAIT_MS, maxReplies: 1 });
    expect(replies.map(firstLine)).toEqual(['SIP/2.0 513 Message Too Large (more than 256 headers)']);
    expect(text(replies[0]!)).toContain('\r\nCall-ID: hostile-default\r\n');
    expect(await stat(byDefault!, 'viaduct:oversized_msgs')).toBe(1);
    expect(hop!.received.filter((d) => text(d).includes('hostile-default'))).toEqual([]);
  });

  it('loose-routes it to the second Route, ours removed, once the limits allow 1,500 headers', async () => {
    const [, raisedPort, hopPort] = ports as [number, number, number];
    const invite = hostileInvite(raisedPort, `sip:${LOOPBACK}:${hopPort};lr`, 1500, 'hostile-raised');
    const arrived = (d: Datagram) => text(d).includes('Call-ID: hostile-raised\r\n');
    await sendUdp(LOOPBACK, raisedPort, invite);
    expect(await hop!.waitFor(arrived, WAIT_MS)).toBe(true);
    const forwarded = text(hop!.received.find(arrived)!);
    const routes = routeLines(forwarded);
    expect(routes).toHaveLength(1499);
    expect(routes[0]).toBe(`Route: <sip:${LOOPBACK}:${hopPort};lr>`);
    expect(routes[1498]).toBe('Route: <sip:10.0.5.219:5060;lr>');
    expect(await stat(raised!, 'viaduct:oversized_msgs')).toBe(0);
  });

  it('answers 513 a request with a header line over sip_max_header_size; drops a reply with one', async () => {
    const [, raisedPort, hopPort] = ports as [number, number, number];
    const long = `Subject: ${'x'.repeat(1100)}\r\n`;
    const replies = await sendUdp(LOOPBACK, raisedPort, hostileInvite(raisedPort, `sip:${LOOPBACK}:${hopPort};lr`, 3, 'long-line', long),
      { waitReplyMs: WAIT_MS, maxReplies: 1 });
    expect(replies.map(firstLine)).toEqual(['SIP/2.0 513 Message Too Large (header line over 1024 bytes)']);

    // a request that fits goes through; the next hop's reply with a long line does not come back
    const client = await UdpListener.open(LOOPBACK, 0);
    try {
      const clientPort = client.socket.address().port;
      const ok = hostileInvite(raisedPort, `sip:${LOOPBACK}:${hopPort};lr`, 3, 'long-reply').replace('127.0.0.1:9;', `127.0.0.1:${clientPort};`);
      client.socket.send(ok, raisedPort, LOOPBACK);
      const arrived = (d: Datagram) => text(d).includes('Call-ID: long-reply\r\n');
      expect(await hop!.waitFor(arrived, WAIT_MS)).toBe(true);
      const req = text(hop!.received.find(arrived)!);
      const head = req.slice(0, req.indexOf('\r\n\r\n')).split('\r\n');
      const copy = (name: string) => head.filter((l) => l.startsWith(`${name}:`));
      const reply = (extra: string) => ['SIP/2.0 200 OK', ...copy('Via'), ...copy('From'), ...copy('To'), ...copy('Call-ID'), ...copy('CSeq'),
        ...(extra ? [extra] : []), 'Content-Length: 0', '', ''].join('\r\n');
      hop!.socket.send(reply(long.trimEnd()), raisedPort, LOOPBACK);
      await new Promise((r) => setTimeout(r, QUIET_MS));
      expect(client.received).toEqual([]);
      // the same reply without the long line is relayed: the drop was the limit's doing
      hop!.socket.send(reply(''), raisedPort, LOOPBACK);
      expect(await client.waitFor((d) => firstLine(d) === 'SIP/2.0 200 OK', WAIT_MS)).toBe(true);
    } finally {
      client.socket.close();
    }
    expect(await stat(raised!, 'viaduct:oversized_msgs')).toBe(2);
  });
});
