// tm against RFC 3261 17 where Kamailio's tm does the same: timer G/H for a negative final sent
// upstream (local t_reply and relayed), timer E for the CANCEL we send a branch, and the failure
// route's new branch carrying the request route's header edits. Scriptable UAs over real UDP.
import { describe, expect, it } from 'vitest';
import { request, tmRig, type Msg, type Ua } from './tm-uas.js';

const LOOPBACK = '127.0.0.1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const seen = (u: Ua) => u.received.map((m) => m.first).join(' | ');
/** Arrival of each copy after the first, ms. */
const offsets = (ms: Msg[]) => ms.slice(1).map((m) => Math.round(m.at - ms[0]!.at));
const header = (text: string, name: string) => text.split('\r\n').filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));

/**
 * The copies came on the schedule of `intervals` (each the previous doubled, up to T2): arrival
 * offsets from the first copy near the sums of the intervals. Offsets, not gaps: one copy read late
 * by a loaded test process shortens the next gap but not the next offset.
 */
function expectSchedule(got: number[], intervals: number[], report: string): void {
  const want = intervals.map((_, i) => intervals.slice(0, i + 1).reduce((a, b) => a + b, 0));
  const what = `offsets ${got.join(', ')} (want ${want.join(', ')})\n${report}`;
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    expect(got[i]!, what).toBeGreaterThanOrEqual(want[i]! - 40);
    expect(got[i]!, what).toBeLessThanOrEqual(want[i]! + 200);
  }
}

describe('tm: RFC 3261 timers G/H and E (CANCEL), failure-route request edits', () => {
  const rig = tmRig();

  it('timer G: a local 486 (t_reply) and a relayed 486 go upstream again from T1 doubling to T2 until the ACK; without an ACK timer H (64*T1) stops them', async () => {
    const [proxy, busy, callerA, callerB] = await rig.freePorts(4);
    const script = `
function ksr_request_route() {
  if (KSR.pv.get("$rU") === "local") { KSR.tm.t_newtran(); KSR.tm.t_reply(486, "Busy Here"); return; }
  KSR.tm.t_relay_to_proxy("udp:127.0.0.1:${busy}");
}
`;
    // T1 50 ms, T2 400 ms: copies at 0, 50, 150, 350, 750, 1150 ... timer H at 3200 ms
    const viaduct = await rig.start({ script, listen: [`udp:${LOOPBACK}:${proxy}`], workers: 1, modparams: ['tm:retr_timer1=50', 'tm:retr_timer2=400', 'tm:wt_timer=300'] });
    const [b, a, c] = await rig.open([busy!, 'reject486'], [callerA!, null], [callerB!, null]);
    const local = `sip:local@127.0.0.1:${proxy}`;
    a.send(request('INVITE', local, callerA!, 'z9hG4bKg-local', 'g-local', 1), proxy!);
    c.send(request('INVITE', `sip:callee@127.0.0.1:${busy}`, callerB!, 'z9hG4bKg-relay', 'g-relay', 1), proxy!);

    // the local 486: four copies, then the caller's ACK (same branch, the 486's To tag) ends them
    expect(await a.waitFor('SIP/2.0 486', 4, 3000), `caller A: ${seen(a)}\n${viaduct.stderr()}`).toBe(true);
    const first = a.got('SIP/2.0 486')[0]!.text;
    const toTag = /;tag=([^;\r\n]+)/.exec(header(first, 'To')[0]!)![1]!;
    a.send(request('ACK', local, callerA!, 'z9hG4bKg-local', 'g-local', 1, toTag), proxy!);
    await sleep(700); // the next copy would be 400 ms after the fourth
    let report = `caller A: ${seen(a)}\n${viaduct.stderr().slice(-2000)}`;
    const localCopies = a.got('SIP/2.0 486');
    // four, or five when the fourth was read late (the fifth leaves 400 ms after it); then none
    expect(localCopies.length, report).toBeLessThanOrEqual(5);
    expect(localCopies.every((m) => m.text === first), report).toBe(true);
    expectSchedule(offsets(localCopies).slice(0, 3), [50, 100, 200], report);
    await sleep(500);
    expect(a.got('SIP/2.0 486').length, report).toBe(localCopies.length);
    expect(a.got('SIP/2.0 100').length, report).toBe(0); // t_reply's 486 is the only reply

    // the relayed 486 (Kamailio retransmits what it relayed): no ACK, so until timer H
    await sleep(3100);
    report = `caller B: ${c.received.map((m) => `${m.first}@${Math.round(m.at)}`).join(' | ')}\n${viaduct.stderr().slice(-2000)}`;
    const relayed = c.got('SIP/2.0 486');
    // 11 copies by the schedule (the last at 3150 ms, H at 3200 ms); late timers (a loaded machine)
    // push the later ones past H, never more of them
    expect(relayed.length, report).toBeGreaterThanOrEqual(8);
    expect(relayed.length, report).toBeLessThanOrEqual(11);
    expect(relayed.every((m) => m.text === relayed[0]!.text), report).toBe(true);
    expectSchedule(offsets(relayed).slice(0, 6), [50, 100, 200, 400, 400, 400], report);
    expect(relayed.at(-1)!.at - relayed[0]!.at, report).toBeLessThan(3200 + 150);
    expect(b.got('ACK').length, `busy: ${seen(b)}`).toBe(1); // the proxy's own ACK, hop by hop
    const n = relayed.length;
    await sleep(600);
    expect(c.got('SIP/2.0 486').length, report).toBe(n);
    // both transactions are gone after the wait timer
    expect(await viaduct.rpc<Record<string, number>>('tm.stats'), report).toMatchObject({ current: 0, '4xx': 2 });
  }, 30_000);

  it('timer E for our CANCEL: retransmitted from T1 until fr_timer when the callee never answers it; the branch ends on fr_inv_timer and the caller gets 487', async () => {
    const [proxy, callee, caller] = await rig.freePorts(3);
    const script = `function ksr_request_route() { KSR.tm.t_relay_to_proxy("udp:127.0.0.1:${callee}"); }\n`;
    // T1 100 ms: CANCEL copies at 0, 100, 300, 700 (the next at 1500 is past fr_timer 1000 ms)
    const viaduct = await rig.start({
      script, listen: [`udp:${LOOPBACK}:${proxy}`], workers: 1,
      modparams: ['tm:retr_timer1=100', 'tm:fr_timer=1000', 'tm:fr_inv_timer=1500', 'tm:wt_timer=300'],
    });
    const [r, c] = await rig.open([callee!, 'ringNoCancel'], [caller!, null]);
    const ruri = `sip:callee@127.0.0.1:${callee}`;
    c.send(request('INVITE', ruri, caller!, 'z9hG4bKe-1', 'e-1', 1), proxy!);
    expect(await c.waitFor('SIP/2.0 180', 1, 3000), viaduct.stderr()).toBe(true);
    const ringing = c.got('SIP/2.0 180')[0]!.at;
    c.send(request('CANCEL', ruri, caller!, 'z9hG4bKe-1', 'e-1', 1), proxy!);
    expect(await c.waitFor('SIP/2.0 487', 1, 4000), `caller: ${seen(c)}\n${viaduct.stderr()}`).toBe(true);
    await sleep(300);
    const report = `caller: ${seen(c)}\ncallee: ${r.received.map((m) => `${m.first}@${Math.round(m.at)}`).join(' | ')}\n${viaduct.stderr().slice(-2000)}`;
    expect(c.got('SIP/2.0 200').map((m) => header(m.text, 'CSeq')[0]), report).toEqual(['CSeq: 1 CANCEL']);
    const cancels = r.got('CANCEL');
    expect(cancels.length, report).toBe(4);
    expect(cancels.every((m) => m.text === cancels[0]!.text), report).toBe(true);
    expectSchedule(offsets(cancels), [100, 200, 400], report);
    // the INVITE branch waits its fr_inv_timer (restarted by the 180), then 487 (a cancelled transaction)
    expect(c.got('SIP/2.0 487')[0]!.at - ringing, report).toBeGreaterThanOrEqual(1500 - 5);
    expect(r.got('INVITE').length, report).toBe(1);
    expect(r.got('ACK').length, report).toBe(0); // the callee sent no final
  }, 30_000);

  it('a CANCEL answered at once is sent once', async () => {
    const [proxy, callee, caller] = await rig.freePorts(3);
    const script = `function ksr_request_route() { KSR.tm.t_relay_to_proxy("udp:127.0.0.1:${callee}"); }\n`;
    const viaduct = await rig.start({ script, listen: [`udp:${LOOPBACK}:${proxy}`], workers: 1, modparams: ['tm:retr_timer1=50', 'tm:wt_timer=300'] });
    const [r, c] = await rig.open([callee!, 'ring'], [caller!, null]);
    const ruri = `sip:callee@127.0.0.1:${callee}`;
    c.send(request('INVITE', ruri, caller!, 'z9hG4bKe-2', 'e-2', 1), proxy!);
    expect(await c.waitFor('SIP/2.0 180', 1, 3000), viaduct.stderr()).toBe(true);
    c.send(request('CANCEL', ruri, caller!, 'z9hG4bKe-2', 'e-2', 1), proxy!);
    expect(await c.waitFor('SIP/2.0 487', 1, 3000), viaduct.stderr()).toBe(true);
    await sleep(500);
    expect(r.got('CANCEL').length, `callee: ${seen(r)}`).toBe(1);
  }, 30_000);

  it('failure routes start from the request route\'s edits (append_hf, remove_hf, Max-Forwards), without an earlier failure route\'s', async () => {
    const [proxy, busy1, busy2, good, caller] = await rig.freePorts(5);
    const script = `
function ksr_request_route() {
  if (KSR.is_ACK()) { KSR.tm.t_relay(); return; }
  KSR.textops.append_hf("X-Req: added\\r\\n");
  KSR.textops.remove_hf("X-Remove");
  KSR.tm.t_on_failure("F1");
  KSR.tm.t_relay_to_proxy("udp:127.0.0.1:${busy1}");
}
function F1() {
  KSR.textops.append_hf("X-Fail: 1\\r\\n");
  KSR.tm.t_on_failure("F2");
  KSR.tm.t_relay_to_proxy("udp:127.0.0.1:${busy2}");
}
function F2() {
  KSR.textops.append_hf("X-Fail: 2\\r\\n");
  KSR.tm.t_relay_to_proxy("udp:127.0.0.1:${good}");
}
`;
    const viaduct = await rig.start({ script, listen: [`udp:${LOOPBACK}:${proxy}`], workers: 1, modparams: ['tm:wt_timer=300'] });
    const [b1, b2, g, c] = await rig.open([busy1!, 'reject486'], [busy2!, 'reject486'], [good!, 'answer'], [caller!, null]);
    const inv = request('INVITE', 'sip:callee@example.com', caller!, 'z9hG4bKfr-1', 'fr-1', 1).replace('Contact:', 'X-Remove: gone\r\nContact:');
    c.send(inv, proxy!);
    expect(await c.waitFor('SIP/2.0 200', 1, 3000), `caller: ${seen(c)}\n${viaduct.stderr()}`).toBe(true);
    const report = `${viaduct.stderr().slice(-2000)}`;
    const got = (u: Ua) => {
      const t = u.got('INVITE')[0]!.text;
      return { req: header(t, 'X-Req'), fail: header(t, 'X-Fail'), remove: header(t, 'X-Remove'), mf: header(t, 'Max-Forwards') };
    };
    expect(got(b1), `${b1.got('INVITE')[0]!.text}\n${report}`).toEqual({ req: ['X-Req: added'], fail: [], remove: [], mf: ['Max-Forwards: 69'] });
    expect(got(b2), `${b2.got('INVITE')[0]!.text}\n${report}`).toEqual({ req: ['X-Req: added'], fail: ['X-Fail: 1'], remove: [], mf: ['Max-Forwards: 69'] });
    expect(got(g), `${g.got('INVITE')[0]!.text}\n${report}`).toEqual({ req: ['X-Req: added'], fail: ['X-Fail: 2'], remove: [], mf: ['Max-Forwards: 69'] });
  }, 30_000);
});
