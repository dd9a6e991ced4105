// One measurement: a target running a scenario under SIPp at one call rate.
import { cpuSecondsBetween, cpuTicks, machineTicks, portInUse, portOwners, processesNamed, sleep } from './proc.js';
import { waitUntilForwarding } from './probe.js';
import type { Endpoint, Scenario } from './scenarios.js';
import { runSipp, startSipp, type Percentiles, type SippMessageStat, type SippProcess } from './sipp.js';
import type { RunningProxy, Target } from './targets.js';

export interface Measurement {
  scenario: string;
  target: string;
  /** Target call rate (calls/s) and how long the uac ran at it. */
  rate: number;
  durationS: number;
  callsRequested: number;
  created: number;
  successful: number;
  failed: number;
  /** Failed calls by SIPp's reason. */
  failures: Record<string, number>;
  retransmissions: number;
  /** Calls/s SIPp sustained while creating calls. */
  achievedRate: number;
  /** Proxy CPU (utime+stime, every process and thread) over the uac run. */
  proxyCpuS: number;
  proxyUsPerCall: number | null;
  /** Percent of one core while calls were being created (failed calls drain for ~32 s after, nearly idle). */
  proxyCpuPct: number;
  uacCpuPct: number;
  /** The busiest uas. */
  uasCpuPct: number;
  /** Percent of all cores busy (anything on the machine). */
  machineBusyPct: number;
  /** INVITE -> 200 at the uac, ms. */
  responseTime: Percentiles | null;
  /** SIPp rather than the proxy limits this measurement (see limitReasons). */
  sippLimited: boolean;
  limitReasons: string[];
  uacMessages: SippMessageStat[];
  uacErrors: string[];
  /** Things that may have disturbed the measurement (other SIPp processes on the machine). */
  warnings: string[];
  wallS: number;
  /** Set when the measurement could not be made (target failed to start...). */
  error?: string;
}

const BUSY_PCT = 90;
const RATE_SHORTFALL = 0.95;

const endpointText = (e: Endpoint) => `${e.host}:${e.port}`;

/** Waits until nothing listens on the scenario's UDP ports (a previous proxy's workers may still be exiting). */
async function waitPortsFree(s: Scenario, timeoutMs = 10_000): Promise<void> {
  const ports = [s.proxy, s.uac, ...s.uas].map((e) => e.port);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const busy = ports.filter((p) => portInUse(p));
    if (busy.length === 0) return;
    if (Date.now() > deadline) {
      const who = busy.map((p) => `${p}: ${portOwners(p).map((o) => `pid ${o.pid} ${o.command}`).join('; ') || '?'}`);
      throw new Error(`UDP ports still in use: ${who.join(', ')}`);
    }
    await sleep(100);
  }
}

/**
 * Sockets on the scenario's ports held by processes that are not ours. This machine is
 * shared: with SO_REUSEADDR a second proxy can bind the same UDP port and take the traffic.
 */
function intruders(s: Scenario, ours: number[]): string[] {
  return [s.proxy, ...s.uas].flatMap((e) =>
    portOwners(e.port)
      .filter((o) => !ours.includes(o.pid))
      .map((o) => `port ${e.port} also bound by pid ${o.pid} (${o.command})`),
  );
}

/** Other SIPp instances may be sending to our proxy port (their own proxy gone or not). */
function otherSipps(ours: number[]): string[] {
  return processesNamed('sipp')
    .filter((p) => !ours.includes(p.pid))
    .map((p) => `another SIPp was running: pid ${p.pid} (${p.command})`);
}

function limitReasons(m: Measurement, cores: number): string[] {
  const reasons: string[] = [];
  if (m.uacCpuPct >= BUSY_PCT) reasons.push(`uac at ${m.uacCpuPct.toFixed(0)}% CPU`);
  if (m.uasCpuPct >= BUSY_PCT) reasons.push(`uas at ${m.uasCpuPct.toFixed(0)}% CPU`);
  // With failed calls a short rate is the proxy's doing (SIPp throttles when calls pile up).
  if (m.failed === 0 && m.achievedRate < RATE_SHORTFALL * m.rate) {
    reasons.push(`uac reached ${m.achievedRate.toFixed(0)} of ${m.rate} calls/s`);
  }
  if (m.machineBusyPct >= BUSY_PCT) reasons.push(`all ${cores} cores busy (${m.machineBusyPct.toFixed(0)}%)`);
  return reasons;
}

function emptyMeasurement(s: Scenario, t: Target, rate: number, durationS: number): Measurement {
  return {
    scenario: s.name,
    target: t.name,
    rate,
    durationS,
    callsRequested: rate * durationS,
    created: 0,
    successful: 0,
    failed: 0,
    failures: {},
    retransmissions: 0,
    achievedRate: 0,
    proxyCpuS: 0,
    proxyUsPerCall: null,
    proxyCpuPct: 0,
    uacCpuPct: 0,
    uasCpuPct: 0,
    machineBusyPct: 0,
    responseTime: null,
    sippLimited: false,
    limitReasons: [],
    uacMessages: [],
    uacErrors: [],
    warnings: [],
    wallS: 0,
  };
}

/**
 * Proxy up and forwarding, then the uas, then CPU sampled around the uac run. The
 * proxy's CPU per completed call is the headline figure.
 */
export async function measure(s: Scenario, t: Target, rate: number, durationS: number, cores: number): Promise<Measurement> {
  const m = emptyMeasurement(s, t, rate, durationS);
  let proxy: RunningProxy | undefined;
  const uases: SippProcess[] = [];
  try {
    await waitPortsFree(s);
    proxy = await t.start(s);
    // Probed before the uas exists: the probe listens where the uas will.
    await waitUntilForwarding(s.proxy, s.uas);
    for (const u of s.uas) uases.push(startSipp({ ...s.uasOptions, localIp: u.host, localPort: u.port }));
    await Promise.all(uases.map((u) => u.ready));

    const uasCpu0 = uases.map((u) => u.cpuSeconds());
    const before = otherSipps(uases.map((u) => u.pid));
    const proxyCpu0 = cpuTicks(proxy.pids);
    const machine0 = machineTicks();
    const t0 = performance.now();
    const uac = await runSipp({
      scenario: s.uac.scenario,
      transport: s.uac.transport,
      extraArgs: s.uac.extraArgs,
      remote: endpointText(s.proxy),
      localIp: s.uac.host,
      localPort: s.uac.port,
      rate,
      calls: m.callsRequested,
      // Failed INVITEs take ~32 s of retransmissions to give up.
      timeoutMs: (durationS + 90) * 1000,
    });
    const wallS = (performance.now() - t0) / 1000;
    const proxyCpuS = cpuSecondsBetween(proxyCpu0, cpuTicks(proxy.pids));
    const machine1 = machineTicks();
    const uasCpu = uases.map((u, i) => u.cpuSeconds() - uasCpu0[i]!);
    const activeS = uac.sustainedCallRate > 0 ? Math.min(wallS, uac.created / uac.sustainedCallRate) : wallS;

    Object.assign(m, {
      created: uac.created,
      successful: uac.successful,
      failed: uac.failed,
      failures: uac.failures,
      retransmissions: uac.retransmissions,
      achievedRate: uac.sustainedCallRate,
      proxyCpuS,
      proxyUsPerCall: uac.successful > 0 ? (proxyCpuS * 1e6) / uac.successful : null,
      proxyCpuPct: (100 * proxyCpuS) / activeS,
      uacCpuPct: (100 * uac.cpuS) / activeS,
      uasCpuPct: (100 * Math.max(0, ...uasCpu)) / activeS,
      machineBusyPct: (100 * (machine1.busy - machine0.busy)) / Math.max(1, machine1.total - machine0.total),
      responseTime: uac.responseTime,
      uacMessages: uac.messages,
      uacErrors: uac.errors.slice(0, 10),
      wallS,
    } satisfies Partial<Measurement>);
    m.warnings = [...new Set([...before, ...otherSipps(uases.map((u) => u.pid))])];
    const foreign = intruders(s, [...proxy.pids, ...uases.map((u) => u.pid)]);
    if (foreign.length) m.error = `result discarded: ${foreign.join('; ')}`;
    else if (uac.timedOut) m.error = 'the uac did not finish in time and was stopped';
    m.limitReasons = limitReasons(m, cores);
    m.sippLimited = m.limitReasons.length > 0;
  } catch (e) {
    m.error = (e as Error).message;
    if (proxy) m.error += `\n${proxy.output().slice(-3000)}`;
  } finally {
    await Promise.all(uases.map((u) => u.stop().catch(() => undefined)));
    await proxy?.stop();
  }
  return m;
}
