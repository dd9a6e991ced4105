// An idle viaduct costs next to nothing (DESIGN.md "Lifecycle"): after it forwarded a few calls
// and settled, 10 s of idling cost at most 20 ms of CPU (utime+stime of the process, every
// thread), for workers 0, 1 and 2. Nothing may wake up periodically: the watchdog sleeps while
// no thread works, timer wheels arm only for entries, the threads wait on sockets and doorbells.
// The CPU a wake-up costs depends on the machine, so the threads' wake-ups are counted too: a
// timer firing once a second or more often fails on any machine, however fast.
//
// Timing-sensitive, so vitest.config.ts runs it with the load tests, one file at a time; the
// three servers idle side by side (10 s of wall time, not 30).
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cpuSecondsBetween, cpuTicks, sleep } from '../../bench/proc.js';
import { freePorts, releasePorts, sendUdp, startViaduct, UdpListener, type ViaductProcess } from './harness.js';

const LOOPBACK = '127.0.0.1';
const WINDOW_MS = 10_000;
const BUDGET_S = 0.020;
const SETTLE_MS = 2_000; // the watchdog sleeps after two quiet ticks (at most 1 s)
const CALLS = 20;
const MAX_WAKE_UPS = 10; // every thread together, in the window (seen: 0-5)

/** Per thread: ns on CPU and context switches (for the report: which thread woke, how often). */
function threadTimes(pid: number): Map<string, { ns: number; switches: number }> {
  const out = new Map<string, { ns: number; switches: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      const switches = [...status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)$/gm)].reduce((s, m) => s + Number(m[1]), 0);
      out.set(tid, { ns, switches });
    } catch {
      // the thread ended
    }
  }
  return out;
}

function threadReport(before: Map<string, { ns: number; switches: number }>, after: Map<string, { ns: number; switches: number }>): { wakeUps: number; text: string } {
  const lines: string[] = [];
  let wakeUps = 0;
  for (const [tid, a] of after) {
    const b = before.get(tid) ?? { ns: 0, switches: 0 };
    const ms = (a.ns - b.ns) / 1e6;
    wakeUps += a.switches - b.switches;
    if (ms >= 0.1 || a.switches !== b.switches) lines.push(`thread ${tid}: ${ms.toFixed(2)} ms, ${a.switches - b.switches} wake-ups`);
  }
  return { wakeUps, text: lines.join('; ') || 'no thread ran' };
}

const invite = (port: number, i: number): string => [
  `INVITE sip:idle@${LOOPBACK}:${port} SIP/2.0`,
  `Via: SIP/2.0/UDP ${LOOPBACK}:9;branch=z9hG4bKidle${i}`,
  `From: <sip:caller@example.com>;tag=i${i}`,
  `To: <sip:idle@${LOOPBACK}:${port}>`,
  `Call-ID: idle-${i}@example.com`, // different Call-IDs: every worker gets some
  'CSeq: 1 INVITE',
  'Max-Forwards: 70',
  'Content-Length: 0',
  '', '',
].join('\r\n');

/** Starts a forwarding server, has it forward CALLS INVITEs, lets it settle, measures WINDOW_MS of idling. */
async function idleCost(workers: number): Promise<{ cpuS: number; wakeUps: number; report: string }> {
  const ports = await freePorts(2);
  const [proxyPort, nextPort] = ports as [number, number];
  let viaduct: ViaductProcess | undefined;
  const next = await UdpListener.open(LOOPBACK, nextPort);
  try {
    viaduct = await startViaduct({
      script: `function ksr_request_route() { KSR.forward_uri("sip:${LOOPBACK}:${nextPort}"); }`,
      listen: [`udp:${LOOPBACK}:${proxyPort}`],
      workers,
    });
    for (let i = 0; i < CALLS; i++) await sendUdp(LOOPBACK, proxyPort, invite(proxyPort, i));
    const forwarded = await next.waitFor(() => next.received.length >= CALLS, 10_000);
    expect(forwarded, `workers=${workers}: ${next.received.length} of ${CALLS} INVITEs forwarded`).toBe(true);
    await sleep(SETTLE_MS);
    const pid = viaduct.pid;
    const cpu0 = cpuTicks([pid]);
    const threads0 = threadTimes(pid);
    await sleep(WINDOW_MS);
    const cpuS = cpuSecondsBetween(cpu0, cpuTicks([pid]));
    const threads = threadReport(threads0, threadTimes(pid));
    const report = `workers=${workers}: ${(cpuS * 1000).toFixed(0)} ms of CPU and ${threads.wakeUps} wake-ups in ${WINDOW_MS / 1000} s idle (${threads.text})`;
    return { cpuS, wakeUps: threads.wakeUps, report };
  } finally {
    await next.close();
    try {
      await viaduct?.stop();
    } finally {
      releasePorts(ports);
    }
  }
}

describe('idle cost', () => {
  it(`an idle viaduct uses at most ${BUDGET_S * 1000} ms of CPU in ${WINDOW_MS / 1000} s (workers 0, 1, 2)`, async () => {
    const results = await Promise.all([0, 1, 2].map(idleCost));
    const report = results.map((r) => r.report).join('\n');
    console.log(report);
    for (const r of results) {
      expect(r.cpuS, report).toBeLessThanOrEqual(BUDGET_S);
      expect(r.wakeUps, report).toBeLessThanOrEqual(MAX_WAKE_UPS);
    }
  }, 60_000);
});
