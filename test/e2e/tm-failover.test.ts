// Carrier failover end to end (issue 11 item 5): the dispatcher's candidates live with the
// transaction, ds_next_dst in a failure route takes the next trunk, ds_mark_dst takes one out,
// and call load (algorithm 10) gets its slot back when the INVITE ends unanswered. The trunks
// and the caller are tm-uas.ts's scriptable UAs over real UDP.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { request, tmRig, type Behaviour, type Msg, type Ua } from './tm-uas.js';

const LOOPBACK = '127.0.0.1';

interface Dest { DEST: { URI: string; FLAGS: string; RUNTIME: { DLGLOAD: number } } }
interface DsList { RECORDS: { SET: { ID: number; TARGETS: Dest[] } }[] }

/** What bench/conformance/viaduct/failover.js does, plus ds_mark_dst on a timeout when `mark`. */
const script = (alg: number, mark: boolean, mode: 'dst' | 'domain' = 'dst') => `
function ksr_request_route() {
  if (KSR.is_ACK()) { KSR.tm.t_relay(); return; }
  if (KSR.is_method("BYE")) { KSR.tm.t_relay(); return; }
  if (KSR.dispatcher.ds_select_${mode}(1, ${alg}) < 0) { KSR.sl.sl_send_reply(503, "Service Unavailable"); return; }
  KSR.tm.t_on_failure("TRUNK_FAILOVER");
  KSR.tm.t_relay();
}
function TRUNK_FAILOVER() {
  if (KSR.tm.t_is_canceled() > 0) return;
  ${mark ? 'if (KSR.tm.t_branch_timeout() > 0) KSR.dispatcher.ds_mark_dst();' : ''}
  if (KSR.tm.t_check_status("486|408|5[0-9][0-9]") > 0 && KSR.dispatcher.ds_next_${mode}() > 0) {
    KSR.tm.t_on_failure("TRUNK_FAILOVER");
    KSR.tm.t_relay();
  }
}
`;

describe('tm + dispatcher: carrier failover', () => {
  const rig = tmRig();

  /** A proxy over set 1 (`list` gets the trunks' ports) and the trunks behaving as told; the caller is the last Ua. */
  async function setup(behaviours: Behaviour[], list: (ports: number[]) => string, scriptText: string, workers = 1) {
    const [proxy, caller, ...trunkPorts] = await rig.freePorts(behaviours.length + 2) as [number, number, ...number[]];
    const listFile = join(rig.tempDir('viaduct-dsfail-'), 'dispatcher.list');
    writeFileSync(listFile, list(trunkPorts));
    const viaduct = await rig.start({
      script: scriptText, listen: [`udp:${LOOPBACK}:${proxy}`], workers,
      modparams: [`dispatcher:list_file=${listFile}`, 'dispatcher:flags=2', 'tm:fr_timer=1000', 'tm:wt_timer=300'],
    });
    const trunks: Ua[] = await rig.open(...behaviours.map((b, i): [number, Behaviour] => [trunkPorts[i]!, b]));
    const [c] = await rig.open([caller, null]);
    const call = (n: string) => c.send(request('INVITE', 'sip:+15551234@carrier.example', caller, `z9hG4bK${n}`, n, 1), proxy);
    const targets = async () => {
      const l = await viaduct.rpc<DsList>('dispatcher.list');
      return Object.fromEntries(l.RECORDS[0]!.SET.TARGETS.map((t) => [Number(/:(\d+)$/.exec(t.DEST.URI)![1]), t.DEST]));
    };
    return { proxy, caller, c, trunks, trunkPorts, call, targets };
  }

  const firstLines = (u: Ua) => u.received.map((m) => `${m.first.split(' ').slice(0, 2).join(' ')} ${/^Call-ID: (.*)$/m.exec(m.text)?.[1]}`);

  it.each([[1, 'dst'], [2, 'dst'], [1, 'domain']] as const)('--workers %i, ds_select_%s: a trunk answering 486, one that never answers, one that answers: every call completes on the third; the first gets the proxy\'s ACK', async (workers, mode) => {
    // algorithm 8: the highest priority first
    const { c, trunks, call } = await setup(['reject486', 'silent', 'answer'],
      ([busy, silent, good]) => `1 sip:127.0.0.1:${busy} 0 30\n1 sip:127.0.0.1:${silent} 0 20\n1 sip:127.0.0.1:${good} 0 10\n`, script(8, false, mode), workers);
    const [busy, silent, good] = trunks as [Ua, Ua, Ua];
    const N = 8;
    for (let i = 0; i < N; i++) call(`fo-${workers}-${mode}-${i}`);
    const done = await c.waitFor('SIP/2.0 200', N, 8000);
    const report = `caller: ${firstLines(c).join(' | ')}\nbusy: ${firstLines(busy).join(' | ')}\nsilent: ${firstLines(silent).join(' | ')}\ngood: ${firstLines(good).join(' | ')}\n${rig.proxy.stderr().slice(-2000)}`;
    expect(done, report).toBe(true);
    expect(await busy.waitFor('ACK', N, 1000), report).toBe(true);
    expect([busy.got('INVITE').length, busy.got('ACK').length, good.got('INVITE').length], report).toEqual([N, N, N]);
    // every call met the silent trunk's timeout (INVITE and one retransmission by timer A in 1000 ms)
    expect(new Set(silent.got('INVITE').map((m) => /^Call-ID: (.*)$/m.exec(m.text)![1])).size, report).toBe(N);
    // every 200 on the third trunk, none of the negative replies upstream
    expect(c.got('SIP/2.0 200').every((m) => /^To: .*;tag=r\d+/m.test(m.text) && m.text.includes(`tag=r${good.port}`)), report).toBe(true);
    expect(c.got('SIP/2.0 4').length + c.got('SIP/2.0 5').length, report).toBe(0);
    // ds_select_domain/ds_next_domain rewrite the R-URI's host and port instead of $du
    if (mode === 'domain') expect(good.got('INVITE')[0]!.first, report).toBe(`INVITE sip:+15551234@127.0.0.1:${good.port} SIP/2.0`);
    // the proxy's ACK for the 486: its own Via only, the 486's To tag
    for (const m of busy.got('ACK')) {
      expect(m.text.match(/^Via:/gm)?.length, m.text).toBe(1);
      expect(m.text, m.text).toMatch(new RegExp(`^To: .*;tag=b${busy.port}`, 'm'));
    }
  }, 30_000);

  it('ds_mark_dst in the failure route takes the silent trunk out: later calls skip it', async () => {
    const { c, trunks, call, targets } = await setup(['reject486', 'silent', 'answer'],
      ([busy, silent, good]) => `1 sip:127.0.0.1:${busy} 0 30\n1 sip:127.0.0.1:${silent} 0 20\n1 sip:127.0.0.1:${good} 0 10\n`, script(8, true));
    const [busy, silent, good] = trunks as [Ua, Ua, Ua];
    call('mark-1');
    expect(await c.waitFor('SIP/2.0 200', 1, 4000), rig.proxy.stderr()).toBe(true);
    expect((await targets())[silent.port]!.FLAGS, 'the silent trunk inactive').toMatch(/^I/);
    expect((await targets())[busy.port]!.FLAGS).toMatch(/^A/);
    const before = silent.got('INVITE').length;
    expect(before).toBeGreaterThanOrEqual(1);
    const t0 = Date.now();
    for (let i = 2; i <= 5; i++) call(`mark-${i}`);
    expect(await c.waitFor('SIP/2.0 200', 5, 3000), rig.proxy.stderr()).toBe(true);
    // no timeout to wait for any more: straight from the 486 to the third trunk
    expect(Date.now() - t0).toBeLessThan(900);
    expect(silent.got('INVITE').length).toBe(before);
    expect([busy.got('INVITE').length, good.got('INVITE').length]).toEqual([5, 5]);
  }, 30_000);

  it('call load (10): a 486 gives the slot back; with failover the slot follows the call to the answering trunk, and its BYE frees it', async () => {
    // maxload 1 each: a slot that is not given back makes the next call fail (503 from the script)
    const { c, trunks, call, targets, proxy, caller } = await setup(['reject486', 'answer'],
      // the list's last line comes first in the set (Kamailio's order): the busy trunk wins every tie
      ([busy, good]) => `1 sip:127.0.0.1:${good} 0 0 duid=good;maxload=1\n1 sip:127.0.0.1:${busy} 0 0 duid=busy;maxload=1\n`, script(10, false));
    const [busy, good] = trunks as [Ua, Ua];
    const load = async () => { const t = await targets(); return [t[busy.port]!.RUNTIME.DLGLOAD, t[good.port]!.RUNTIME.DLGLOAD]; };
    // the INVITE's 200s (the BYEs' 200s come to the caller too)
    const answered = () => c.got('SIP/2.0 200').filter((m) => /^CSeq: 1 INVITE/m.test(m.text));
    for (let i = 1; i <= 3; i++) {
      call(`load-${i}`);
      const end = Date.now() + 3000;
      while (answered().length < i && Date.now() < end) await c.waitFor('SIP/2.0', c.got('SIP/2.0').length + 1, end - Date.now());
      expect(answered().length, `call ${i}: ${firstLines(c).join(' | ')}\n${rig.proxy.stderr().slice(-1500)}`).toBe(i);
      // tried on the busy trunk first, answered on the good one: the slot moved there with ds_next_dst
      expect(await load(), `call ${i}`).toEqual([0, 1]);
      const ok = answered().at(-1)!.text;
      // the call ends: its BYE (to the proxy, which relays it to the good trunk) releases the slot
      c.send(request('BYE', `sip:callee@127.0.0.1:${good.port}`, caller, `z9hG4bKbye${i}`, `load-${i}`, 2, /;tag=([^;\r\n]+)/.exec(/^To: .*$/m.exec(ok)![0])![1]), proxy);
      expect(await good.waitFor('BYE', i, 2000)).toBe(true);
      expect(await load(), `after BYE ${i}`).toEqual([0, 0]);
    }
    expect([busy.got('INVITE').length, busy.got('ACK').length, good.got('INVITE').length]).toEqual([3, 3, 3]);
    expect(c.got('SIP/2.0 503').length).toBe(0);
  }, 30_000);

  it('call load (10) without failover: the 486 goes upstream and the slot is free for the next call', async () => {
    const { c, trunks, call, targets } = await setup(['reject486'],
      ([busy]) => `1 sip:127.0.0.1:${busy} 0 0 duid=busy;maxload=1\n`, script(10, false));
    const [busy] = trunks as [Ua];
    for (let i = 1; i <= 3; i++) {
      call(`busy-${i}`);
      // this call's 486 (the earlier ones are retransmitted upstream by timer G: no ACK here)
      const mine = (ms: Msg[]) => ms.some((m) => m.first.startsWith('SIP/2.0 486') && m.text.includes(`\r\nCall-ID: busy-${i}\r\n`));
      expect(await c.waitUntil(mine, 3000), firstLines(c).join(' | ')).toBe(true);
      expect((await targets())[busy.port]!.RUNTIME.DLGLOAD).toBe(0);
    }
    expect(c.got('SIP/2.0 503').length).toBe(0);
    expect(busy.got('ACK').length).toBe(3);
  }, 30_000);
});
