// tm end to end: stateful relaying through KSR.tm with real SIPp on both sides (and a small
// scriptable UAS where SIPp cannot play the part): seed 002's AVP behaviour, retransmissions
// absorbed, branch timeouts, failure routes, CANCEL.
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { freePorts, runSipp, startSipp, startViaduct, stopAll, type SippProcess, type SippResult, type ViaductProcess } from './harness.js';

const LOOPBACK = '127.0.0.1';
const UAC = fileURLToPath(new URL('./scenarios/tm-uac.xml', import.meta.url));
const UAS = fileURLToPath(new URL('./scenarios/tm-uas.xml', import.meta.url));

const counts = (r: SippResult) => r.messages.filter((m) => m.kind !== 'pause').map((m) => [m.kind, m.name, m.count]);
const describeRun = (label: string, r: SippResult) =>
  `${label}: created=${r.created} successful=${r.successful} failed=${r.failed} failures=${JSON.stringify(r.failures)}\n` +
  r.messages.map((m) => `  ${m.kind} ${m.name} count=${m.count} retrans=${m.retrans} timeout=${m.timeout} unexp=${m.unexpected}`).join('\n') +
  (r.errors.length ? `\n  errors: ${r.errors.slice(0, 3).map((e) => e.split('\n')[0]).join(' | ')}` : '');

/** Seed 002's transaction-stateful proxy (kamailio.cfg there), in KEMI JavaScript. */
const seed002 = (uasPort: number) => `
function ksr_request_route() {
  // the seed records the route of every request; in-dialog ones here follow their Route set
  // instead (the uas checks that the proxy's Route is gone, and SIPp's Route search sees Record-Route)
  if (KSR.siputils.has_totag() > 0) KSR.rr.loose_route(); else KSR.rr.record_route();
  if (KSR.is_method("REGISTER")) { KSR.sl.sl_send_reply(200, "ok"); KSR.x.exit(); }
  KSR.hdr.append("X-Proxied: You betcha\\r\\n");
  if (KSR.is_INVITE()) KSR.pv.sets("$avp(state_test_var)", "I remember");
  KSR.xlog.xerr('for $rm the value of AVP "state_test_var" is $avp(state_test_var) \\n');
  KSR.route("RELAY");
}
function RELAY() {
  KSR.tm.t_on_reply("OurReplyRoute");
  KSR.tm.t_relay_to_proto_addr("udp", "127.0.0.1", ${uasPort});
}
function OurReplyRoute() {
  KSR.xlog.xerr('for $rs response the value of AVP "state_test_var" is $avp(state_test_var) \\n');
  KSR.hdr.append("X-Proxied: For the reply\\r\\n");
}
`;

describe('tm: stateful relay', () => {
  let ports: number[] = [];
  let uas: SippProcess | undefined;
  let viaduct: ViaductProcess | undefined;

  afterEach(async () => {
    await stopAll([uas], viaduct, ports);
    uas = undefined;
    viaduct = undefined;
    ports = [];
  });

  it('seed 002: the INVITE\'s AVP is seen in the onreply route for 100/180/200, <null> for ACK, BYE and the BYE\'s 200', async () => {
    ports = await freePorts(3);
    const [proxyPort, uasPort, uacPort] = ports as [number, number, number];
    viaduct = await startViaduct({ script: seed002(uasPort), listen: [`udp:${LOOPBACK}:${proxyPort}`], workers: 1, modparams: ['tm:wt_timer=300'] });
    uas = startSipp({ scenario: UAS, localIp: LOOPBACK, localPort: uasPort });
    await uas.ready;
    const calls = 5;
    const uac = await runSipp({ scenario: UAC, remote: `${LOOPBACK}:${proxyPort}`, localIp: LOOPBACK, localPort: uacPort, rate: 5, calls, timeoutMs: 30_000 });
    const server = await uas.stop({ graceful: true, graceMs: 3000 });
    uas = undefined;
    const report = `${describeRun('uac', uac)}\n${describeRun('uas', server)}\nviaduct stderr:\n${viaduct.stderr().slice(-3000)}`;
    expect(uac, report).toMatchObject({ created: calls, successful: calls, failed: 0 });
    // the proxy's own 100 once per call (the uas's 100 is hop by hop), every INVITE reaches the uas once
    expect(counts(uac), report).toEqual([
      ['send', 'INVITE', calls], ['recv', '100', calls], ['recv', '180', calls], ['recv', '200', calls],
      ['send', 'ACK', calls], ['send', 'BYE', calls], ['recv', '200', calls],
    ]);
    expect(server, report).toMatchObject({ created: calls, successful: calls, failed: 0 });
    expect(server.messages.find((m) => m.name === 'INVITE')?.retrans ?? 0, report).toBe(0);

    const lines = viaduct.stderr().split('\n').map((l) => /for (\S+)(?: response)? the value of AVP "state_test_var" is (.*?) ?$/.exec(l)).filter((m) => m !== null)
      .map((m) => `${m[1]}=${m[2]}`);
    const tally = new Map<string, number>();
    for (const l of lines) tally.set(l, (tally.get(l) ?? 0) + 1);
    expect(Object.fromEntries(tally), report).toEqual({
      'INVITE=I remember': calls,
      '100=I remember': calls,
      '180=I remember': calls,
      '200=I remember': calls,
      'ACK=<null>': calls,
      'BYE=<null>': calls,
      '200=<null>': calls,
    });

    // every transaction (INVITE and BYE per call) ended after wt_timer
    await new Promise((r) => setTimeout(r, 800));
    const stats = await viaduct.rpc<Record<string, number>>('tm.stats');
    expect(stats, report).toMatchObject({ current: 0, waiting: 0, total: 2 * calls, created: 2 * calls, freed: 2 * calls });
    expect(stats['2xx'], report).toBe(2 * calls);
  }, 60_000);
});
