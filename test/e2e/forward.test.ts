// The acceptance scenario: SIPp's default uac -> viaduct -> SIPp's default uas, through a
// one-line KEMI script, with the receiving thread running the script (workers 0) and with
// 1 and 2 worker threads; every call must succeed and the core counters must account for
// every message SIPp sent, retransmissions included.
//
// This file is the load test of the suite: vitest.config.ts runs it in its own project after
// every other test file, so it has the machine to itself (as far as the suite is concerned).
import { afterEach, describe, expect, it } from 'vitest';
import { clockTicksPerSecond, cpuTicks } from '../../bench/proc.js';
import {
  freePorts,
  runSipp,
  startSipp,
  startViaduct,
  stopAll,
  type SippProcess,
  type SippResult,
  type ViaductProcess,
  parseMetrics,
} from './harness.js';

const LOOPBACK = '127.0.0.1';

const CORE = ['rcv_requests', 'fwd_requests', 'rcv_replies', 'fwd_replies', 'drop_requests', 'drop_replies', 'err_requests', 'err_replies'] as const;
type Core = Record<(typeof CORE)[number], number>;

const coreCounters = (m: Map<string, number>): Core =>
  Object.fromEntries(CORE.map((k) => [k, m.get(`viaduct_core_${k}_total`) ?? NaN])) as Core;

/** Scrapes /metrics until the message counters stop moving (the last datagrams are processed). */
async function settledCounters(v: ViaductProcess): Promise<Core> {
  let last = '';
  let c = coreCounters(parseMetrics(await v.metrics()));
  for (let i = 0; i < 40; i++) {
    const key = JSON.stringify(c);
    if (key === last) break;
    last = key;
    await new Promise((r) => setTimeout(r, 250));
    c = coreCounters(parseMetrics(await v.metrics()));
  }
  return c;
}

/** Messages SIPp put on the wire for the scenario lines it sends: first copies plus retransmissions. */
const sentOnWire = (r: SippResult) =>
  r.messages.filter((m) => m.kind === 'send').reduce((n, m) => n + m.count + m.retrans, 0);

const table = (r: SippResult) =>
  r.messages.map((m) => `${m.kind.padEnd(5)} ${m.name.padEnd(12)} count=${m.count} retrans=${m.retrans} timeout=${m.timeout} unexp=${m.unexpected}`).join('\n');

const summary = (r: SippResult) =>
  `created=${r.created} successful=${r.successful} failed=${r.failed} failures=${JSON.stringify(r.failures)} ` +
  `retrans=${r.retransmissions} sustained=${r.sustainedCallRate.toFixed(0)} cps wall=${r.wallS.toFixed(1)} s timedOut=${r.timedOut}\n${table(r)}` +
  (r.errors.length ? `\nfirst errors:\n${r.errors.slice(0, 3).map((e) => e.split('\n')[0]!.slice(0, 200)).join('\n')}` : '');

interface Variant {
  name: string;
  script: (uasPort: number) => string;
  rate: number;
  calls: number;
}

const FORWARD_URI: Variant = {
  name: 'KSR.forward_uri()',
  script: (p) => `function ksr_request_route(){ KSR.forward_uri("sip:127.0.0.1:${p}"); }\n`,
  rate: 2000,
  calls: 20_000,
};
const SETDSTURI: Variant = {
  name: 'KSR.setdsturi() + KSR.forward()',
  script: (p) => `function ksr_request_route(){ KSR.setdsturi("sip:127.0.0.1:${p}"); KSR.forward(); }\n`,
  rate: 500,
  calls: 2_000,
};

describe('uac -> viaduct -> uas (stateless forward)', () => {
  let ports: number[] = [];
  let uas: SippProcess | undefined;
  let viaduct: ViaductProcess | undefined;

  afterEach(async () => {
    await stopAll([uas], viaduct, ports);
    uas = undefined;
    viaduct = undefined;
    ports = [];
  });

  // The native UDP addon is built by `make build`; node:dgram is its fallback (VIADUCT_UDP=dgram).
  const cases = [
    ...[0, 1, 2].flatMap((workers) => [FORWARD_URI, SETDSTURI].map((variant) => ({ workers, variant, udp: 'native' }))),
    ...[0, 1].map((workers) => ({ workers, variant: SETDSTURI, udp: 'dgram' })),
  ];

  it.each(cases)('$variant.name, --workers $workers, udp $udp: every call succeeds and every message is counted', async ({ workers, variant, udp }) => {
    ports = await freePorts(3);
    const [proxyPort, uasPort, uacPort] = ports as [number, number, number];
    const env = udp === 'dgram' ? { ...process.env, VIADUCT_UDP: 'dgram' } : undefined;
    viaduct = await startViaduct({ script: variant.script(uasPort), listen: [`udp:${LOOPBACK}:${proxyPort}`], workers, env, warmUp: true });
    expect(viaduct.ready.workers).toBe(workers);
    expect(viaduct.ready.udp).toBe(udp);
    expect(viaduct.ready.mode).toBe(['inline', 'single'][workers] ?? 'sharded');

    uas = startSipp({ scenario: 'uas', localIp: LOOPBACK, localPort: uasPort });
    await uas.ready;
    const v = viaduct;
    const cpuSeconds = () => [...cpuTicks(v.pids).values()].reduce((a, b) => a + b, 0) / clockTicksPerSecond();
    const cpu0 = cpuSeconds();
    const uac = await runSipp({
      scenario: 'uac',
      remote: `${LOOPBACK}:${proxyPort}`,
      localIp: LOOPBACK,
      localPort: uacPort,
      rate: variant.rate,
      calls: variant.calls,
      // 10 s of calls plus SIPp's ~32 s of INVITE retransmissions for the last ones
      timeoutMs: 60_000,
    });
    const server = await uas.stop();
    uas = undefined;
    const c = await settledCounters(viaduct);
    const cpu = cpuSeconds() - cpu0;

    const requests = sentOnWire(uac);
    const replies = sentOnWire(server);
    const report =
      `${variant.name} workers=${workers} at ${variant.rate} calls/s x ${variant.calls}\n` +
      `uac: ${summary(uac)}\nuas: ${summary(server)}\n` +
      `uac sent ${requests} requests (INVITE+ACK+BYE incl. retransmissions), uas sent ${replies} replies\n` +
      `viaduct core: ${JSON.stringify(c)}\n` +
      `viaduct CPU: ${cpu.toFixed(2)} s over the run, ${((cpu / variant.calls) * 1e6).toFixed(0)} us per call, uac CPU ${uac.cpuS.toFixed(2)} s`;
    console.log(report);

    expect(uac.timedOut, report).toBe(false);
    expect(uac.created, report).toBe(variant.calls);
    expect(uac.failed, report).toBe(0);
    expect(uac.successful, report).toBe(variant.calls);
    // Every call: INVITE, ACK and BYE through the proxy, 180/200/200 back through it.
    expect(uac.messages.filter((m) => m.kind === 'send').map((m) => [m.name, m.count]), report).toEqual([
      ['INVITE', variant.calls],
      ['ACK', variant.calls],
      ['BYE', variant.calls],
    ]);
    expect(server.messages.find((m) => m.name === 'INVITE')?.count, report).toBe(variant.calls);

    expect(c.rcv_requests, `rcv_requests ${c.rcv_requests} != requests the uac sent ${requests}\n${report}`).toBe(requests);
    expect(c.fwd_requests, `fwd_requests ${c.fwd_requests} != requests the uac sent ${requests}\n${report}`).toBe(requests);
    expect(c.rcv_replies, `rcv_replies ${c.rcv_replies} != replies the uas sent ${replies}\n${report}`).toBe(replies);
    expect(c.fwd_replies, `fwd_replies ${c.fwd_replies} != replies the uas sent ${replies}\n${report}`).toBe(replies);
    expect({ drop_requests: c.drop_requests, drop_replies: c.drop_replies, err_requests: c.err_requests, err_replies: c.err_replies }, report).toEqual({
      drop_requests: 0,
      drop_replies: 0,
      err_requests: 0,
      err_replies: 0,
    });
  }, 150_000);
});
