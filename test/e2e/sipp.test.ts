// Self-test of the SIPp wrapper against real SIPp processes (no proxy involved).
import { afterEach, describe, expect, it } from 'vitest';
import { freePorts, releasePorts, runSipp, startSipp, type SippProcess } from './harness.js';

const LOOPBACK = '127.0.0.1';

describe('SIPp wrapper', () => {
  let ports: number[] = [];
  let uas: SippProcess | undefined;

  afterEach(async () => {
    await uas?.stop().catch(() => undefined);
    uas = undefined;
    releasePorts(ports);
  });

  it('runs 200 calls uac -> uas at 100 calls/s and reports every message', async () => {
    ports = await freePorts(2);
    const [uasPort, uacPort] = ports as [number, number];
    uas = startSipp({ scenario: 'uas', localIp: LOOPBACK, localPort: uasPort });
    await uas.ready;

    const uac = await runSipp({
      scenario: 'uac',
      remote: `${LOOPBACK}:${uasPort}`,
      localIp: LOOPBACK,
      localPort: uacPort,
      rate: 100,
      calls: 200,
      timeoutMs: 60_000,
    });
    expect(uac).toMatchObject({ exitCode: 0, timedOut: false, created: 200, successful: 200, failed: 0, failures: {} });
    expect(uac.messages.map((m) => [m.kind, m.name, m.count])).toEqual([
      ['send', 'INVITE', 200],
      ['recv', '100', 0], // optional in the scenario; SIPp's uas sends none
      ['recv', '180', 200],
      ['recv', '183', 0],
      ['recv', '200', 200],
      ['send', 'ACK', 200],
      ['pause', 'Pause [0ms]', 200],
      ['send', 'BYE', 200],
      ['recv', '200', 200],
    ]);
    expect(uac.messages.every((m) => m.retrans === 0 && m.timeout === 0 && m.unexpected === 0)).toBe(true);
    expect(uac.responseTime?.count).toBe(200);
    expect(uac.responseTime!.p50).toBeLessThanOrEqual(uac.responseTime!.max);

    // SIGTERM: the uas stops at once (its calls are still in the 4 s closing pause) and
    // its counts come from the final screen on stdout.
    const server = await uas.stop();
    expect(server.created).toBe(200);
    expect(server.messages.filter((m) => m.kind !== 'pause').map((m) => [m.kind, m.name, m.count])).toEqual([
      ['recv', 'INVITE', 200],
      ['send', '180', 200],
      ['send', '200', 200],
      ['recv', 'ACK', 200],
      ['recv', 'BYE', 200],
      ['send', '200', 200],
    ]);
  }, 60_000);

  it('returns a result with the failure reason when calls fail (SIPp exits 1)', async () => {
    ports = await freePorts(2);
    const [deadPort, uacPort] = ports as [number, number];
    const uac = await runSipp({
      scenario: 'uac',
      remote: `${LOOPBACK}:${deadPort}`,
      localIp: LOOPBACK,
      localPort: uacPort,
      rate: 10,
      calls: 2,
      extraArgs: ['-max_invite_retrans', '1'], // give up after 0.5 + 1 s
      timeoutMs: 30_000,
    });
    expect(uac).toMatchObject({ exitCode: 1, created: 2, successful: 0, failed: 2, failures: { MaxUDPRetrans: 2 } });
    expect(uac.messages[0]).toMatchObject({ name: 'INVITE', sent: 2, retrans: 2, timeout: 2 });
    expect(uac.errors.length).toBeGreaterThan(0);
  }, 30_000);

  it('rejects with SIPp stderr when its port is taken', async () => {
    ports = await freePorts(1);
    const [port] = ports as [number];
    uas = startSipp({ scenario: 'uas', localIp: LOOPBACK, localPort: port });
    await uas.ready;
    await expect(runSipp({ scenario: 'uac', remote: `${LOOPBACK}:${port}`, localIp: LOOPBACK, localPort: port, calls: 1 })).rejects.toThrow(
      /Address already in use/,
    );
    const second = startSipp({ scenario: 'uas', localIp: LOOPBACK, localPort: port });
    await expect(second.ready).rejects.toThrow(/Address already in use/);
  }, 30_000);
});
