// A real SipCore with its KSR object whose sends are captured: the routes under test run on
// messages handed to core.receive(), as a worker would. An error a route throws (a failed
// expect() too) comes out of run(), so it fails the test.
import { resolveSettings, type ScriptSettings } from '../../../src/core/config.js';
import { SipCore } from '../../../src/core/core.js';
import { buildKSR, resolveModparams } from '../../../src/core/ksr.js';
import { createLogger } from '../../../src/core/log.js';
import { socketInfos } from '../../../src/core/runtime/thread.js';
import { createStatsBuffer, sumStats, ThreadCounters } from '../../../src/core/stats/counters.js';

/** A bare INVITE from alice to bob (LF line ends, as setup()'s run/deliver take them). */
export function minimalInvite(callId: string, branch: string, cseq = 1): string {
  return `INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5061;branch=${branch}
From: <sip:alice@example.com>;tag=f1
To: <sip:bob@example.com>
Call-ID: ${callId}
CSeq: ${cseq} INVITE
Max-Forwards: 70
Content-Length: 0

`;
}

export interface Sent { sock: number; text: string; port: number; host: string }

/** A core on two sockets (v4 and v6) whose sends are captured, with the script given as routes. */
export function setup(listen = ['udp:127.0.0.1:5060', 'udp:[::1]:5062'], modparams: Record<string, Record<string, string | number>> = {}, moduleData: Record<string, unknown> = {}, script?: ScriptSettings) {
  const settings = resolveSettings(script, { listen, alias: ['proxy.example.com'], modparams: [] }, 1);
  const sent: Sent[] = [];
  const sab = createStatsBuffer(1);
  const core = new SipCore(settings, socketInfos(settings), { send: (sock, d, port, host) => { sent.push({ sock, text: d.toString(), port, host }); } },
    new ThreadCounters(sab, 0), createLogger('crit', 'test'), null, 'vdtest-');
  // an exception or a failed expect() inside a route fails the test instead of being counted
  core.rethrowScriptErrors = true;
  const KSR = buildKSR(core, resolveModparams(modparams), moduleData);
  let routeRan = false;
  /** Hands `raw` (LF line ends) to the core as if received from src:port; returns what it sent. */
  const deliver = (raw: string, src = '192.0.2.10', port = 5061): Sent[] => {
    sent.length = 0;
    routeRan = false;
    core.receive(Buffer.from(raw.replace(/\n/g, '\r\n')), src, port, src.includes(':') ? 1 : 0);
    return [...sent];
  };
  /**
   * Runs `route` as ksr_request_route for `raw`. Fails if the core did not call it (the message
   * was rejected before the script), so the expectations inside a route always run.
   */
  const run = (route: () => void, raw: string, src?: string, port?: number): Sent[] => {
    core.routes = { request: () => { routeRan = true; route(); }, named: () => undefined };
    const out = deliver(raw, src, port);
    if (!routeRan) throw new Error(`the route under test did not run: the core rejected the message\n${raw}`);
    return out;
  };
  return { core, KSR, run, deliver, stats: () => sumStats(sab) };
}

