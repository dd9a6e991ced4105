// Lifecycle: a port another process holds is a start-up error, never silently shared; a SIP
// thread stuck in one message (a script in an endless loop) is found by the watchdog, restarted,
// logged and counted, and calls of other Call-IDs keep completing.
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnLogged, stopProcess, type Spawned } from '../../bench/proc.js';
import { viaductArgs } from '../../bench/viaduct.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts, parseMetrics, runSipp, sendUdp, startSipp, startViaduct, stopAll, type SippProcess, type SippResult, type ViaductProcess } from './harness.js';

const LOOPBACK = '127.0.0.1';
const dir = mkdtempSync(join(tmpdir(), 'viaduct-lifecycle-'));
const SCRIPT = join(dir, 'forward.js');
writeFileSync(SCRIPT, 'function ksr_request_route() { KSR.forward_uri("sip:127.0.0.1:9"); }\n');

const dgramEnv = (udp: string) => (udp === 'dgram' ? { ...process.env, VIADUCT_UDP: 'dgram' } : process.env);

/** Runs viaduct to its exit (it must fail at start-up). */
async function startFails(port: number, udp: string, workers: number) {
  const p: Spawned = spawnLogged(process.execPath, viaductArgs({ script: SCRIPT, listen: [`udp:${LOOPBACK}:${port}`], workers, http: 'off' }), { env: dgramEnv(udp) });
  const timer = setTimeout(() => void stopProcess(p, { signal: 'SIGKILL' }), 20_000);
  const status = await p.exited;
  clearTimeout(timer);
  return { ...status, stdout: p.stdout(), stderr: p.stderr() };
}

function holdPort(port: number, reuseAddr: boolean): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket({ type: 'udp4', reuseAddr });
    s.once('error', reject);
    s.bind(port, LOOPBACK, () => resolve(s));
  });
}

describe('a UDP port in use', () => {
  let ports: number[] = [];
  let held: Socket | undefined;
  let first: ViaductProcess | undefined;
  afterEach(async () => {
    held?.close();
    held = undefined;
    await stopAll([], first, ports);
    first = undefined;
    ports = [];
  });

  const expectAddressInUse = (r: Awaited<ReturnType<typeof startFails>>, port: number) => {
    const text = `exit ${r.code} signal ${r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
    expect(r.code, text).toBe(1);
    expect(r.stdout, text).not.toMatch(/viaduct ready/);
    expect(r.stderr, text).toContain(`cannot listen on udp:${LOOPBACK}:${port}: address in use`);
    expect(r.stderr, text).not.toMatch(/\n\s+at /); // no stack trace
  };

  it.each([
    { udp: 'native', reuseAddr: false },
    { udp: 'native', reuseAddr: true },
    { udp: 'dgram', reuseAddr: false },
  ])('held by another socket (reuseAddr $reuseAddr), viaduct with udp $udp fails at start-up', async ({ udp, reuseAddr }) => {
    ports = await freePorts(1);
    held = await holdPort(ports[0]!, reuseAddr);
    for (const workers of [0, 2]) expectAddressInUse(await startFails(ports[0]!, udp, workers), ports[0]!);
  });

  it.each(['native', 'dgram'])('a second viaduct (udp %s) on the port of a running one fails; the first keeps running', async (udp) => {
    ports = await freePorts(1);
    first = await startViaduct({ script: SCRIPT, listen: [`udp:${LOOPBACK}:${ports[0]}`], workers: 2, env: dgramEnv(udp) });
    for (const secondUdp of ['native', 'dgram']) expectAddressInUse(await startFails(ports[0]!, secondUdp, 1), ports[0]!);
    expect(await first.rpc('core.version')).toBeTruthy();
    const status = await first.stop();
    first = undefined;
    expect(status).toEqual({ code: 0, signal: null });
  });
});

describe('--watchdog-ms', () => {
  it('must be a whole number of milliseconds', async () => {
    const p = spawnLogged(process.execPath, viaductArgs({ script: SCRIPT, listen: [`udp:${LOOPBACK}:9`], workers: 0, http: 'off', extraArgs: ['--watchdog-ms', '2s'] }));
    expect(await p.exited).toEqual({ code: 2, signal: null }); // a usage error
    expect(p.stderr()).toBe('viaduct run: --watchdog-ms "2s" is not a whole number of milliseconds\n(viaduct run --help for usage)\n');
  });
});

const RESTARTS = 'viaduct_worker_restarts_total';
const WATCHDOG = 'viaduct_watchdog_restarts_total';
const LOST = 'viaduct_worker_lost_messages_total';
const FWD_REPLIES = 'viaduct_core_fwd_replies_total';
const WATCHDOG_MS = 1000;

/** An INVITE whose Call-ID (loop-N) sends the tests' scripts into their endless loop. */
const loopInvite = (port: number, n: number): string => [
  `INVITE sip:stuck@127.0.0.1:${port} SIP/2.0`,
  `Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKloop${n}`,
  `From: <sip:looper@example.com>;tag=l${n}`,
  `To: <sip:stuck@127.0.0.1:${port}>`,
  `Call-ID: loop-${n}`,
  'CSeq: 1 INVITE',
  'Max-Forwards: 70',
  'Content-Length: 0',
  '', '',
].join('\r\n');

describe('watchdog', () => {
  let ports: number[] = [];
  let viaduct: ViaductProcess | undefined;
  let sipps: (SippProcess | undefined)[] = [];
  afterEach(async () => {
    await stopAll(sipps, viaduct, ports);
    sipps = [];
    viaduct = undefined;
    ports = [];
  });

  it.each([2, 1, 0])('restarts a SIP thread stuck in an endless loop (--workers %i); calls go on', async (workers) => {
    ports = await freePorts(4);
    const [proxyPort, uasPort, uacPort, uac2Port] = ports as [number, number, number, number];
    viaduct = await startViaduct({
      script: `
        function ksr_request_route() {
          if (KSR.pv.get("$ci").startsWith("loop")) { for (;;) {} }
          KSR.forward_uri("sip:127.0.0.1:${uasPort}");
        }
      `,
      listen: [`udp:${LOOPBACK}:${proxyPort}`],
      workers,
      extraArgs: ['--watchdog-ms', String(WATCHDOG_MS)],
    });
    const v = viaduct;
    const metrics = async () => parseMetrics(await v.metrics());
    const uas = startSipp({ scenario: 'uas', localIp: LOOPBACK, localPort: uasPort });
    sipps.push(uas);
    await uas.ready;
    // calls at 100 calls/s around the stall, from 1 s before the loop starts
    const uac = startSipp({ scenario: 'uac', remote: `${LOOPBACK}:${proxyPort}`, localIp: LOOPBACK, localPort: uacPort, rate: 100, calls: 400, timeoutMs: 60_000 });
    sipps.push(uac);
    await new Promise((r) => setTimeout(r, 1000));
    const before = await metrics();
    const sentAt = Date.now();
    await sendUdp(LOOPBACK, proxyPort, loopInvite(proxyPort, 1));
    // Within the watchdog's limit the thread is still stuck; with two workers the other one forwards on.
    await new Promise((r) => setTimeout(r, WATCHDOG_MS / 2));
    const during = await metrics();
    let after = during;
    while ((after.get(WATCHDOG) ?? 0) < 1 && Date.now() - sentAt < 10_000) {
      await new Promise((r) => setTimeout(r, 50));
      after = await metrics();
    }
    const restartMs = Date.now() - sentAt;
    await expect.poll(() => /restarted/.test(v.stderr()), { timeout: 10_000 }).toBe(true);
    // Calls started after the restart all complete.
    const later = await runSipp({ scenario: 'uac', remote: `${LOOPBACK}:${proxyPort}`, localIp: LOOPBACK, localPort: uac2Port, rate: 100, calls: 200, timeoutMs: 60_000 });
    // (calls of the stuck thread may still be retransmitting: SIGTERM ends those uncounted)
    const around = await uac.stop();
    const end = await metrics();
    const calls = (r: SippResult) => `created=${r.created} successful=${r.successful} failed=${r.failed} ${JSON.stringify(r.failures)}`;
    const report =
      `workers=${workers}: watchdog restart seen ${restartMs} ms after the looping INVITE; fwd_replies before=${before.get(FWD_REPLIES)} ` +
      `${WATCHDOG_MS / 2} ms into the stall=${during.get(FWD_REPLIES)} end=${end.get(FWD_REPLIES)}; ` +
      `${RESTARTS}=${end.get(RESTARTS)} ${WATCHDOG}=${end.get(WATCHDOG)} ${LOST}=${end.get(LOST)}\n` +
      `calls around the stall: ${calls(around)}\ncalls after the restart: ${calls(later)}\n${v.stderr().slice(-2500)}`;
    console.log(report);
    expect(end.get(WATCHDOG), report).toBe(1);
    expect(end.get(RESTARTS), report).toBe(1);
    expect(end.get(LOST), report).toBe(1); // the looping INVITE, skipped
    expect(restartMs, report).toBeGreaterThanOrEqual(WATCHDOG_MS);
    // one line says which thread, how long and why; no stack trace
    expect(v.stderr(), report).toMatch(new RegExp(`(receiver|worker \\d) stuck in one message for \\d+ ms \\(watchdog limit ${WATCHDOG_MS} ms\\)`));
    expect(v.stderr(), report).not.toMatch(/\n\s+at /);
    expect(later, report).toMatchObject({ created: 200, successful: 200, failed: 0, timedOut: false });
    if (workers === 2) {
      // the other worker's calls kept completing during the stall: about half of all calls
      expect(during.get(FWD_REPLIES)!, report).toBeGreaterThan(before.get(FWD_REPLIES)!);
      expect(around.successful, report).toBeGreaterThanOrEqual(0.4 * around.created);
    }
  }, 90_000);

  it('finds a loop that begins while the server idles (the watchdog asleep)', async () => {
    ports = await freePorts(1);
    const [proxyPort] = ports as [number];
    viaduct = await startViaduct({
      script: 'function ksr_request_route() { if (KSR.pv.get("$ci").startsWith("loop")) { for (;;) {} } KSR.forward_uri("sip:127.0.0.1:9"); }',
      listen: [`udp:${LOOPBACK}:${proxyPort}`],
      workers: 1,
      extraArgs: ['--watchdog-ms', String(WATCHDOG_MS)],
    });
    const v = viaduct;
    await new Promise((r) => setTimeout(r, 2000)); // idle: the watchdog sleeps after two quiet ticks
    await sendUdp(LOOPBACK, proxyPort, loopInvite(proxyPort, 2));
    await expect.poll(() => /restarted/.test(v.stderr()), { timeout: 10_000 }).toBe(true);
    // found as when awake: the message that woke the watchdog was seen as it began
    const stuckMs = Number(/stuck in one message for (\d+) ms/.exec(v.stderr())?.[1]);
    expect(stuckMs, v.stderr()).toBeGreaterThanOrEqual(WATCHDOG_MS);
    expect(stuckMs, v.stderr()).toBeLessThanOrEqual(WATCHDOG_MS * 1.25 + 100);
    expect(parseMetrics(await v.metrics()).get(WATCHDOG)).toBe(1);
  }, 30_000);
});

process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
