// tm parallel forking end to end (a scriptable UA over raw UDP for every phone): the R-URI and
// corex's appended branches, best-response selection (2xx wins and cancels the rest, 6xx cancels
// the rest), branch routes that rewrite or drop a branch, and tmx's route checks.
import { describe, expect, it } from 'vitest';
import { request, tmRig, type Ua } from './tm-uas.js';

const LOOPBACK = '127.0.0.1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const branchOf = (text: string) => /branch=([^;\r\n]+)/.exec(text)![1];
const ruriOf = (text: string) => text.slice(0, text.indexOf('\r\n')).split(' ')[1];

describe('tm: parallel forking (corex append_branch, t_on_branch, tmx)', () => {
  const rig = tmRig();
  const start = (script: string) => rig.start({ script, listen: [`udp:${LOOPBACK}:${rig.ports[0]}`], workers: 1, modparams: ['tm:wt_timer=500'] });
  const seen = (u: Ua) => u.received.map((m) => m.first).join(' | ');

  it('a phone that rings and one that answers: the call completes, the ringer gets CANCEL, answers 487 and gets the ACK', async () => {
    const [proxy, ringer, answerer, caller] = await rig.freePorts(4) as [number, number, number, number];
    await start(`
function ksr_request_route() {
  if (KSR.is_ACK()) { KSR.tm.t_relay(); return; }
  KSR.rewriteuri("sip:ringer@127.0.0.1:${ringer}");
  if (KSR.corex.append_branch_uri("sip:answerer@127.0.0.1:${answerer}") !== 1) KSR.xlog.xerr("append failed\\n");
  KSR.tm.t_relay();
}
`);
    const [r, a, c] = await rig.open([ringer, 'ring'], [answerer, 'answer'], [caller, null]);
    c.send(request('INVITE', 'sip:callee@example.com', caller, 'z9hG4bKfork1', 'fork-1', 1), proxy);
    expect(await c.waitFor('SIP/2.0 200', 1, 3000), rig.proxy.stderr()).toBe(true);
    expect(await r.waitFor('ACK', 1, 3000), `ringer: ${seen(r)}\n${rig.proxy.stderr()}`).toBe(true);
    await sleep(200);
    const report = `caller: ${seen(c)}\nringer: ${seen(r)}\nanswerer: ${seen(a)}\n${rig.proxy.stderr().slice(-2000)}`;
    expect([r.got('INVITE').length, r.got('CANCEL').length, r.got('ACK').length], report).toEqual([1, 1, 1]);
    expect(ruriOf(r.got('INVITE')[0]!.text), report).toBe(`sip:ringer@127.0.0.1:${ringer}`);
    expect(ruriOf(a.got('INVITE')[0]!.text), report).toBe(`sip:answerer@127.0.0.1:${answerer}`);
    expect(a.got('INVITE').length, report).toBe(1);
    expect(a.got('CANCEL').length, report).toBe(0);
    // CANCEL and ACK hop by hop: the INVITE's branch, the proxy's Via only
    const invBranch = branchOf(r.got('INVITE')[0]!.text);
    for (const m of [...r.got('CANCEL'), ...r.got('ACK')]) {
      expect(m.text.match(/^Via:/gm)?.length, m.text).toBe(1);
      expect(branchOf(m.text), m.text).toBe(invBranch);
    }
    expect(r.got('ACK')[0]!.text, report).toMatch(/^To: .*;tag=r\d+/m);
    // upstream: one 2xx (the answerer's), no 487 (the ringer's stays between proxy and ringer)
    expect(c.got('SIP/2.0 200').length, report).toBe(1);
    expect(c.got('SIP/2.0 200')[0]!.text, report).toMatch(new RegExp(`^To: .*;tag=r${answerer}`, 'm'));
    expect(c.got('SIP/2.0 487').length, report).toBe(0);
    // the 2xx's ACK end to end to the answerer
    c.send(request('ACK', `sip:answerer@127.0.0.1:${answerer}`, caller, 'z9hG4bKforkack', 'fork-1', 1, `r${answerer}`), proxy);
    expect(await a.waitFor('ACK', 1, 2000), report).toBe(true);
    await sleep(700);
    expect(await rig.proxy.rpc<Record<string, number>>('tm.stats'), report).toMatchObject({ current: 0, '2xx': 1 });
  }, 30_000);

  it('a 6xx from one branch cancels the other; the caller gets the 6xx, both phones get the proxy\'s ACK', async () => {
    const [proxy, ringer, decliner, caller] = await rig.freePorts(4) as [number, number, number, number];
    await start(`
function ksr_request_route() {
  KSR.rewriteuri("sip:ringer@127.0.0.1:${ringer}");
  KSR.corex.append_branch();
  KSR.rewriteuri("sip:decliner@127.0.0.1:${decliner}");
  KSR.tm.t_relay();
}
`);
    const [r, d, c] = await rig.open([ringer, 'ring'], [decliner, 'reject603'], [caller, null]);
    c.send(request('INVITE', 'sip:callee@example.com', caller, 'z9hG4bKfork6', 'fork-6', 1), proxy);
    expect(await c.waitFor('SIP/2.0 603', 1, 3000), `caller: ${seen(c)}\n${rig.proxy.stderr()}`).toBe(true);
    await sleep(200);
    const report = `caller: ${seen(c)}\nringer: ${seen(r)}\ndecliner: ${seen(d)}\n${rig.proxy.stderr().slice(-2000)}`;
    // append_branch() took the R-URI as it was (the ringer); the R-URI then went to the decliner
    expect([r.got('INVITE').length, r.got('CANCEL').length, r.got('ACK').length], report).toEqual([1, 1, 1]);
    expect([d.got('INVITE').length, d.got('CANCEL').length, d.got('ACK').length], report).toEqual([1, 0, 1]);
    expect(c.got('SIP/2.0 487').length, report).toBe(0);
    expect(c.got('SIP/2.0 6').length, report).toBe(1);
  }, 30_000);

  it('branch route: rewrites one branch\'s R-URI and headers (that branch only), sees tmx\'s route kind; KSR.x.drop() drops a branch', async () => {
    const [proxy, ringer, answerer, unused, caller] = await rig.freePorts(5) as [number, number, number, number, number];
    await start(`
function ksr_request_route() {
  if (KSR.is_ACK()) { KSR.tm.t_relay(); return; }
  KSR.xlog.xerr("request is_request=" + KSR.tmx.t_is_request_route() + " is_branch=" + KSR.tmx.t_is_branch_route() + " precheck=" + KSR.tmx.t_precheck_trans() + "\\n");
  KSR.rewriteuri("sip:ringer@127.0.0.1:${ringer}");
  KSR.corex.append_branch_uri("sip:old@127.0.0.1:${unused}");
  KSR.corex.append_branch_uri_q("sip:drop@127.0.0.1:${unused}", "0.5");
  KSR.tm.t_on_branch("BR");
  KSR.tm.t_relay();
}
function BR() {
  KSR.xlog.xerr("branch $T_branch_idx ru=$ru is_branch=" + KSR.tmx.t_is_branch_route() + " is_request=" + KSR.tmx.t_is_request_route() + "\\n");
  const ru = KSR.pv.get("$ru");
  if (ru.indexOf("sip:drop@") === 0) KSR.x.drop();
  if (ru.indexOf("sip:old@") === 0) {
    KSR.pv.sets("$ru", "sip:new@127.0.0.1:${answerer}");
    KSR.hdr.append("X-Branch: rewritten\\r\\n");
  }
}
`);
    const [r, a, u, c] = await rig.open([ringer, 'ring'], [answerer, 'answer'], [unused, 'answer'], [caller, null]);
    c.send(request('INVITE', 'sip:callee@example.com', caller, 'z9hG4bKforkbr', 'fork-br', 1), proxy);
    expect(await c.waitFor('SIP/2.0 200', 1, 3000), rig.proxy.stderr()).toBe(true);
    expect(await r.waitFor('ACK', 1, 3000), rig.proxy.stderr()).toBe(true);
    const report = `caller: ${seen(c)}\nringer: ${seen(r)}\nanswerer: ${seen(a)}\nunused: ${seen(u)}\n${rig.proxy.stderr().slice(-2000)}`;
    expect(u.received.length, report).toBe(0); // the rewritten and the dropped branch never went there
    expect(ruriOf(a.got('INVITE')[0]!.text), report).toBe(`sip:new@127.0.0.1:${answerer}`);
    expect(a.got('INVITE')[0]!.text, report).toMatch(/^X-Branch: rewritten$/m);
    expect(r.got('INVITE')[0]!.text, report).not.toMatch(/X-Branch/);
    expect(ruriOf(r.got('INVITE')[0]!.text), report).toBe(`sip:ringer@127.0.0.1:${ringer}`);
    expect(r.got('CANCEL').length, report).toBe(1);
    const lines = rig.proxy.stderr().split('\n').filter((l) => /(request|branch) /.test(l)).map((l) => l.slice(l.search(/(request|branch) /)));
    expect(lines, report).toEqual([
      'request is_request=1 is_branch=-1 precheck=-1',
      `branch 0 ru=sip:ringer@127.0.0.1:${ringer} is_branch=1 is_request=-1`,
      `branch 1 ru=sip:old@127.0.0.1:${unused} is_branch=1 is_request=-1`,
      `branch 2 ru=sip:drop@127.0.0.1:${unused} is_branch=1 is_request=-1`,
    ]);
  }, 30_000);

  it('tmx t_cancel_branches("others") from an onreply route: the other ringer gets CANCEL and the ACK for its 487; a CANCEL from the caller ends the rest', async () => {
    const [proxy, first, second, caller] = await rig.freePorts(4) as [number, number, number, number];
    await start(`
function ksr_request_route() {
  if (KSR.is_CANCEL()) { KSR.tm.t_relay(); return; }
  KSR.rewriteuri("sip:first@127.0.0.1:${first}");
  KSR.corex.append_branch_uri("sip:second@127.0.0.1:${second}");
  KSR.tm.t_on_reply("RPL");
  KSR.tm.t_relay();
}
function RPL() {
  if (KSR.pv.get("$rs") != 180 || KSR.pv.get("$T_branch_idx") != 0) return;
  KSR.xlog.xerr("reply is_reply=" + KSR.tmx.t_is_reply_route() + " cancel=" + KSR.tmx.t_cancel_branches("others") + " again=" + KSR.tmx.t_cancel_branches("others") + "\\n");
}
`);
    const [f, s, c] = await rig.open([first, 'ring'], [second, 'ring'], [caller, null]);
    const ruri = 'sip:callee@example.com';
    c.send(request('INVITE', ruri, caller, 'z9hG4bKforkcb', 'fork-cb', 1), proxy);
    expect(await s.waitFor('ACK', 1, 3000), `second: ${seen(s)}\n${rig.proxy.stderr()}`).toBe(true);
    await sleep(100);
    let report = `caller: ${seen(c)}\nfirst: ${seen(f)}\nsecond: ${seen(s)}\n${rig.proxy.stderr().slice(-2000)}`;
    expect([s.got('CANCEL').length, f.got('CANCEL').length, c.got('SIP/2.0 487').length], report).toEqual([1, 0, 0]);
    const lines = rig.proxy.stderr().split('\n').filter((l) => l.includes('reply is_reply=')).map((l) => l.slice(l.indexOf('reply is_reply=')));
    expect(lines, report).toEqual(['reply is_reply=1 cancel=1 again=-1']);
    c.send(request('CANCEL', ruri, caller, 'z9hG4bKforkcb', 'fork-cb', 1), proxy);
    expect(await c.waitFor('SIP/2.0 487', 1, 3000), report).toBe(true);
    expect(await f.waitFor('ACK', 1, 2000), report).toBe(true);
    report = `caller: ${seen(c)}\nfirst: ${seen(f)}\nsecond: ${seen(s)}`;
    expect([f.got('CANCEL').length, s.got('CANCEL').length, c.got('SIP/2.0 487').length], report).toEqual([1, 1, 1]);
  }, 30_000);

  it('branch route: sees t_relay_to_proxy\'s next hop as $du; it belongs to one t_relay (a failure route\'s new leg runs without it unless re-armed)', async () => {
    const [proxy, busy, good, caller] = await rig.freePorts(4) as [number, number, number, number];
    await start(`
function ksr_request_route() {
  if (KSR.is_ACK()) { KSR.tm.t_relay(); return; }
  KSR.tm.t_on_branch("BR");
  KSR.tm.t_on_failure("F");
  KSR.tm.t_relay_to_proxy("udp:127.0.0.1:${busy}");
}
function BR() { KSR.xlog.xerr("branch $T_branch_idx du=$du\\n"); }
function F() { KSR.xlog.xerr("failure set=" + KSR.tm.t_is_set("branch_route") + "\\n"); KSR.tm.t_relay_to_proxy("udp:127.0.0.1:${good}"); }
`);
    const [b, g, c] = await rig.open([busy, 'reject486'], [good, 'answer'], [caller, null]);
    c.send(request('INVITE', 'sip:callee@example.com', caller, 'z9hG4bKforkfr', 'fork-fr', 1), proxy);
    expect(await c.waitFor('SIP/2.0 200', 1, 3000), rig.proxy.stderr()).toBe(true);
    const report = `caller: ${seen(c)}\nbusy: ${seen(b)}\ngood: ${seen(g)}\n${rig.proxy.stderr().slice(-2000)}`;
    expect([b.got('INVITE').length, g.got('INVITE').length], report).toEqual([1, 1]);
    const lines = rig.proxy.stderr().split('\n').filter((l) => /(branch|failure) /.test(l)).map((l) => l.slice(l.search(/(branch|failure) /)));
    expect(lines, report).toEqual([`branch 0 du=sip:127.0.0.1:${busy}`, 'failure set=-1']);
  }, 30_000);
});
