// Ready means ready: viaduct started while SIPp already sends 2000 calls/s at its port loses no
// call. The calls SIPp starts before viaduct listens are retransmitted (RFC 3261 timer A) and
// complete once it is up; the ones that arrive while its threads start must not be lost.
//
// A load test (vitest.config.ts runs it alone, after the other files).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startKamailio, type KamailioProcess } from '../../bench/kamailio.js';
import { sleep, udpReceiveBufferDrops } from '../../bench/proc.js';
import { freePorts, parseMetrics, startSipp, startViaduct, stopAll, type SippProcess, type SippResult, type ViaductProcess } from './harness.js';

const LOOPBACK = '127.0.0.1';
const RATE = 2000;
const CALLS = 6000; // 3 s of calls
const HEAD_START_MS = 500; // SIPp runs this long before viaduct is started

const summary = (r: SippResult) =>
  `created=${r.created} successful=${r.successful} failed=${r.failed} failures=${JSON.stringify(r.failures)} retrans=${r.retransmissions} timedOut=${r.timedOut}\n` +
  r.messages.map((m) => `${m.kind.padEnd(5)} ${m.name.padEnd(12)} count=${m.count} retrans=${m.retrans} timeout=${m.timeout} unexp=${m.unexpected}`).join('\n') +
  (r.errors.length ? `\nfirst errors:\n${r.errors.slice(0, 3).map((e) => e.split('\n')[0]!.slice(0, 200)).join('\n')}` : '');

const hasKamailio = (() => {
  try {
    execFileSync('kamailio', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('started under a running 2000 calls/s SIPp load', () => {
  let ports: number[] = [];
  let sipps: (SippProcess | undefined)[] = [];
  let viaduct: ViaductProcess | undefined;
  let kamailio: KamailioProcess | undefined;

  afterEach(async () => {
    await kamailio?.stop().catch(() => undefined);
    kamailio = undefined;
    await stopAll(sipps, viaduct, ports);
    sipps = [];
    viaduct = undefined;
    ports = [];
  });

  /** Starts the uas and the 2000 calls/s uac, then the proxy; returns the uac's result and a report. */
  async function underLoad(startProxy: (proxyPort: number, uasPort: number) => Promise<() => Promise<string>>) {
    ports = await freePorts(3);
    const [proxyPort, uasPort, uacPort] = ports as [number, number, number];
    const uas = startSipp({ scenario: 'uas', localIp: LOOPBACK, localPort: uasPort });
    sipps.push(uas);
    await uas.ready;
    const drops0 = udpReceiveBufferDrops();
    const uac = startSipp({
      scenario: 'uac', remote: `${LOOPBACK}:${proxyPort}`, localIp: LOOPBACK, localPort: uacPort,
      rate: RATE, calls: CALLS, timeoutMs: 60_000,
    });
    sipps.push(uac);
    await uac.ready;
    await sleep(HEAD_START_MS);
    const started = Date.now();
    const describeProxy = await startProxy(proxyPort, uasPort);
    const readyMs = Date.now() - started;
    const result = await uac.result;
    const report =
      `ready after ${readyMs} ms; uac ${summary(result)}\n` +
      `kernel UDP receive-buffer drops (machine-wide) ${udpReceiveBufferDrops() - drops0}; ${await describeProxy()}`;
    return { result, report };
  }

  // Kamailio started the same way: the proof that the scenario can be passed.
  it.skipIf(!hasKamailio)('Kamailio (one UDP child): no call fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kamailio-forward-'));
    try {
      const { result, report } = await underLoad(async (proxyPort, uasPort) => {
        const cfg = join(dir, 'forward.cfg');
        writeFileSync(cfg, `#!KAMAILIO\ndebug=0\nlog_stderror=yes\nchildren=1\ndisable_tcp=yes\nauto_aliases=no\n` +
          `listen=udp:${LOOPBACK}:${proxyPort}\nrequest_route {\n\tforward("${LOOPBACK}", ${uasPort});\n}\n`);
        kamailio = await startKamailio({ cfg, allocator: 'tlsf', port: proxyPort });
        return async () => 'kamailio';
      });
      console.log(`kamailio: ${report}`);
      expect(result.failed, report).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);

  it.each([0, 1, 2])('--workers %i: no call fails', async (workers) => {
    const { result, report: text } = await underLoad(async (proxyPort, uasPort) => {
      viaduct = await startViaduct({
        script: `function ksr_request_route(){ KSR.forward_uri("sip:127.0.0.1:${uasPort}"); }\n`,
        listen: [`udp:${LOOPBACK}:${proxyPort}`],
        workers,
        readyTimeoutMs: 30_000,
        warmUp: true, // what this test is about
      });
      const v = viaduct;
      return async () => {
        const m = parseMetrics(await v.metrics());
        return `ring_full_drops=${m.get('viaduct_ring_full_drops_total')} rcv_requests=${m.get('viaduct_core_rcv_requests_total')}\n${v.stderr().slice(-2000)}`;
      };
    });
    const report = `workers=${workers}: ${text}`;
    console.log(report);
    expect(result.timedOut, report).toBe(false);
    expect(result.created, report).toBe(CALLS);
    expect(result.failed, report).toBe(0);
    expect(result.successful, report).toBe(CALLS);
  }, 90_000);
});
