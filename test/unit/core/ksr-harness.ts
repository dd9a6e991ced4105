// A real SipCore with its KSR object whose sends are captured: the routes under test run on
// messages handed to core.receive(), as a worker would.
import { resolveSettings } from '../../../src/core/config.js';
import { SipCore } from '../../../src/core/core.js';
import { buildKSR, resolveModparams } from '../../../src/core/ksr.js';
import { createLogger } from '../../../src/core/log.js';
import { socketInfos } from '../../../src/core/runtime/thread.js';
import { createStatsBuffer, sumStats, ThreadCounters } from '../../../src/core/stats/counters.js';

export interface Sent { sock: number; text: string; port: number; host: string }

/** A core on two sockets (v4 and v6) whose sends are captured, with the script given as routes. */
export function setup(listen = ['udp:127.0.0.1:5060', 'udp:[::1]:5062'], modparams: Record<string, Record<string, string | number>> = {}, moduleData: Record<string, unknown> = {}) {
  const settings = resolveSettings(undefined, { listen, alias: ['proxy.example.com'], modparams: [] }, 1);
  const sent: Sent[] = [];
  const sab = createStatsBuffer(1);
  const core = new SipCore(settings, socketInfos(settings), { send: (sock, d, port, host) => { sent.push({ sock, text: d.toString(), port, host }); } },
    new ThreadCounters(sab, 0), createLogger('crit', 'test'), null, 'vdtest-');
  const KSR = buildKSR(core, resolveModparams(modparams), moduleData);
  const run = (route: () => void, raw: string, src = '192.0.2.10', port = 5061): Sent[] => {
    sent.length = 0;
    core.routes = { request: route, named: () => undefined };
    core.receive(Buffer.from(raw.replace(/\n/g, '\r\n')), src, port, src.includes(':') ? 1 : 0);
    return [...sent];
  };
  return { core, KSR, run, stats: () => sumStats(sab) };
}

