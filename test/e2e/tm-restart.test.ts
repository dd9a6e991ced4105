// A worker restarted mid-transaction: its calls in flight complete (issue acceptance). The
// script hangs (an endless loop) on a request to "hang"; the watchdog stops the worker and starts
// a replacement in its row, which adopts the transactions tm kept in shared memory: the late
// 200s are relayed statefully, a retransmitted INVITE gets the kept reply (the callee sees it
// once), a branch that times out after the restart runs its failure route with the AVPs the
// request route set. And a full store answers 500 without a transaction.
import { describe, expect, it } from 'vitest';
import { callIdOwner } from './harness.js';
import { request, tmRig, type Behaviour, type Ua } from './tm-uas.js';

const LOOPBACK = '127.0.0.1';

const script = `
function ksr_request_route() {
  if (KSR.pv.get("$rU") === "hang") { for (;;) {} }
  if (KSR.is_ACK()) { KSR.tm.t_relay(); return; }
  if (KSR.is_method("INVITE")) {
    const next = KSR.pv.get("$hdr(X-Next)");
    if (next) { KSR.pv.sets("$avp(next)", next); KSR.tm.t_on_failure("NEXT"); }
  }
  KSR.tm.t_relay();
}
function NEXT() {
  if (KSR.tm.t_check_status("408") > 0) KSR.tm.t_relay_to_proxy(KSR.pv.get("$avp(next)"));
}
`;

interface TmEntry { method: string; callid: string; state: string; reply_code: number; owner: number }

describe('tm: a worker restarted mid-transaction', () => {
  const rig = tmRig();

  async function setup(behaviours: Behaviour[], workers: number, modparams: string[] = []) {
    const [proxy, callerPort, ...calleePorts] = await rig.freePorts(behaviours.length + 2) as [number, number, ...number[]];
    const v = await rig.start({
      script, listen: [`udp:${LOOPBACK}:${proxy}`], workers, extraArgs: ['--watchdog-ms', '300'],
      modparams: ['tm:wt_timer=8000', ...modparams],
    });
    const callees: Ua[] = await rig.open(...behaviours.map((b, i): [number, Behaviour] => [calleePorts[i]!, b]));
    const [caller] = await rig.open([callerPort, null]);
    /** Call-IDs that land on the worker the hang request lands on. */
    const ids = (prefix: string, n: number) => {
      const w = callIdOwner('hang-1', workers);
      return Array.from({ length: 200 }, (_, i) => `${prefix}-${i}`).filter((id) => callIdOwner(id, workers) === w).slice(0, n);
    };
    const invite = (id: string, port: number, extra = '') =>
      caller.send(request('INVITE', `sip:callee@127.0.0.1:${port}`, callerPort, `z9hG4bK${id}`, id, 1).replace('Content-Length', `${extra}Content-Length`), proxy);
    const hang = async () => {
      caller.send(request('OPTIONS', `sip:hang@127.0.0.1:${proxy}`, callerPort, 'z9hG4bKhang1', 'hang-1', 1), proxy);
      const deadline = Date.now() + 20_000;
      while (!/restarted/.test(v.stderr())) {
        if (Date.now() > deadline) throw new Error(`no restart\n${v.stderr().slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    /** ACK and BYE of an answered call (To tag of the callee at `port`), and the BYE's 200. */
    const hangUp = (id: string, port: number) => {
      const ruri = `sip:callee@127.0.0.1:${port}`;
      caller.send(request('ACK', ruri, callerPort, `z9hG4bK${id}-ack`, id, 1, `r${port}`), proxy);
      caller.send(request('BYE', ruri, callerPort, `z9hG4bK${id}-bye`, id, 2, `r${port}`), proxy);
    };
    const callIdOf = (t: string) => /^Call-ID: (.*)$/m.exec(t)?.[1]?.trim();
    const replies = (first: string, cseq: string) => caller.got(first).filter((m) => m.text.includes(`CSeq: ${cseq}`)).map((m) => callIdOf(m.text)).sort();
    return { v, proxy, caller, callees, calleePorts, ids, invite, hang, hangUp, replies, callIdOf };
  }

  it.each([1, 2])('--workers %i: calls ringing when the worker hangs are answered, ACKed and hung up through its replacement', async (workers) => {
    const { v, caller, callees, calleePorts, ids, invite, hang, hangUp, replies, callIdOf } = await setup(['ring-answer'], workers);
    const [callee] = callees as [Ua];
    const port = calleePorts[0]!;
    callee.answerDelayMs = 1500;
    const calls = ids('call', 4);
    for (const id of calls) invite(id, port);
    expect(await caller.waitFor('SIP/2.0 180', calls.length, 10_000), v.stderr()).toBe(true);
    await hang();
    // the replacement adopted them: tm.list (main thread, from the store) still shows them
    const list = await v.rpc<TmEntry[]>('tm.list');
    expect(list.filter((e) => e.method === 'INVITE').map((e) => /Call-ID: (\S+)/.exec(e.callid)?.[1]).sort()).toEqual([...calls].sort());
    expect(v.stderr()).toMatch(/tm: adopted \d+ transactions/);
    // the late 200s are relayed by the adopted transactions
    expect(await caller.waitFor('SIP/2.0 200', calls.length, 15_000), v.stderr()).toBe(true);
    expect(replies('SIP/2.0 200', '1 INVITE')).toEqual([...calls].sort());
    // a retransmitted INVITE gets the kept 200; the callee does not see it again
    invite(calls[0]!, port);
    expect(await caller.waitFor('SIP/2.0 200', calls.length + 1, 5000)).toBe(true);
    expect(callee.got('INVITE').map((m) => callIdOf(m.text)).sort()).toEqual([...calls].sort());
    for (const id of calls) hangUp(id, port);
    expect(await caller.waitFor('SIP/2.0 200', 2 * calls.length + 1, 10_000), v.stderr()).toBe(true);
    expect(replies('SIP/2.0 200', '2 BYE')).toEqual([...calls].sort());
    expect(await callee.waitFor('ACK', calls.length, 5000)).toBe(true);
    const stats = await v.rpc<Record<string, number>>('tm.stats');
    // stateful: the INVITEs' 200s counted by tm (a stateless forward would not be), the BYEs' too
    expect(stats['2xx']).toBeGreaterThanOrEqual(2 * calls.length);
    expect(stats.shm_full).toBe(0);
  }, 60_000);

  it('--workers 1: a branch that times out after the restart runs its failure route (with its AVPs) on the replacement', async () => {
    const { v, caller, callees, calleePorts, ids, invite, hang, hangUp, replies } = await setup(['silent', 'answer'], 1, ['tm:fr_timer=3000']);
    const [silent, good] = callees as [Ua, Ua];
    const [silentPort, goodPort] = calleePorts as [number, number];
    const [id] = ids('fail', 1) as [string];
    invite(id, silentPort, `X-Next: udp:127.0.0.1:${goodPort}\r\n`);
    expect(await silent.waitFor('INVITE', 1, 5000)).toBe(true);
    await hang();
    expect(v.stderr()).toMatch(/tm: adopted 1 transactions/);
    // fr_timer ends the branch on the replacement, whose failure route relays to $avp(next)
    expect(await good.waitFor('INVITE', 1, 15_000), v.stderr()).toBe(true);
    expect(silent.got('INVITE').length).toBeGreaterThan(1); // timer A retransmitted it
    expect(await caller.waitFor('SIP/2.0 200', 1, 5000), v.stderr()).toBe(true);
    expect(replies('SIP/2.0 200', '1 INVITE')).toEqual([id]);
    hangUp(id, goodPort);
    expect(await good.waitFor('BYE', 1, 5000)).toBe(true);
    expect(await caller.waitFor('SIP/2.0 200', 2, 5000)).toBe(true);
  }, 60_000);

  it('tm.list shows a ringing INVITE from the store; tm.cancel Call-ID CSeq cancels it on its thread', async () => {
    const { v, caller, callees, calleePorts, invite } = await setup(['ring'], 2);
    const [callee] = callees as [Ua];
    invite('cancel-me', calleePorts[0]!);
    expect(await caller.waitFor('SIP/2.0 180', 1, 5000)).toBe(true);
    const [entry] = await v.rpc<TmEntry[]>('tm.list');
    expect(entry).toMatchObject({ method: 'INVITE', callid: 'Call-ID: cancel-me\r\n', state: 'proceeding', reply_code: 180 });
    expect(entry!.owner).toBeGreaterThanOrEqual(2); // a worker's counters row
    const fault = await v.rpc('tm.cancel', 'nobody', '1').then(() => null, (e: unknown) => e);
    expect(String(fault)).toMatch(/Transaction not found/);
    expect(await v.rpc('tm.cancel', 'cancel-me', '1')).toEqual([0, 'branches remaining (waiting for timeout)']);
    expect(await callee.waitFor('CANCEL', 1, 5000), v.stderr()).toBe(true);
    expect(await caller.waitFor('SIP/2.0 487', 1, 5000), v.stderr()).toBe(true);
    expect(await callee.waitFor('ACK', 1, 5000)).toBe(true); // the proxy's ACK of the 487
  }, 30_000);

  it('a full store: no transaction, a 500 and a counter (tm:shm_full), the server goes on', async () => {
    const { v, caller, callees, calleePorts, invite } = await setup(['silent'], 1, ['tm:shm_transactions=2']);
    const port = calleePorts[0]!;
    for (const id of ['full-1', 'full-2', 'full-3']) invite(id, port);
    expect(await caller.waitFor('SIP/2.0 500', 1, 5000), v.stderr()).toBe(true);
    const err = caller.got('SIP/2.0 500');
    expect(err.length).toBe(1);
    expect(err[0]!.text).toMatch(/Call-ID: full-3/);
    expect(await callees[0]!.waitFor('INVITE', 2, 5000)).toBe(true);
    expect(callees[0]!.got('INVITE').some((m) => m.text.includes('full-3'))).toBe(false);
    const stats = await v.rpc<Record<string, number>>('tm.stats');
    expect(stats).toMatchObject({ shm_full: 1, current: 2 });
    expect(v.stderr()).toMatch(/transaction store full/);
    expect(await v.rpc('core.version')).toBeTruthy();
  }, 30_000);
});
