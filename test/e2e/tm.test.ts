// tm end to end: stateful relaying through KSR.tm with real SIPp on both sides (and a small
// scriptable UAS where SIPp cannot play the part): seed 002's AVP behaviour, retransmissions
// absorbed, branch timeouts, failure routes, CANCEL.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { request, tmRig } from './tm-uas.js';
import { describeSippRun, runSipp, sippCounts, startSipp } from './harness.js';

const LOOPBACK = '127.0.0.1';
const UAC = fileURLToPath(new URL('./scenarios/tm-uac.xml', import.meta.url));
const UAS = fileURLToPath(new URL('./scenarios/tm-uas.xml', import.meta.url));


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
  const rig = tmRig();

  // workers 2: requests and replies of a call reach the Call-ID's worker, which owns its transactions
  it.each([1, 2])('seed 002, --workers %i: the INVITE\'s AVP is seen in the onreply route for 100/180/200, <null> for ACK, BYE and the BYE\'s 200', async (workers) => {
    const [proxyPort, uasPort, uacPort] = await rig.freePorts(3) as [number, number, number];
    const viaduct = await rig.start({ script: seed002(uasPort), listen: [`udp:${LOOPBACK}:${proxyPort}`], workers, modparams: ['tm:wt_timer=300'] });
    const uas = rig.sipp(startSipp({ scenario: UAS, localIp: LOOPBACK, localPort: uasPort }));
    await uas.ready;
    const calls = 5;
    const uac = await runSipp({ scenario: UAC, remote: `${LOOPBACK}:${proxyPort}`, localIp: LOOPBACK, localPort: uacPort, rate: 5, calls, timeoutMs: 30_000 });
    const server = await uas.stop({ graceful: true, graceMs: 3000 });
    const report = `${describeSippRun('uac', uac)}\n${describeSippRun('uas', server)}\nviaduct stderr:\n${viaduct.stderr().slice(-3000)}`;
    expect(uac, report).toMatchObject({ created: calls, successful: calls, failed: 0 });
    // the proxy's own 100 once per call (the uas's 100 is hop by hop), every INVITE reaches the uas once
    expect(sippCounts(uac), report).toEqual([
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

describe('tm: retransmissions, serial forking, CANCEL (a scriptable UA)', () => {
  const rig = tmRig();

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('failover: 486, then a branch timeout, then an answer; the proxy ACKs the 486; a retransmitted INVITE reaches each callee once', async () => {
    const [proxy, busy, silent, good, caller] = await rig.freePorts(5) as [number, number, number, number, number];
    const script = `
function ksr_request_route() {
  if (KSR.is_ACK()) { KSR.tm.t_relay(); return; }
  KSR.pv.sets("$avp(leg)", "1");
  KSR.tm.t_on_failure("NEXT");
  KSR.tm.t_relay_to_proxy("udp:127.0.0.1:${busy}");
}
function NEXT() {
  const leg = KSR.pv.get("$avp(leg)");
  KSR.xlog.xerr("failure leg=" + leg + " code=$T_reply_code timeout=" + KSR.tm.t_branch_timeout() + " replied=" + KSR.tm.t_branch_replied() + "\\n");
  if (leg === "1") { KSR.pv.sets("$avp(leg)", "2"); KSR.tm.t_on_failure("NEXT"); KSR.tm.t_relay_to_proxy("udp:127.0.0.1:${silent}"); }
  else if (leg === "2") { KSR.pv.sets("$avp(leg)", "3"); KSR.tm.t_relay_to_proxy("udp:127.0.0.1:${good}"); }
}
`;
    const viaduct = await rig.start({ script, listen: [`udp:${LOOPBACK}:${proxy}`], workers: 1, modparams: ['tm:fr_timer=700', 'tm:fr_inv_timer=700', 'tm:wt_timer=500'] });
    const [b, s, g, c] = await rig.open([busy, 'reject486'], [silent, 'silent'], [good, 'answer'], [caller, null]);
    const inv = request('INVITE', `sip:callee@127.0.0.1:${good}`, caller, 'z9hG4bKcall1', 'failover-1', 1);
    c.send(inv, proxy);
    await sleep(30);
    c.send(inv, proxy); // a retransmission: absorbed
    expect(await c.waitFor('SIP/2.0 200', 1, 5000), viaduct.stderr()).toBe(true);
    const report = `caller got: ${c.received.map((m) => m.first).join(' | ')}\n${viaduct.stderr().slice(-2000)}`;
    // the busy trunk: one INVITE (the retransmission absorbed), the proxy's ACK for its 486 with the proxy's Via only
    expect(b.got('INVITE').length, report).toBe(1);
    expect(await b.waitFor('ACK', 1, 1000), report).toBe(true);
    const ack = b.got('ACK')[0]!.text;
    expect(ack.match(/^Via:/gm)?.length, ack).toBe(1);
    expect(ack, ack).toMatch(/^To: .*;tag=b\d+/m);
    // the silent trunk: INVITE retransmitted by timer A (500 ms) before fr_inv_timer (700 ms) ends it
    expect(s.got('INVITE').length, report).toBe(2);
    expect(g.got('INVITE').length, report).toBe(1);
    expect(c.got('SIP/2.0 100').length, report).toBeGreaterThanOrEqual(1);
    expect(c.got('SIP/2.0 4').length, report).toBe(0); // no negative reply went upstream
    const lines = viaduct.stderr().split('\n').filter((l) => l.includes('failure leg=')).map((l) => l.slice(l.indexOf('failure leg=')));
    expect(lines, report).toEqual(['failure leg=1 code=486 timeout=-1 replied=1', 'failure leg=2 code=408 timeout=1 replied=-1']);
    // the ACK of the 2xx goes end to end, statelessly, to the callee
    c.send(request('ACK', `sip:callee@127.0.0.1:${good}`, caller, 'z9hG4bKack1', 'failover-1', 1, `r${good}`), proxy);
    expect(await g.waitFor('ACK', 1, 2000), report).toBe(true);
  }, 30_000);

  it('CANCEL: the caller gets 200 for the CANCEL and the 487, the ringing callee gets the proxy\'s CANCEL and ACK', async () => {
    const [proxy, callee, caller] = await rig.freePorts(3) as [number, number, number];
    const script = `function ksr_request_route() { KSR.tm.t_relay_to_proxy("udp:127.0.0.1:${callee}"); }\n`;
    const viaduct = await rig.start({ script, listen: [`udp:${LOOPBACK}:${proxy}`], workers: 1, modparams: ['tm:wt_timer=500'] });
    const [r, c] = await rig.open([callee, 'ring'], [caller, null]);
    const ruri = `sip:callee@127.0.0.1:${callee}`;
    c.send(request('INVITE', ruri, caller, 'z9hG4bKinv2', 'cancel-1', 1), proxy);
    expect(await c.waitFor('SIP/2.0 180', 1, 3000)).toBe(true);
    c.send(request('CANCEL', ruri, caller, 'z9hG4bKinv2', 'cancel-1', 1), proxy);
    expect(await c.waitFor('SIP/2.0 487', 1, 3000), viaduct.stderr()).toBe(true);
    const report = `caller got: ${c.received.map((m) => m.first).join(' | ')}\ncallee got: ${r.received.map((m) => m.first).join(' | ')}`;
    expect(c.received.map((m) => `${m.first} ${/^CSeq: (.*)$/m.exec(m.text)?.[1]}`), report).toEqual([
      'SIP/2.0 100 Trying 1 INVITE', 'SIP/2.0 180 Ringing 1 INVITE', 'SIP/2.0 200 canceling 1 CANCEL', 'SIP/2.0 487 Request Terminated 1 INVITE',
    ]);
    // the caller's ACK for the 487 is absorbed by the proxy (hop by hop)
    c.send(request('ACK', ruri, caller, 'z9hG4bKinv2', 'cancel-1', 1, `r${callee}`), proxy);
    expect(await r.waitFor('ACK', 1, 2000), report).toBe(true);
    await sleep(200);
    const cancel = r.got('CANCEL');
    const acks = r.got('ACK');
    expect([r.got('INVITE').length, cancel.length, acks.length], report).toEqual([1, 1, 1]);
    const inviteBranch = /branch=([^;\r\n]+)/.exec(r.got('INVITE')[0]!.text)![1];
    for (const m of [...cancel, ...acks]) {
      expect(m.text.match(/^Via:/gm)?.length, m.text).toBe(1);
      expect(/branch=([^;\r\n]+)/.exec(m.text)![1], m.text).toBe(inviteBranch);
    }
  }, 30_000);
});
