// The rest of KSR.tm's functions and tmx's pseudo-variables end to end, each phone a scriptable
// UA over raw UDP: t_on_branch_failure per failing branch, t_set_auto_inv_100, t_set_disable_
// internal_reply, t_drop_replies, t_load_contacts/t_next_contacts (serial forking by q),
// t_set_retr, t_lookup_request/t_lookup_cancel, $T_req/$T_rpl/$T.
import { describe, expect, it } from 'vitest';
import { request, tmRig, type Ua } from './tm-uas.js';

const LOOPBACK = '127.0.0.1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ruriOf = (text: string) => text.slice(0, text.indexOf('\r\n')).split(' ')[1];

/** Serial forking: the request route's `setup` (R-URI, branches, t_load_contacts, the first
 * t_next_contacts), then NEXT, the failure route, relays the next group until none is left. */
const serialForking = (setup: string) => `
function ksr_request_route() {
  if (KSR.is_ACK()) { KSR.tm.t_relay(); return; }
${setup}
  KSR.tm.t_on_failure("NEXT");
  KSR.tm.t_relay();
}
function NEXT() {
  const rc = KSR.tm.t_next_contacts();
  KSR.xlog.xerr("next rc=" + rc + " ru=$ru\\n");
  if (rc < 0) return;
  KSR.tm.t_on_failure("NEXT");
  KSR.tm.t_relay();
}
`;

describe('tm: branch failure, switches, serial forking, $T_req/$T_rpl/$T', () => {
  const rig = tmRig();
  const start = (script: string, modparams: string[] = []) =>
    rig.start({ script, listen: [`udp:${LOOPBACK}:${rig.ports[0]}`], workers: 1, modparams: ['tm:wt_timer=500', ...modparams] });
  const seen = (u: Ua) => u.received.map((m) => m.first).join(' | ');
  /** The script's log lines starting with `tag` (xerr), from the tag on. */
  const logged = (tag: string) => rig.proxy.stderr().split('\n').filter((l) => l.includes(`${tag} `)).map((l) => l.slice(l.indexOf(`${tag} `)));

  it('t_on_branch_failure: the route runs once per failing branch of a parallel fork (486, 486, timeout), then the failure route; $T_rpl/$T_req/$T', async () => {
    const [proxy, busy1, busy2, silent, caller] = await rig.freePorts(5) as [number, number, number, number, number];
    await start(`
function ksr_request_route() {
  if (KSR.is_ACK()) { KSR.tm.t_relay(); return; }
  KSR.rewriteuri("sip:busy1@127.0.0.1:${busy1}");
  KSR.corex.append_branch_uri("sip:busy2@127.0.0.1:${busy2}");
  KSR.corex.append_branch_uri("sip:silent@127.0.0.1:${silent}");
  KSR.tm.t_on_branch_failure("BF");
  KSR.tm.t_on_failure("FAIL");
  KSR.tm.t_on_reply("RPL");
  KSR.tm.t_relay();
}
function RPL() {
  KSR.xlog.xerr("rpl $rs req-from=$T_req($fu) req-ru=$T_req($ru) rpl=$T_rpl($rs) T=$T(reply_code)/$T(branch_index)/$T(reply_type)\\n");
}
function BF() {
  KSR.xlog.xerr("bf idx=$T_branch_idx code=$T_reply_code T=$T(reply_code)/$T(branch_index)/$T(reply_type)/$T(reply_last) timeout=" +
    KSR.tm.t_branch_timeout() + " rpl-to=$T_rpl($tt) req-cseq=$T_req($hdr(CSeq)) is_failure=" + KSR.tmx.t_is_failure_route() + "\\n");
}
function FAIL() {
  KSR.xlog.xerr("fail code=$T_reply_code rpl-to=$T_rpl($tt) T=$T(reply_code)/$T(branch_index)\\n");
}
`, ['tm:fr_timer=800', 'tm:fr_inv_timer=800']);
    const [b1, b2, s, c] = await rig.open([busy1, 'reject486'], [busy2, 'reject486'], [silent, 'silent'], [caller, null]);
    c.send(request('INVITE', 'sip:callee@example.com', caller, 'z9hG4bKbf1', 'bf-1', 7), proxy);
    expect(await c.waitFor('SIP/2.0 486', 1, 4000), `caller: ${seen(c)}\n${rig.proxy.stderr()}`).toBe(true);
    await sleep(100);
    const report = `caller: ${seen(c)}\n${rig.proxy.stderr().slice(-3000)}`;
    const bf = logged('bf');
    // the two 486s in whatever order they came, then the silent branch's timeout
    expect(bf.slice(0, 2).sort(), report).toEqual([
      `bf idx=0 code=486 T=486/0/0/486 timeout=-1 rpl-to=b${busy1} req-cseq=7 INVITE is_failure=-1`,
      `bf idx=1 code=486 T=486/1/0/486 timeout=-1 rpl-to=b${busy2} req-cseq=7 INVITE is_failure=-1`,
    ]);
    expect(bf.slice(2), report).toEqual([`bf idx=2 code=408 T=408/2/1/408 timeout=1 rpl-to=<null> req-cseq=7 INVITE is_failure=-1`]);
    // the failure route once, after every branch: the best reply (a 486) chose it
    expect(logged('fail'), report).toHaveLength(1);
    expect(logged('fail')[0], report).toMatch(new RegExp(`^fail code=486 rpl-to=b(${busy1}|${busy2}) T=486/[01]$`));
    // onreply: $T_req reads the stored request, $T_rpl the reply itself
    expect(logged('rpl').sort(), report).toEqual([
      'rpl 486 req-from=sip:caller@127.0.0.1 req-ru=sip:busy1@127.0.0.1:' + busy1 + ' rpl=486 T=486/0/0',
      'rpl 486 req-from=sip:caller@127.0.0.1 req-ru=sip:busy1@127.0.0.1:' + busy1 + ' rpl=486 T=486/1/0',
    ]);
    expect(c.got('SIP/2.0 4').length, report).toBe(1);
  }, 30_000);

  it('t_on_branch_failure: t_relay there adds a branch (the 486 branch is replaced by one that answers)', async () => {
    const [proxy, busy, answerer, caller] = await rig.freePorts(4) as [number, number, number, number];
    await start(`
function ksr_request_route() {
  if (KSR.is_ACK()) { KSR.tm.t_relay(); return; }
  KSR.rewriteuri("sip:busy@127.0.0.1:${busy}");
  KSR.tm.t_on_branch_failure("BF");
  KSR.tm.t_relay();
}
function BF() {
  if (KSR.tm.t_check_status("486") < 0) return;
  KSR.rewriteuri("sip:answerer@127.0.0.1:${answerer}");
  KSR.xlog.xerr("bf relay=" + KSR.tm.t_relay() + "\\n");
}
`);
    const [b, a, c] = await rig.open([busy, 'reject486'], [answerer, 'answer'], [caller, null]);
    c.send(request('INVITE', 'sip:callee@example.com', caller, 'z9hG4bKbf2', 'bf-2', 1), proxy);
    expect(await c.waitFor('SIP/2.0 200', 1, 3000), `caller: ${seen(c)}\n${rig.proxy.stderr()}`).toBe(true);
    const report = `caller: ${seen(c)}\n${rig.proxy.stderr().slice(-3000)}`;
    expect(logged('bf'), report).toEqual(['bf relay=1']);
    expect(c.got('SIP/2.0 486').length, report).toBe(0);
    expect(ruriOf(a.got('INVITE')[0]!.text), report).toBe(`sip:answerer@127.0.0.1:${answerer}`);
  }, 30_000);

  it('t_set_auto_inv_100(0): no 100 Trying (the module default sends one); t_lookup_request and t_lookup_cancel', async () => {
    const [proxy, ringer, caller] = await rig.freePorts(3) as [number, number, number];
    await start(`
function ksr_request_route() {
  if (KSR.is_CANCEL()) {
    KSR.xlog.xerr("cancel lookup=" + KSR.tm.t_lookup_cancel() + " flags=" + KSR.tm.t_lookup_cancel_flags(1) + " mf=$mf\\n");
    KSR.tm.t_relay();
    return;
  }
  if (KSR.is_ACK()) { KSR.tm.t_relay(); return; }
  const before = KSR.tm.t_lookup_request();
  if (KSR.pv.get("$rU") === "quiet") KSR.tm.t_set_auto_inv_100(0);
  KSR.setflag(3);
  KSR.tm.t_newtran();
  KSR.xlog.xerr("invite lookup before=" + before + " after=" + KSR.tm.t_lookup_request() + "\\n");
  KSR.rewriteuri("sip:ringer@127.0.0.1:${ringer}");
  KSR.tm.t_relay();
}
`);
    const [r, c] = await rig.open([ringer, 'ring'], [caller, null]);
    c.send(request('INVITE', 'sip:quiet@example.com', caller, 'z9hG4bKq1', 'q-1', 1), proxy);
    expect(await c.waitFor('SIP/2.0 180', 1, 3000), `caller: ${seen(c)}\n${rig.proxy.stderr()}`).toBe(true);
    c.send(request('CANCEL', 'sip:quiet@example.com', caller, 'z9hG4bKq1', 'q-1', 1), proxy);
    expect(await c.waitFor('SIP/2.0 487', 1, 3000), `caller: ${seen(c)}\n${rig.proxy.stderr()}`).toBe(true);
    c.send(request('INVITE', 'sip:loud@example.com', caller, 'z9hG4bKq2', 'q-2', 1), proxy);
    expect(await c.waitFor('SIP/2.0 180', 2, 3000), `caller: ${seen(c)}\n${rig.proxy.stderr()}`).toBe(true);
    const report = `caller: ${seen(c)}\n${rig.proxy.stderr().slice(-3000)}`;
    const trying = c.got('SIP/2.0 100');
    expect(trying.map((m) => /Call-ID: (\S+)/.exec(m.text)![1]), report).toEqual(['q-2']);
    expect(logged('invite'), report).toEqual(['invite lookup before=-1 after=1', 'invite lookup before=-1 after=1']);
    // the CANCEL finds its INVITE and copies the INVITE's flags (flag 3 = 8)
    expect(logged('cancel'), report).toEqual(['cancel lookup=1 flags=1 mf=8']);
  }, 30_000);

  it('t_set_disable_internal_reply(1): a failing t_relay returns -4 and sends no 500, the script replies; without it the 500 goes', async () => {
    const [proxy, caller] = await rig.freePorts(2) as [number, number];
    await start(`
function ksr_request_route() {
  const user = KSR.pv.get("$rU");
  if (user === "own") KSR.tm.t_set_disable_internal_reply(1);
  // no IPv6 socket: the branch cannot be sent
  KSR.rewriteuri("sip:nowhere@[::1]:5999");
  const rc = KSR.tm.t_relay();
  KSR.xlog.xerr("relay " + user + " rc=" + rc + "\\n");
  if (rc < 0 && user === "own") KSR.tm.t_reply(404, "Not Here");
}
`);
    const [c] = await rig.open([caller, null]);
    c.send(request('OPTIONS', 'sip:own@example.com', caller, 'z9hG4bKd1', 'd-1', 1), proxy);
    c.send(request('OPTIONS', 'sip:default@example.com', caller, 'z9hG4bKd2', 'd-2', 1), proxy);
    expect(await c.waitFor('SIP/2.0 500', 1, 3000), `caller: ${seen(c)}\n${rig.proxy.stderr()}`).toBe(true);
    expect(await c.waitFor('SIP/2.0 404', 1, 3000), `caller: ${seen(c)}\n${rig.proxy.stderr()}`).toBe(true);
    await sleep(200);
    const report = `caller: ${seen(c)}\n${rig.proxy.stderr().slice(-3000)}`;
    const callIds = (first: string) => c.got(first).map((m) => /Call-ID: (\S+)/.exec(m.text)![1]);
    expect(callIds('SIP/2.0 500'), report).toEqual(['d-2']);
    expect(callIds('SIP/2.0 404'), report).toEqual(['d-1']);
    expect(logged('relay').sort(), report).toEqual(['relay default rc=-1', 'relay own rc=-4']);
  }, 30_000);

  it('t_drop_replies in a failure route: the first leg\'s 486 no longer competes (failure_reply_mode 0 keeps it otherwise)', async () => {
    const [proxy, busy, silent, caller] = await rig.freePorts(4) as [number, number, number, number];
    await start(`
function ksr_request_route() {
  if (KSR.is_ACK()) { KSR.tm.t_relay(); return; }
  KSR.rewriteuri("sip:" + KSR.pv.get("$rU") + "@127.0.0.1:${busy}");
  KSR.tm.t_on_failure("FAIL");
  KSR.tm.t_relay();
}
function FAIL() {
  if (KSR.pv.get("$rU") === "drop") KSR.xlog.xerr("drop rc=" + KSR.tm.t_drop_replies("a") + "\\n");
  KSR.rewriteuri("sip:silent@127.0.0.1:${silent}");
  KSR.tm.t_relay();
}
`, ['tm:failure_reply_mode=0', 'tm:fr_timer=600', 'tm:fr_inv_timer=600']);
    const [b, s, c] = await rig.open([busy, 'reject486'], [silent, 'silent'], [caller, null]);
    c.send(request('INVITE', 'sip:drop@example.com', caller, 'z9hG4bKdr1', 'dr-1', 1), proxy);
    c.send(request('INVITE', 'sip:keep@example.com', caller, 'z9hG4bKdr2', 'dr-2', 1), proxy);
    expect(await c.waitFor('SIP/2.0 4', 2, 4000), `caller: ${seen(c)}\n${rig.proxy.stderr()}`).toBe(true);
    const report = `caller: ${seen(c)}\n${rig.proxy.stderr().slice(-3000)}`;
    const finals = Object.fromEntries(c.got('SIP/2.0 4').map((m) => [/Call-ID: (\S+)/.exec(m.text)![1], m.first]));
    // dropped: only the second leg's timeout is left (408); kept: the 486 beats a timeout
    expect(finals, report).toEqual({ 'dr-1': 'SIP/2.0 408 Request Timeout', 'dr-2': 'SIP/2.0 486 Busy Here' });
    expect(logged('drop'), report).toEqual(['drop rc=1']);
  }, 30_000);

  it('t_load_contacts/t_next_contacts: serial forking by q, the q=1 group in parallel first, then q=0.5; the R-URI without q last', async () => {
    const [proxy, a, b, half, last, caller] = await rig.freePorts(6) as [number, number, number, number, number, number];
    await start(serialForking(`
  KSR.rewriteuri("sip:last@127.0.0.1:${last}");
  KSR.corex.append_branch_uri_q("sip:a@127.0.0.1:${a}", "1");
  KSR.corex.append_branch_uri_q("sip:half@127.0.0.1:${half}", "0.5");
  KSR.corex.append_branch_uri_q("sip:b@127.0.0.1:${b}", "1.0");
  KSR.xlog.xerr("load rc=" + KSR.tm.t_load_contacts() + " first=$xavp(tm_contacts[0]=>uri) qf=$xavp(tm_contacts[0]=>q_flag)/$xavp(tm_contacts[1]=>q_flag)\\n");
  KSR.xlog.xerr("next rc=" + KSR.tm.t_next_contacts() + " ru=$ru\\n");`), ['tm:contacts_avp=tm_contacts']);
    const [ua, ub, uh, ul, c] = await rig.open([a, 'reject486'], [b, 'reject486'], [half, 'reject603'], [last, 'answer'], [caller, null]);
    c.send(request('INVITE', 'sip:callee@example.com', caller, 'z9hG4bKser1', 'ser-1', 1), proxy);
    expect(await c.waitFor('SIP/2.0 200', 1, 4000), `caller: ${seen(c)}\n${rig.proxy.stderr()}`).toBe(true);
    const report = `caller: ${seen(c)}\na: ${seen(ua)}\nb: ${seen(ub)}\nhalf: ${seen(uh)}\nlast: ${seen(ul)}\n${rig.proxy.stderr().slice(-3000)}`;
    expect([ua, ub, uh, ul].map((u) => u.got('INVITE').length), report).toEqual([1, 1, 1, 1]);
    // in order of arrival: a and b (one group, in parallel), then half, then the R-URI
    const at = (u: Ua) => u.received.findIndex((m) => m.first.startsWith('INVITE'));
    expect(at(ua) >= 0 && at(ub) >= 0, report).toBe(true);
    expect(logged('load'), report).toEqual([`load rc=1 first=sip:b@127.0.0.1:${b} qf=0/4`]);
    expect(logged('next'), report).toEqual([
      `next rc=1 ru=sip:b@127.0.0.1:${b}`,
      `next rc=1 ru=sip:half@127.0.0.1:${half}`,
      `next rc=1 ru=sip:last@127.0.0.1:${last}`,
    ]);
    expect(ruriOf(ua.got('INVITE')[0]!.text), report).toBe(`sip:a@127.0.0.1:${a}`);
    // a 603 (half) does not stop serial forking in a failure route; the caller sees only the 200
    expect(c.got('SIP/2.0 6').length + c.got('SIP/2.0 4').length, report).toBe(0);
  }, 30_000);

  it('t_next_contacts: a contact without q after q=0.1, then -2 when the list is used up', async () => {
    const [proxy, a, b, caller] = await rig.freePorts(4) as [number, number, number, number];
    await start(serialForking(`
  KSR.rewriteuri("sip:a@127.0.0.1:${a}");
  KSR.corex.append_branch_uri_q("sip:b@127.0.0.1:${b}", "0.1");
  KSR.tm.t_load_contacts();
  KSR.tm.t_next_contacts();`), ['tm:contacts_avp=tm_contacts']);
    const [ua, ub, c] = await rig.open([a, 'reject486'], [b, 'reject486'], [caller, null]);
    c.send(request('INVITE', 'sip:callee@example.com', caller, 'z9hG4bKser2', 'ser-2', 1), proxy);
    expect(await c.waitFor('SIP/2.0 486', 1, 4000), `caller: ${seen(c)}\n${rig.proxy.stderr()}`).toBe(true);
    const report = `caller: ${seen(c)}\n${rig.proxy.stderr().slice(-3000)}`;
    // b (q 0.1) first, then a (no q): both rejected, then nothing is left
    expect(ub.received.findIndex((m) => m.first.startsWith('INVITE')), report).toBe(0);
    expect(logged('next'), report).toEqual([`next rc=1 ru=sip:a@127.0.0.1:${a}`, `next rc=-2 ru=sip:a@127.0.0.1:${a}`]);
  }, 30_000);

  it('t_set_retr(200, 0): this transaction\'s INVITE is retransmitted from 200 ms (the default T1 500 ms)', async () => {
    const [proxy, silentFast, silentDefault, caller] = await rig.freePorts(4) as [number, number, number, number];
    await start(`
function ksr_request_route() {
  if (KSR.is_ACK()) return;
  if (KSR.pv.get("$rU") === "fast") {
    KSR.tm.t_set_retr(200, 0);
    KSR.rewriteuri("sip:fast@127.0.0.1:${silentFast}");
  } else {
    KSR.rewriteuri("sip:default@127.0.0.1:${silentDefault}");
  }
  KSR.tm.t_relay();
}
`, ['tm:fr_timer=1100', 'tm:fr_inv_timer=1100']);
    const [f, d, c] = await rig.open([silentFast, 'silent'], [silentDefault, 'silent'], [caller, null]);
    c.send(request('INVITE', 'sip:fast@example.com', caller, 'z9hG4bKr1', 'r-1', 1), proxy);
    c.send(request('INVITE', 'sip:default@example.com', caller, 'z9hG4bKr2', 'r-2', 1), proxy);
    expect(await c.waitFor('SIP/2.0 408', 2, 4000), `caller: ${seen(c)}\n${rig.proxy.stderr()}`).toBe(true);
    const report = `fast: ${seen(f)}\ndefault: ${seen(d)}\n${rig.proxy.stderr().slice(-3000)}`;
    // within 1100 ms: 0, 200, 600 (then 1400 is too late) against 0, 500
    expect(f.got('INVITE').length, report).toBe(3);
    expect(d.got('INVITE').length, report).toBe(2);
  }, 30_000);
});
