// Two listening sockets, IPv4 and IPv6, one with an advertised address: a request that comes in
// over IPv4 and leaves over IPv6 gets our IPv6 Via, two Record-Route entries (r2=on, the
// outgoing socket's first), and its reply travels back over IPv4 to the client.
import { afterEach, describe, expect, it } from 'vitest';
import { parseMessage } from '../../src/core/sip/parser.js';
import { freePorts, releasePorts, sendUdp, startViaduct, UdpListener, type ViaductProcess } from './harness.js';

let viaduct: ViaductProcess | undefined;
let ports: number[] = [];
afterEach(async () => {
  const v = viaduct;
  viaduct = undefined;
  try {
    await v?.stop(); // rejects if its script threw
  } finally {
    releasePorts(ports);
  }
});

describe.each([0, 1])('IPv4 and IPv6 sockets, --workers %i', (workers) => {
  it('forwards from IPv4 to IPv6 with the right Via, double Record-Route and the reply back over IPv4', async () => {
    ports = await freePorts(4);
    const [v4Port, v6Port, nextHopPort, clientPort] = ports as [number, number, number, number];
    const nextHop = await UdpListener.open('::1', nextHopPort);
    try {
      viaduct = await startViaduct({
        script: `function ksr_request_route() { KSR.rr.record_route(); KSR.forward_uri("sip:[::1]:${nextHopPort}"); }`,
        listen: [`udp:127.0.0.1:${v4Port}`, `udp:[::1]:${v6Port} advertise [2001:db8::5]:5090`],
        workers,
      });
      expect(viaduct.ready.sockets).toEqual([`udp:127.0.0.1:${v4Port}`, `udp:[::1]:${v6Port}`]);
      const invite = [
        'INVITE sip:bob@example.com SIP/2.0',
        `Via: SIP/2.0/UDP 127.0.0.1:${clientPort};branch=z9hG4bKv6test;rport`,
        'From: <sip:alice@example.com>;tag=a1', 'To: <sip:bob@example.com>', 'Call-ID: v6-test-1', 'CSeq: 1 INVITE',
        'Max-Forwards: 70', 'Content-Length: 0', '', '',
      ].join('\r\n');
      const replies = sendUdp('127.0.0.1', v4Port, invite, { localPort: clientPort, waitReplyMs: 1500, maxReplies: 1 });
      const fwd = await waitFor(nextHop);
      const m = parseMessage(fwd.data);
      expect(fwd.from).toEqual({ address: '::1', port: v6Port }); // sent from the IPv6 listening socket
      expect(m.topVia().host).toBe('2001:db8::5');               // advertised address in our Via
      expect(m.topVia().port).toBe(5090);
      expect(m.recordRoutes().map((r) => r.uri)).toEqual([`sip:[2001:db8::5]:5090;r2=on;lr`, `sip:127.0.0.1:${v4Port};r2=on;lr`]);
      expect(m.vias()[1].rport).toBe(String(clientPort));
      // the next hop answers to our (advertised) Via: send the reply to the real v6 socket
      const reply = [
        'SIP/2.0 486 Busy Here',
        ...fwd.data.toString().split('\r\n').filter((l) => /^(Via|From|To|Call-ID|CSeq):/i.test(l)),
        'Content-Length: 0', '', '',
      ].join('\r\n');
      await sendUdp('::1', v6Port, reply);
      const got = await replies;
      expect(got).toHaveLength(1);
      const r = parseMessage(got[0].data);
      expect(r.status).toBe(486);
      expect(r.vias()).toHaveLength(1);
      expect(r.topVia().branch).toBe('z9hG4bKv6test');
      expect(got[0].from).toEqual({ address: '127.0.0.1', port: v4Port });
    } finally {
      await nextHop.close();
    }
  });
});

async function waitFor(l: UdpListener): Promise<{ data: Buffer; from: { address: string; port: number } }> {
  for (let i = 0; i < 40 && l.received.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
  expect(l.received.length).toBeGreaterThan(0);
  return l.received[0];
}
