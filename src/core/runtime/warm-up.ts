// JIT warm-up of a SIP thread before it reads its sockets. A cold thread runs the parser and the
// forwarding path in V8's interpreter for its first thousands of messages, about ten times slower
// than once optimized (measured: ~120 µs instead of ~10 µs per message); started under load, it
// then falls seconds behind, and the requests it forwards late meet their own retransmissions.
// So each SIP thread first pushes synthetic calls (INVITE, 180, 200, ACK, BYE, 200) through a
// core of its own whose sends go nowhere and whose counters nobody reads. The user's script is
// not run: it may have side effects; the core code it calls is what is warmed.
import type { Settings } from '../config.js';
import type { SocketInfo } from '../context.js';
import { SipCore } from '../core.js';
import { createLogger } from '../log.js';
import maxfwd from '../../modules/maxfwd/index.js';
import rr from '../../modules/rr/index.js';
import { createStatsBuffer, ThreadCounters } from '../stats/counters.js';

/**
 * Synthetic calls each SIP thread processes before it reads (~6 messages each; ~0.6 s of a
 * start). VIADUCT_WARM_UP_CALLS=N changes it (0: none), for a server that starts idle (the
 * functional tests start ~100 servers, each at a few calls/s).
 */
export const WARM_UP_CALLS = warmUpCalls(process.env.VIADUCT_WARM_UP_CALLS);

function warmUpCalls(env: string | undefined): number {
  const n = Number(env);
  return env !== undefined && env !== '' && Number.isInteger(n) && n >= 0 ? n : 2000;
}

/** Returns how many messages the warm-up core forwarded (6 per call when all went through). */
export function warmUp(settings: Settings, sockets: SocketInfo[], instanceTag: string, calls = WARM_UP_CALLS): number {
  const sock = sockets[0];
  let sent = 0;
  if (!sock || calls <= 0) return sent;
  const peer = sock.family === 6 ? '::1' : '127.0.0.1';
  const peerUri = sock.family === 6 ? '[::1]' : '127.0.0.1';
  let forwarded: Buffer | null = null;
  const transport = {
    copiesOnSend: true,
    send(_i: number, data: Uint8Array) {
      forwarded = Buffer.from(data);
      sent++;
    },
  };
  const core = new SipCore(settings, sockets, transport, new ThreadCounters(createStatsBuffer(1), 0), createLogger('alert', '[warm-up]'), null, instanceTag);
  // the forward hooks every forward runs (not buildKSR: it would reset the modules' thread state)
  core.installHooks([maxfwd.hooks!, rr.hooks!]);
  const nextHop = `sip:${peerUri}:9`;
  core.routes = { request: () => core.forwardRequest(nextHop), named: () => undefined };
  const me = `${sock.viaHost}:${sock.viaPort}`;
  /** A reply to a request we forwarded: our Via on top, as the next hop would send it. */
  const replyTo = (forwardedRequest: Buffer, status: string, toTag: string): Buffer => {
    const req = forwardedRequest.toString('latin1');
    const headers = req.slice(req.indexOf('\r\n') + 2).replace(/^(To: [^\r]*)/m, `$1;tag=${toTag}`);
    return Buffer.from(`SIP/2.0 ${status}\r\n${headers}`, 'latin1');
  };
  for (let i = 0; i < calls; i++) {
    const callId = `warm-up-${i}-${instanceTag}`;
    const request = (method: string, cseq: number, branch: string, toTag: string): Buffer => Buffer.from(
      `${method} sip:service@${me} SIP/2.0\r\n` +
      `Via: SIP/2.0/UDP ${peerUri}:5999;branch=z9hG4bK${branch}-${i};rport\r\n` +
      `From: <sip:warm@${peerUri}:5999>;tag=${i}\r\n` +
      `To: <sip:service@${me}>${toTag}\r\n` +
      `Call-ID: ${callId}\r\n` +
      `CSeq: ${cseq} ${method}\r\n` +
      `Contact: <sip:warm@${peerUri}:5999>\r\n` +
      'Max-Forwards: 70\r\n' +
      'Content-Length: 0\r\n\r\n', 'latin1');
    const send = (buf: Buffer) => core.receive(buf, peer, 5999, 0);
    forwarded = null;
    send(request('INVITE', 1, 'inv', ''));
    const invite: Buffer | null = forwarded;
    if (!invite) return sent; // the core refused it (an unusual listen setting): nothing to warm
    core.receive(replyTo(invite, '180 Ringing', 'w'), peer, 9, 0);
    core.receive(replyTo(invite, '200 OK', 'w'), peer, 9, 0);
    send(request('ACK', 1, 'ack', ';tag=w'));
    forwarded = null;
    send(request('BYE', 2, 'bye', ';tag=w'));
    const bye: Buffer | null = forwarded;
    if (bye) core.receive(replyTo(bye, '200 OK', 'w'), peer, 9, 0);
  }
  return sent;
}
