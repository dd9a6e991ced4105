// dispatcher end to end: SIPp uac -> viaduct (ds_select_dst) -> three SIPp uas in set 1.
// Shares are counted at the uas; hashing is proved by in-dialog requests that are hashed again
// (a BYE that reached another uas would fail the call); probing by killing and restarting a uas.
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { repoPath } from '../../bench/paths.js';
import { freePorts, runSipp, startSipp, startViaduct, stopAll, type SippProcess, type SippResult, type ViaductProcess } from './harness.js';

const LOOPBACK = '127.0.0.1';
const UAC_RR = repoPath('bench/sipp/uac-rr.xml');
const UAS_RR = repoPath('bench/sipp/uas-rr.xml');

/** Initial INVITEs pick a uas with `alg` and record-route; in-dialog requests follow the Route. */
const balancer = (alg: number) => `
function ksr_request_route() {
  if (KSR.siputils.has_totag() > 0) {
    if (KSR.rr.loose_route() > 0) { KSR.forward(); return; }
    KSR.sl.sl_send_reply(404, "Not here");
    return;
  }
  if (KSR.dispatcher.ds_select_dst(1, ${alg}) < 0) { KSR.sl.sl_send_reply(503, "No destination"); return; }
  KSR.rr.record_route();
  KSR.forward();
}
`;

/** Every request, in-dialog ones too, hashed by Call-ID: only the hash keeps a call together. */
const HASH_EVERYTHING = `
function ksr_request_route() {
  if (KSR.dispatcher.ds_select_dst(1, 0) < 0) { KSR.sl.sl_send_reply(503, "No destination"); return; }
  KSR.forward();
}
`;

const received = (r: SippResult, name: string) => r.messages.find((m) => m.kind === 'recv' && m.name === name)?.count ?? 0;
const summary = (label: string, r: SippResult) =>
  `${label}: created=${r.created} ok=${r.successful} failed=${r.failed} ${JSON.stringify(r.failures)} ` +
  r.messages.filter((m) => m.kind !== 'pause').map((m) => `${m.kind} ${m.name}=${m.count}`).join(' ');

describe('dispatcher: uac -> viaduct -> three uas', () => {
  let ports: number[] = [];
  let uases: (SippProcess | undefined)[] = [];
  let viaduct: ViaductProcess | undefined;
  let dir: string | undefined;

  afterEach(async () => {
    try {
      await stopAll(uases, viaduct, ports);
    } finally {
      uases = [];
      viaduct = undefined;
      ports = [];
      if (dir) rmSync(dir, { recursive: true, force: true });
      dir = undefined;
    }
  });

  async function setup(opts: { script: string; list: (uasPorts: number[]) => string; workers: number; uasScenario: string; modparams?: string[] }) {
    ports = await freePorts(5);
    const [proxyPort, uacPort, ...uasPorts] = ports as [number, number, number, number, number];
    dir = mkdtempSync(join(tmpdir(), 'viaduct-ds-e2e-'));
    const listFile = join(dir, 'dispatcher.list');
    writeFileSync(listFile, opts.list(uasPorts));
    viaduct = await startViaduct({
      script: opts.script,
      listen: [`udp:${LOOPBACK}:${proxyPort}`],
      workers: opts.workers,
      warmUp: true, // SIPp starts at full rate
      modparams: [`dispatcher:list_file=${listFile}`, ...(opts.modparams ?? [])],
    });
    const startUas = (port: number) => startSipp({ scenario: opts.uasScenario, localIp: LOOPBACK, localPort: port, autoAnswer: true });
    uases = uasPorts.map(startUas);
    await Promise.all(uases.map((u) => u!.ready));
    return { proxyPort, uacPort, uasPorts, listFile, startUas };
  }

  const uac = (proxyPort: number, uacPort: number, scenario: string, calls: number, rate: number) =>
    runSipp({ scenario, remote: `${LOOPBACK}:${proxyPort}`, localIp: LOOPBACK, localPort: uacPort, rate, calls, timeoutMs: 90_000 });

  async function stopUases(): Promise<SippResult[]> {
    const out = await Promise.all(uases.map((u) => u!.stop({ graceful: true, graceMs: 2000 })));
    uases = [];
    return out;
  }

  it.each([
    { name: 'round-robin (4)', alg: 4, weights: ['', '', ''], shares: [1 / 3, 1 / 3, 1 / 3], workers: 2 },
    { name: 'weight (9)', alg: 9, weights: ['weight=50', 'weight=30', 'weight=20'], shares: [0.5, 0.3, 0.2], workers: 1 },
  ])('$name: 10,000 calls reach their target shares within 3%', async ({ alg, weights, shares, workers }) => {
    const { proxyPort, uacPort } = await setup({
      script: balancer(alg), workers, uasScenario: UAS_RR,
      list: (p) => p.map((port, i) => `1 sip:${LOOPBACK}:${port} 0 0 ${weights[i]}`.trim()).join('\n') + '\n',
    });
    const calls = 10_000;
    const client = await uac(proxyPort, uacPort, UAC_RR, calls, 2000);
    const servers = await stopUases();
    const report = [summary('uac', client), ...servers.map((s, i) => summary(`uas${i + 1}`, s))].join('\n');
    console.log(report);
    expect(client, report).toMatchObject({ created: calls, successful: calls, failed: 0 });
    servers.forEach((s, i) => {
      const invites = received(s, 'INVITE');
      expect(Math.abs(invites - shares[i]! * calls), report).toBeLessThanOrEqual(0.03 * shares[i]! * calls);
      expect(received(s, 'BYE'), report).toBe(invites); // the in-dialog requests found the same uas
    });
    const selections = (await viaduct!.metrics()).split('\n').filter((l) => l.startsWith('viaduct_dispatcher_selections_total'));
    const total = selections.reduce((a, l) => a + Number(l.split(' ').pop()), 0);
    expect(total, selections.join('\n')).toBe(calls);
  }, 120_000);

  it('Call-ID hashing (0) sends every message of a call to one uas, spread over all three', async () => {
    const { proxyPort, uacPort } = await setup({
      script: HASH_EVERYTHING, workers: 2, uasScenario: 'uas',
      list: (p) => p.map((port) => `1 sip:${LOOPBACK}:${port}`).join('\n') + '\n',
    });
    const calls = 3000;
    const client = await uac(proxyPort, uacPort, 'uac', calls, 1000);
    const servers = await stopUases();
    const report = [summary('uac', client), ...servers.map((s, i) => summary(`uas${i + 1}`, s))].join('\n');
    console.log(report);
    expect(client, report).toMatchObject({ created: calls, successful: calls, failed: 0 });
    for (const s of servers) {
      const invites = received(s, 'INVITE');
      expect(invites, report).toBeGreaterThan(calls / 3 * 0.8);
      expect(received(s, 'ACK'), report).toBe(invites);
      expect(received(s, 'BYE'), report).toBe(invites);
    }
  }, 120_000);

  it('under Call-ID hashing a uas killed mid-run takes only its own calls: calls bound for live ones never move', async () => {
    const { proxyPort, uacPort } = await setup({
      script: HASH_EVERYTHING, workers: 2, uasScenario: 'uas',
      list: (p) => p.map((port) => `1 sip:${LOOPBACK}:${port} 8`).join('\n') + '\n',
      modparams: ['dispatcher:ds_ping_interval=1', 'dispatcher:ds_ping_fr_timer=400'],
    });
    // calls held 2 s between ACK and BYE, so many are up when the uas dies
    const rate = 100;
    const client = startSipp({ scenario: 'uac', remote: `${LOOPBACK}:${proxyPort}`, localIp: LOOPBACK, localPort: uacPort, rate, calls: 6 * rate, extraArgs: ['-d', '2000'] });
    await client.ready;
    await new Promise((r) => setTimeout(r, 2500));
    process.kill(uases[1]!.pid, 'SIGKILL');
    await uases[1]!.result.catch(() => undefined);
    uases[1] = undefined;
    await new Promise((r) => setTimeout(r, 3500 + 2000 + 500)); // the rest placed, the last ones ended
    const calls = await client.stop({ graceful: true, graceMs: 2000 });
    const live = await Promise.all([uases[0]!, uases[2]!].map((u) => u.stop({ graceful: true, graceMs: 2000 })));
    uases = [];
    const report = [summary('uac', calls), summary('uas1', live[0]!), summary('uas3', live[1]!)].join('\n');
    console.log(report);
    for (const s of live) {
      // every call that reached a live uas ended there: its ACK and BYE were not hashed anywhere
      // else. (The dead uas's BYEs, hashed to the live ones once it is inactive, show up there
      // as calls that start with an unexpected BYE: SIPp counts those as failed.)
      expect(received(s, 'INVITE'), report).toBeGreaterThan(100);
      expect(received(s, 'ACK'), report).toBe(received(s, 'INVITE'));
      expect(received(s, 'BYE'), report).toBe(received(s, 'INVITE'));
    }
    // the kill happened: the dead uas had taken its share of the INVITEs before it died
    expect(received(live[0]!, 'INVITE') + received(live[1]!, 'INVITE'), report).toBeLessThan(calls.created);
    // calls lost can only be the dead uas's: at most a third of what was up or starting while it
    // died (often none: its INVITEs' retransmissions and BYEs are re-hashed once it is marked
    // inactive, and SIPp's uas answers a BYE it does not know with 200)
    expect(calls.created - calls.successful, report).toBeLessThan(calls.created / 3);
  }, 120_000);

  it('dispatcher.reload during a 500 calls/s run changes the sets with 0 failed calls; a bad list is refused and the sets stay', async () => {
    const { proxyPort, uacPort, uasPorts, listFile } = await setup({
      script: balancer(4), workers: 2, uasScenario: UAS_RR,
      list: (p) => `1 sip:${LOOPBACK}:${p[0]}\n1 sip:${LOOPBACK}:${p[1]}\n`,
    });
    const v = viaduct!;
    const run = uac(proxyPort, uacPort, UAC_RR, 3000, 500);
    await new Promise((r) => setTimeout(r, 2000));
    writeFileSync(listFile, `# uas1 out, uas3 in\n1 sip:${LOOPBACK}:${uasPorts[1]}\n1 sip:${LOOPBACK}:${uasPorts[2]}\n`);
    expect(await v.rpc('dispatcher.reload')).toBe('Ok. Dispatcher successfully reloaded.');
    await new Promise((r) => setTimeout(r, 1500));
    writeFileSync(listFile, `1 sip:${LOOPBACK}:${uasPorts[0]}\nbroken line here\n`);
    await expect(v.rpc('dispatcher.reload')).rejects.toThrow(/Reload Failed: .*dispatcher\.list:2: set id "broken" is not an integer/);
    const client = await run;
    const servers = await stopUases();
    const report = [summary('uac', client), ...servers.map((s, i) => summary(`uas${i + 1}`, s))].join('\n');
    console.log(report);
    expect(client, report).toMatchObject({ created: 3000, successful: 3000, failed: 0 });
    const [a, b, c] = servers.map((s) => received(s, 'INVITE'));
    expect(a! + b! + c!, report).toBe(3000);
    // uas1: its half of what the uac placed before the reload (under 2 s: SIPp takes a moment to
    // start), nothing after it; without the reload it would have had 1500
    expect(a, report).toBeGreaterThan(250);
    expect(a, report).toBeLessThan(750);
    expect(c, report).toBeGreaterThan(500);  // half of the last ~4 s, the bad reload changed nothing
    const list = await v.rpc<{ RECORDS: { SET: { TARGETS: { DEST: { URI: string } }[] } }[] }>('dispatcher.list');
    expect(list.RECORDS[0]!.SET.TARGETS.map((t) => t.DEST.URI).sort()).toEqual([`sip:${LOOPBACK}:${uasPorts[1]}`, `sip:${LOOPBACK}:${uasPorts[2]}`].sort());
  }, 120_000);

  it('dispatcher.set_state takes effect in every worker at once', async () => {
    const { proxyPort, uacPort, uasPorts } = await setup({
      script: balancer(4), workers: 2, uasScenario: UAS_RR,
      list: (p) => p.map((port) => `1 sip:${LOOPBACK}:${port}`).join('\n') + '\n',
    });
    const v = viaduct!;
    expect(await v.rpc('dispatcher.set_state', 'i', 1, `sip:${LOOPBACK}:${uasPorts[0]}`)).toBe('Ok. Dispatcher state updated.');
    await expect(v.rpc('dispatcher.set_state', 'x', 1, 'all')).rejects.toThrow(/Unknown State Value/);
    // the very next calls, spread over both workers by Call-ID, avoid it
    const client = await uac(proxyPort, uacPort, UAC_RR, 600, 300);
    expect(await v.rpc('dispatcher.set_state', 'a', 1, 'all')).toBe('Ok. Dispatcher state updated.');
    const again = await uac(proxyPort, uacPort, UAC_RR, 300, 300);
    const servers = await stopUases();
    const report = [summary('uac', client), summary('uac', again), ...servers.map((s, i) => summary(`uas${i + 1}`, s))].join('\n');
    expect(client, report).toMatchObject({ created: 600, successful: 600, failed: 0 });
    // uas1: none of the first 600 (it would have had 200), its third of the last 300; the other
    // two share the rest evenly (a turn and its skip past uas1 are one atomic step on the shared
    // round-robin position, so the two workers cannot drift the shares apart)
    const [a, b, c] = servers.map((s) => received(s, 'INVITE'));
    expect(Math.abs(a! - 100), report).toBeLessThanOrEqual(3);
    expect(Math.abs(b! - 400), report).toBeLessThanOrEqual(3);
    expect(a! + b! + c!, report).toBe(900);
  }, 120_000);

  it('a dead uas is marked inactive by probing within interval x threshold + 1 s, skipped, and comes back', async () => {
    const interval = 1;
    const threshold = 2;
    // the event routes log what they see: the event name and the destination as $ru
    const events = 'function ksr_dispatcher_event(name) { KSR.err("EVENT " + name + " " + KSR.pv.get("$ru")); }\n';
    const { proxyPort, uacPort, uasPorts, startUas } = await setup({
      script: balancer(4) + events, workers: 1, uasScenario: UAS_RR,
      list: (p) => p.map((port) => `1 sip:${LOOPBACK}:${port} 8`).join('\n') + '\n', // 8: probing
      modparams: [`dispatcher:ds_ping_interval=${interval}`, `dispatcher:ds_probing_threshold=${threshold}`, 'dispatcher:ds_ping_fr_timer=400',
        'dispatcher:event_callback=ksr_dispatcher_event'],
    });
    const v = viaduct!;
    type List = { RECORDS: { SET: { TARGETS: { DEST: { URI: string; FLAGS: string } }[] } }[] };
    const flagsOf = async (port: number) =>
      (await v.rpc<List>('dispatcher.list')).RECORDS[0]!.SET.TARGETS.find((t) => t.DEST.URI.endsWith(`:${port}`))!.DEST.FLAGS;
    const waitFor = async (port: number, want: RegExp, limitMs: number) => {
      const t0 = Date.now();
      for (;;) {
        const f = await flagsOf(port);
        if (want.test(f)) return Date.now() - t0;
        if (Date.now() - t0 > limitMs) throw new Error(`${port} still ${f} after ${limitMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await waitFor(uasPorts[1]!, /^AP$/, 3000);

    // kill the second uas during a run; probing must notice within interval x threshold + 1 s
    const rate = 200;
    const startedAt = Date.now();
    const running = startSipp({ scenario: UAC_RR, remote: `${LOOPBACK}:${proxyPort}`, localIp: LOOPBACK, localPort: uacPort, rate, calls: 6 * rate });
    await running.ready;
    await new Promise((r) => setTimeout(r, 1500));
    const victim = uases[1]!;
    const killedAt = Date.now();
    process.kill(victim.pid, 'SIGKILL');
    await victim.result.catch(() => undefined);
    uases[1] = undefined;
    await waitFor(uasPorts[1]!, /^I/, (interval * threshold + 1) * 1000 + 2000);
    const downMs = Date.now() - killedAt; // to the poll that saw it (polls are 50 ms apart)
    console.log(`uas2 marked inactive ${downMs} ms after the kill`);
    expect(downMs).toBeLessThanOrEqual((interval * threshold + 1) * 1000);
    // At most the calls it held or was given before it was marked can fail: a third of those
    // started while it was undetected, plus those in progress when it died. (Most survive: the
    // uac retransmits an unanswered INVITE and round-robin gives it to another uas.) A call
    // whose BYE went to the dead uas would wait out SIPp's timers, so the uac is stopped once
    // its calls are placed and its last calls had time to end.
    await new Promise((r) => setTimeout(r, Math.max(0, 6000 + 1500 - (Date.now() - startedAt))));
    const first = await running.stop({ graceful: true, graceMs: 2000 });
    console.log(summary('uac during the kill', first));
    expect(first.created, summary('uac', first)).toBe(6 * rate);
    expect(first.created - first.successful, summary('uac', first)).toBeLessThanOrEqual(Math.ceil((rate / 3) * (downMs / 1000 + 1)));

    // new calls go to the two live uas only: none fails
    const during = await uac(proxyPort, uacPort, UAC_RR, 300, 200);
    expect(during, summary('uac', during)).toMatchObject({ created: 300, successful: 300, failed: 0 });

    // restart it: active again within an interval (+ a second), then it takes calls again
    uases[1] = startUas(uasPorts[1]!);
    await uases[1].ready;
    const upMs = await waitFor(uasPorts[1]!, /^AP$/, (interval + 1) * 1000 + 1000);
    console.log(`uas2 active again ${upMs} ms after its restart`);
    const after = await uac(proxyPort, uacPort, UAC_RR, 300, 200);
    const metrics = await v.metrics();
    const servers = await stopUases();
    const report = [summary('uac', after), ...servers.map((s, i) => summary(`uas${i + 1}`, s))].join('\n');
    expect(after, report).toMatchObject({ created: 300, successful: 300, failed: 0 });
    expect(received(servers[1]!, 'INVITE'), report).toBe(100); // round-robin: its third of the calls
    expect(metrics).toMatch(new RegExp(`viaduct_dispatcher_probe_failures_total\\{set="1",destination="sip:127\\.0\\.0\\.1:${uasPorts[1]}"\\} [1-9]`));
    for (const port of uasPorts) expect(metrics).toContain(`viaduct_dispatcher_destination_up{set="1",destination="sip:127.0.0.1:${port}"} 1`);
    const log = v.stderr();
    const victimUri = `sip:${LOOPBACK}:${uasPorts[1]}`;
    expect(log).toContain(`EVENT dispatcher:dst-down ${victimUri}`);
    expect(log.indexOf(`EVENT dispatcher:dst-up ${victimUri}`), log).toBeGreaterThan(log.indexOf(`EVENT dispatcher:dst-down ${victimUri}`));
  }, 120_000);
});
