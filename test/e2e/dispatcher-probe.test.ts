// dispatcher probing on the wire: the OPTIONS leave from viaduct's SIP address:port (carriers
// that accept only that drop anything else), an answered destination stays up, a silent one is
// retransmitted to per timer E (T1, 2*T1 ...) until ds_ping_fr_timer and goes down after
// ds_probing_threshold timeouts. Destinations are plain UDP sockets, so every datagram is seen.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseMessage } from '../../src/core/sip/parser.js';
import { freePorts, startViaduct, stopAll, UdpListener, type Datagram, type ViaductProcess } from './harness.js';

const IP = '127.0.0.1';
const FR_TIMER = 2000; // timer E fires at 500 and 1500 ms before it

type List = { RECORDS: { SET: { TARGETS: { DEST: { URI: string; FLAGS: string } }[] } }[] };

/** A probe as it arrived: when, from where, its branch. */
interface Seen { at: number; from: string; via: string; branch: string; method: string }

function record(listener: UdpListener, seen: Seen[], answer: boolean): void {
  listener.socket.on('message', (data: Buffer, rinfo) => {
    const msg = parseMessage(data);
    const via = msg.topVia();
    seen.push({ at: performance.now(), from: `${rinfo.address}:${rinfo.port}`, via: `${via.host}:${via.port}`, branch: via.branch!, method: msg.method });
    if (!answer) return;
    // a UAS's 200: the request's Via, From, To (tagged), Call-ID and CSeq, back to the source (rport)
    const lines = data.toString('latin1').split('\r\n');
    const copy = lines.filter((l) => /^(Via|From|Call-ID|CSeq):/i.test(l));
    const to = lines.find((l) => /^To:/i.test(l))!;
    listener.socket.send(`SIP/2.0 200 OK\r\n${copy.join('\r\n')}\r\n${to};tag=up\r\nContent-Length: 0\r\n\r\n`, rinfo.port, rinfo.address);
  });
}

describe('dispatcher probing from the SIP socket', () => {
  let ports: number[] = [];
  let viaduct: ViaductProcess | undefined;
  let listeners: UdpListener[] = [];
  let dir: string | undefined;

  afterEach(async () => {
    await Promise.all(listeners.map((l) => l.close()));
    listeners = [];
    await stopAll([], viaduct, ports);
    viaduct = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it.each([
    { name: 'native UDP, two workers', workers: 2, env: {} },
    { name: 'node:dgram, one worker', workers: 1, env: { VIADUCT_UDP: 'dgram' } },
  ])('$name: probes leave from the listening port, retransmit per timer E, and the thresholds hold', async ({ workers, env }) => {
    ports = await freePorts(3);
    const [proxyPort, upPort, downPort] = ports as [number, number, number];
    const up = await UdpListener.open(IP, upPort);
    const down = await UdpListener.open(IP, downPort);
    listeners = [up, down];
    const upSeen: Seen[] = [];
    const downSeen: Seen[] = [];
    record(up, upSeen, true);
    record(down, downSeen, false);
    dir = mkdtempSync(join(tmpdir(), 'viaduct-probe-e2e-'));
    const list = join(dir, 'dispatcher.list');
    writeFileSync(list, `1 sip:${IP}:${upPort} 8\n1 sip:${IP}:${downPort} 8\n`);
    viaduct = await startViaduct({
      script: 'function ksr_request_route() { KSR.sl.sl_send_reply(404, "Not here"); }\n',
      listen: [`udp:${IP}:${proxyPort}`],
      workers,
      env: { ...process.env, ...env },
      modparams: [`dispatcher:list_file=${list}`, 'dispatcher:ds_ping_interval=1', 'dispatcher:ds_probing_threshold=2',
        `dispatcher:ds_ping_fr_timer=${FR_TIMER}`],
    });
    const v = viaduct;
    const flags = async (port: number) =>
      (await v.rpc<List>('dispatcher.list')).RECORDS[0]!.SET.TARGETS.find((t) => t.DEST.URI.endsWith(`:${port}`))!.DEST.FLAGS;
    const states: string[] = [];
    const t0 = performance.now();
    let wentDown = 0;
    while (performance.now() - t0 < 12_000) { // first round at 1 s, timeouts at 3 s and 5 s
      const [u, d] = [await flags(upPort), await flags(downPort)];
      states.push(`${Math.round(performance.now() - t0)}: ${u} ${d}`);
      expect(u, states.join('\n')).toBe('AP'); // answered: never even trying
      if (d.startsWith('I')) { wentDown = performance.now(); break; }
      await new Promise((r) => setTimeout(r, 50));
    }
    const report = `${states.join('\n')}\ndown: ${JSON.stringify(downSeen)}\nup: ${JSON.stringify(upSeen)}`;
    expect(wentDown, report).toBeGreaterThan(0);
    // one timeout only makes it "trying"; the second (threshold 2) takes it down
    expect(states.some((s) => s.endsWith(' TP')), report).toBe(true);
    const branches = [...new Set(downSeen.map((s) => s.branch))];
    const timedOut = branches.filter((b) => downSeen.find((s) => s.branch === b)!.at + FR_TIMER <= wentDown);
    expect(timedOut.length, report).toBe(2);

    // every probe left from viaduct's SIP socket and says so in its Via
    for (const s of [...upSeen, ...downSeen]) {
      expect(s.from, report).toBe(`${IP}:${proxyPort}`);
      expect(s.via, report).toBe(`${IP}:${proxyPort}`);
      expect(s.method).toBe('OPTIONS');
    }
    // the silent one: the request at 0, then T1 and 2*T1 later (timer E), then timer F at 2 s
    const first = downSeen.filter((s) => s.branch === branches[0]);
    const gaps = first.map((s) => Math.round(s.at - first[0]!.at));
    expect(gaps.length, report).toBe(3);
    // (times are taken where the datagrams arrive: a late first arrival makes a gap look short)
    expect(gaps[1], report).toBeGreaterThanOrEqual(400);
    expect(gaps[1], report).toBeLessThan(500 + 400);
    expect(gaps[2]! - gaps[1]!, report).toBeGreaterThanOrEqual(900); // doubled: 2*T1
    expect(gaps[2], report).toBeGreaterThanOrEqual(1400);
    expect(gaps[2], report).toBeLessThan(1500 + 400);
    // the answered one: one datagram per probe (the 200 stopped timer E), one probe a second
    expect(upSeen.length, report).toBeGreaterThanOrEqual(3);
    expect(new Set(upSeen.map((s) => s.branch)).size, report).toBe(upSeen.length);

    // the replies were taken for the probes, not forwarded or dropped as strays
    const metrics = await v.metrics();
    expect(metrics).toMatch(new RegExp(`viaduct_dispatcher_destination_up\\{set="1",destination="sip:${IP.replace(/\./g, '\\.')}:${upPort}"\\} 1`));
  }, 60_000);
});
