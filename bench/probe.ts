// Readiness of a forwarding proxy, the same test for every target: listen where the
// proxy forwards to (before the uas is started there), send it an OPTIONS and wait
// for that request to come out the other side. Kamailio prints no ready line, and a
// ready line does not prove that the workers forward.
import { randomBytes } from 'node:crypto';
import type { Endpoint } from './scenarios.js';
import { sendUdp, UdpListener } from './udp.js';

function probeRequest(proxy: Endpoint, callId: string): string {
  const tag = randomBytes(4).toString('hex');
  return [
    `OPTIONS sip:probe@${proxy.host}:${proxy.port} SIP/2.0`,
    `Via: SIP/2.0/UDP ${proxy.host}:9;branch=z9hG4bK-${tag};rport`,
    'Max-Forwards: 70',
    `From: <sip:bench@${proxy.host}>;tag=${tag}`,
    `To: <sip:probe@${proxy.host}>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 OPTIONS',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/**
 * Resolves once an OPTIONS sent to `proxy` arrives at one of `destinations` (retried every
 * 200 ms); rejects after `timeoutMs`, or at once if a destination port cannot be bound
 * (something is already listening there).
 */
export async function waitUntilForwarding(proxy: Endpoint, destinations: Endpoint[], timeoutMs = 10_000): Promise<void> {
  const listeners: UdpListener[] = [];
  try {
    for (const d of destinations) {
      try {
        listeners.push(await UdpListener.open(d.host, d.port));
      } catch (e) {
        throw new Error(`cannot listen on ${d.host}:${d.port} to probe the proxy: ${(e as Error).message}`);
      }
    }
    const callId = `probe-${randomBytes(8).toString('hex')}`;
    const arrived = (l: UdpListener) => l.waitFor((d) => d.data.includes(callId), 200);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      await sendUdp(proxy.host, proxy.port, probeRequest(proxy, callId));
      if ((await Promise.all(listeners.map(arrived))).some(Boolean)) return;
    }
    throw new Error(`proxy ${proxy.host}:${proxy.port} did not forward a probe to ${destinations.map((d) => `${d.host}:${d.port}`).join(', ')} within ${timeoutMs} ms`);
  } finally {
    await Promise.all(listeners.map((l) => l.close()));
  }
}
