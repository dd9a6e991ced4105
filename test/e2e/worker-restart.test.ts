// A routing script that kills the worker thread running it (process.exit in a worker thread ends
// that thread only): the supervisor restarts the worker, counts the restart and the message it
// lost, and the server keeps carrying calls.
import { afterEach, describe, expect, it } from 'vitest';
import { callIdOwner as owner, freePorts, runSipp, sendUdp, startSipp, startViaduct, stopAll, type SippProcess, type ViaductProcess, parseMetrics } from './harness.js';

const LOOPBACK = '127.0.0.1';

const RESTARTS = 'viaduct_worker_restarts_total';
const LOST = 'viaduct_worker_lost_messages_total';

describe('worker restart', () => {
  let ports: number[] = [];
  let viaduct: ViaductProcess | undefined;
  let uas: SippProcess | undefined;

  afterEach(async () => {
    await stopAll([uas], viaduct, ports);
    uas = undefined;
    viaduct = undefined;
    ports = [];
  });

  /** Starts a uas and viaduct whose script kills its worker on an INVITE to `crash`. */
  async function serve(workers: number) {
    ports = await freePorts(3);
    const [proxyPort, uasPort, uacPort] = ports as [number, number, number];
    viaduct = await startViaduct({
      script: `
        function ksr_request_route() {
          if (KSR.pv.get("$rU") === "crash") { process.exit(1); }
          KSR.forward_uri("sip:127.0.0.1:${uasPort}");
        }
      `,
      listen: [`udp:${LOOPBACK}:${proxyPort}`],
      workers,
    });
    const v = viaduct;
    const metrics = async () => parseMetrics(await v.metrics());
    const until = async (what: string, ok: (m: Map<string, number>) => boolean, ms = 10_000) => {
      const deadline = Date.now() + ms;
      let m = await metrics();
      while (!ok(m)) {
        if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}: ${RESTARTS}=${m.get(RESTARTS)} ${LOST}=${m.get(LOST)}\n${v.stderr().slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 100));
        m = await metrics();
      }
      return m;
    };
    const crash = (callId: string) =>
      sendUdp(
        LOOPBACK,
        proxyPort,
        [
          `INVITE sip:crash@127.0.0.1:${proxyPort} SIP/2.0`,
          `Via: SIP/2.0/UDP 127.0.0.1:${uacPort};branch=z9hG4bK${callId}`,
          'From: <sip:killer@example.com>;tag=k1',
          `To: <sip:crash@127.0.0.1:${proxyPort}>`,
          `Call-ID: ${callId}`,
          'CSeq: 1 INVITE',
          'Max-Forwards: 70',
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n'),
      );
    const calls = async (n: number) => {
      const uac = await runSipp({ scenario: 'uac', remote: `${LOOPBACK}:${proxyPort}`, localIp: LOOPBACK, localPort: uacPort, rate: 50, calls: n, timeoutMs: 40_000 });
      return { uac, text: `created=${uac.created} successful=${uac.successful} failed=${uac.failed} ${JSON.stringify(uac.failures)}\n${v.stderr().slice(-2000)}` };
    };

    uas = startSipp({ scenario: 'uas', localIp: LOOPBACK, localPort: uasPort });
    await uas.ready;
    return { v, metrics, until, crash, calls };
  }

  it('restarts a worker whose script called process.exit(1) and keeps serving calls (--workers 2)', async () => {
    const { v, metrics, until, crash, calls } = await serve(2);
    const start = await metrics();
    expect(start.get(RESTARTS)).toBe(0);
    expect(start.get(LOST)).toBe(0);

    // Calls go through both workers before the crash.
    const warm = await calls(20);
    expect(warm.uac, warm.text).toMatchObject({ created: 20, successful: 20, failed: 0 });

    await crash('crash-1');
    const afterCrash = await until('the first restart', (m) => (m.get(RESTARTS) ?? 0) >= 1);
    expect(afterCrash.get(RESTARTS)).toBe(1);
    expect(afterCrash.get(LOST), v.stderr()).toBe(1);
    // The server process itself is still there, and says which worker died and came back.
    await until('the restarted worker', () => /restarted/.test(v.stderr()));
    expect(v.stderr()).toMatch(/worker \d+ died/);
    expect(await v.rpc('core.version')).toBeTruthy();

    const after = await calls(100);
    expect(after.uac, after.text).toMatchObject({ created: 100, successful: 100, failed: 0 });

    // Two more crashes: first on the worker that was just restarted (its new socket is now the
    // last one bound to the address, so the kernel may hand it the datagram directly rather than
    // through the receiving thread), then on the other one. Each lost message is counted.
    const first = owner('crash-1', 2);
    const ids = Array.from({ length: 50 }, (_, i) => `crash-${i + 2}`);
    const same = ids.find((id) => owner(id, 2) === first)!;
    const other = ids.find((id) => owner(id, 2) !== first)!;
    await crash(same);
    await until('the second restart', (m) => (m.get(RESTARTS) ?? 0) >= 2);
    await until('the restarted worker', () => (v.stderr().match(/restarted/g) ?? []).length >= 2);
    await crash(other);
    const end = await until('the third restart', (m) => (m.get(RESTARTS) ?? 0) >= 3);
    await until('the restarted worker', () => (v.stderr().match(/restarted/g) ?? []).length >= 3);
    expect(end.get(RESTARTS)).toBe(3);
    expect(end.get(LOST), `lost messages after 3 crashes (Call-IDs crash-1, ${same}, ${other})\n${v.stderr()}`).toBe(3);
    const last = await calls(100);
    expect(last.uac, last.text).toMatchObject({ created: 100, successful: 100, failed: 0 });

    const final = await metrics();
    console.log(
      `worker restart: ${RESTARTS}=${final.get(RESTARTS)} ${LOST}=${final.get(LOST)} ` +
        `worker_socket_rcv=${final.get('viaduct_worker_socket_rcv_total')} rcv_requests=${final.get('viaduct_core_rcv_requests_total')}`,
    );
    const status = await v.stop();
    viaduct = undefined;
    expect(status, v.stderr()).toEqual({ code: 0, signal: null });
  }, 90_000);

  it('with one worker, which reads the sockets itself: restarted, one message lost, calls go on', async () => {
    const { v, metrics, until, crash, calls } = await serve(1);
    const warm = await calls(20);
    expect(warm.uac, warm.text).toMatchObject({ created: 20, successful: 20, failed: 0 });
    await crash('crash-1');
    const m = await until('the restart', (x) => (x.get(RESTARTS) ?? 0) >= 1);
    await until('the restarted worker', () => /restarted/.test(v.stderr()));
    expect(m.get(RESTARTS)).toBe(1);
    expect(m.get(LOST), v.stderr()).toBe(1);
    const after = await calls(100);
    expect(after.uac, after.text).toMatchObject({ created: 100, successful: 100, failed: 0 });
    // the worker read every datagram itself: nothing went through a ring
    const end = await metrics();
    expect(end.get('viaduct_ring_handoffs_total')).toBe(0);
    expect(end.get('viaduct_worker_socket_rcv_total')).toBe(end.get('viaduct_core_rcv_requests_total')! + end.get('viaduct_core_rcv_replies_total')!);
  }, 60_000);
});
