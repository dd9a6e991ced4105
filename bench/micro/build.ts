// A SipCore with its KSR object, from the build whose `src/` is at srcUrl: the micro-benchmarks
// that compare two builds in one process (--against DIR) load each build's modules this way.
import type { ScriptSettings } from '../../src/core/config.js';
import type { Transport } from '../../src/core/core.js';

/** A core listening on udp:127.0.0.1:5060, its modules joined as in a SIP thread (their hooks). */
export async function coreOf(srcUrl: URL, transport: Transport, opts: { settings?: ScriptSettings; histogram?: boolean } = {}) {
  const load = <T>(path: string): Promise<T> => import(new URL(path, srcUrl).href) as Promise<T>;
  const { resolveSettings } = await load<typeof import('../../src/core/config.js')>('core/config.js');
  const { SipCore } = await load<typeof import('../../src/core/core.js')>('core/core.js');
  const { createLogger } = await load<typeof import('../../src/core/log.js')>('core/log.js');
  const { socketInfos } = await load<typeof import('../../src/core/runtime/thread.js')>('core/runtime/thread.js');
  const { createStatsBuffer, ThreadCounters } = await load<typeof import('../../src/core/stats/counters.js')>('core/stats/counters.js');
  const { createProcessingHistogram } = await load<typeof import('../../src/core/stats/histogram.js')>('core/stats/histogram.js');
  const { buildKSR, resolveModparams } = await load<typeof import('../../src/core/ksr.js')>('core/ksr.js');

  const settings = resolveSettings(opts.settings, { listen: ['udp:127.0.0.1:5060'], alias: [], modparams: [] }, 1);
  const core = new SipCore(settings, socketInfos(settings), transport, new ThreadCounters(createStatsBuffer(1), 0),
    createLogger('err', 'bench'), opts.histogram ? createProcessingHistogram() : null, 'vdbench-');
  return { core, KSR: buildKSR(core, resolveModparams({})) };
}
