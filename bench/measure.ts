// One measurement: a target running a scenario under SIPp at one call rate.
import { cpuSecondsBetween, cpuTicks, machineTicks, portInUse, portOwners, processesNamed, sleep, udpReceiveBufferDrops } from './proc.js';
import { waitUntilForwarding } from './probe.js';
import type { Endpoint, Scenario } from './scenarios.js';
import { startSipp, type Percentiles, type SippMessageStat, type SippProcess } from './sipp.js';
import type { RunningProxy, Target } from './targets.js';

export interface Measurement {
  scenario: string;
  target: string;
  /** Target call rate (calls/s) and how long the uac ran at it. */
  rate: number;
  durationS: number;
  /** Which repetition of the target x rate grid this is (1-based), see run.ts --rounds. */
  round: number;
  /** Seconds of calls at the same rate before the measured run, not counted (JIT warm-up). */
  warmupS: number;
  callsRequested: number;
  created: number;
  successful: number;
  failed: number;
  /** Calls still open when the uac had to be stopped (neither successful nor failed). */
  unfinished: number;
  /** Failed calls by SIPp's reason. */
  failures: Record<string, number>;
  retransmissions: number;
  /** Datagrams the kernel dropped for a full receive buffer during the run (whole machine). */
  udpDrops: number;
  /** Calls/s SIPp sustained while creating calls. */
  achievedRate: number;
  /** Proxy CPU (utime+stime, every process and thread) over the uac run. */
  proxyCpuS: number;
  proxyUsPerCall: number | null;
  /** Percent of one core over the traffic window (the nominal duration). */
  proxyCpuPct: number;
  uacCpuPct: number;
  /** The busiest uas. */
  uasCpuPct: number;
  /** Percent of all cores busy (anything on the machine), over the traffic window. */
  machineBusyPct: number;
  /** INVITE -> 200 at the uac, ms. */
  responseTime: Percentiles | null;
  /** SIPp rather than the proxy limits this measurement: a SIPp at 90% of a core, or short of the rate. */
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

function limitReasons(m: Measurement): string[] {
  const reasons: string[] = [];
  if (m.uacCpuPct >= BUSY_PCT) reasons.push(`uac at ${m.uacCpuPct.toFixed(0)}% CPU`);
  if (m.uasCpuPct >= BUSY_PCT) reasons.push(`uas at ${m.uasCpuPct.toFixed(0)}% CPU`);
  // With failed calls a short rate is the proxy's doing (SIPp throttles when calls pile up).
  if (m.failed === 0 && m.achievedRate < RATE_SHORTFALL * m.rate) {
    reasons.push(`uac reached ${m.achievedRate.toFixed(0)} of ${m.rate} calls/s`);
  }
  return reasons;
}

function emptyMeasurement(s: Scenario, t: Target, rate: number, durationS: number, round: number, warmupS: number): Measurement {
  return {
    scenario: s.name,
    target: t.name,
    rate,
    durationS,
    round,
    warmupS,
    callsRequested: rate * durationS,
    created: 0,
    successful: 0,
    failed: 0,
    unfinished: 0,
    failures: {},
    retransmissions: 0,
    udpDrops: 0,
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

interface Sample {
  at: number;
  proxy: Map<number, number>;
  machine: { busy: number; total: number };
  uac: number;
  uas: number[];
  drops: number;
}

/**
 * Proxy up and forwarding, then the uas, then a warm-up uac run at the same rate (every target
 * gets it; it is where viaduct's JIT compiles the hot path), then CPU sampled around the
 * measured uac run. The proxy's CPU per successful call (over the whole uac run) is the headline
 * figure; CPU percentages are over the traffic window only (the nominal duration), because
 * failed calls keep the uac alive ~32 s longer, nearly idle.
 */
export async function measure(s: Scenario, t: Target, rate: number, durationS: number, round = 1, warmupS = 0): Promise<Measurement> {
  const m = emptyMeasurement(s, t, rate, durationS, round, warmupS);
  let proxy: RunningProxy | undefined;
  const uases: SippProcess[] = [];
  let uac: SippProcess | undefined;
  try {
    await waitPortsFree(s);
    const px = (proxy = await t.start(s));
    // Probed before the uas exists: the probe listens where the uas will.
    await waitUntilForwarding(s.proxy, s.uas);
    for (const u of s.uas) uases.push(startSipp({ ...s.uasOptions, localIp: u.host, localPort: u.port }));
    await Promise.all(uases.map((u) => u.ready));

    const { host, port, ...uacRole } = s.uac;
    const uacOptions = { ...uacRole, remote: endpointText(s.proxy), localIp: host, localPort: port, rate };
    if (warmupS > 0) {
      const warm = await startSipp({ ...uacOptions, calls: Math.ceil(rate * warmupS), timeoutMs: (warmupS + 90) * 1000 }).result;
      if (warm.failed > 0) m.warnings.push(`${warm.failed} calls failed during the warm-up`);
    }

    const others = otherSipps(uases.map((u) => u.pid));
    const sample = (): Sample => ({
      at: performance.now(),
      proxy: cpuTicks(px.pids),
      machine: machineTicks(),
      uac: uac?.cpuSeconds() ?? 0,
      uas: uases.map((u) => u.cpuSeconds()),
      drops: udpReceiveBufferDrops(),
    });
    const start = sample();
    const client = (uac = startSipp({
      ...uacOptions,
      calls: m.callsRequested,
      // Failed INVITEs take ~32 s of retransmissions to give up.
      timeoutMs: (durationS + 90) * 1000,
    }));
    const trafficEnd = new Promise<void>((r) => setTimeout(r, durationS * 1000).unref());
    const traffic = await Promise.race([trafficEnd, client.result.catch(() => undefined)]).then(sample);
    const result = await client.result;
    const end = sample();

    const windowS = (traffic.at - start.at) / 1000;
    const pctOfWindow = (cpuS: number) => (100 * cpuS) / windowS;
    const proxyCpuS = cpuSecondsBetween(start.proxy, end.proxy);
    Object.assign(m, {
      created: result.created,
      successful: result.successful,
      failed: result.failed,
      unfinished: result.created - result.successful - result.failed,
      failures: result.failures,
      retransmissions: result.retransmissions,
      udpDrops: end.drops - start.drops,
      achievedRate: result.sustainedCallRate,
      proxyCpuS,
      proxyUsPerCall: result.successful > 0 ? (proxyCpuS * 1e6) / result.successful : null,
      proxyCpuPct: pctOfWindow(cpuSecondsBetween(start.proxy, traffic.proxy)),
      uacCpuPct: pctOfWindow(traffic.uac),
      uasCpuPct: Math.max(0, ...traffic.uas.map((u, i) => pctOfWindow(u - start.uas[i]!))),
      machineBusyPct: (100 * (traffic.machine.busy - start.machine.busy)) / Math.max(1, traffic.machine.total - start.machine.total),
      responseTime: result.responseTime,
      uacMessages: result.messages,
      uacErrors: result.errors.slice(0, 10),
      wallS: (end.at - start.at) / 1000,
    } satisfies Partial<Measurement>);
    m.warnings = [...new Set([...m.warnings, ...others, ...otherSipps(uases.map((u) => u.pid))])];
    if (result.timedOut) m.warnings.push(`the uac was stopped after ${result.wallS.toFixed(0)} s with ${m.unfinished} calls open`);
    const foreign = intruders(s, [...px.pids, ...uases.map((u) => u.pid)]);
    if (foreign.length) m.error = `result discarded: ${foreign.join('; ')}`;
    m.limitReasons = limitReasons(m);
    m.sippLimited = m.limitReasons.length > 0;
  } catch (e) {
    m.error = (e as Error).message;
    if (proxy) m.error += `\n${proxy.output().slice(-3000)}`;
  } finally {
    await Promise.all([uac, ...uases].map((u) => u?.stop().catch(() => undefined)));
    await proxy?.stop();
  }
  return m;
}
