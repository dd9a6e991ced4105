// tm's figures end to end: after stateful calls (SIPp through t_relay, on two workers) tm.stats
// and /metrics show exact counts; a silent callee shows retransmissions on both sides and a
// branch timeout, counted exactly as the UAs saw them.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { request, tmRig } from './tm-uas.js';
import { describeSippRun, parseMetrics, runSipp, startSipp, type SippResult, type ViaductProcess } from './harness.js';

const LOOPBACK = '127.0.0.1';
const UAC = fileURLToPath(new URL('./scenarios/tm-uac.xml', import.meta.url));
const UAS = fileURLToPath(new URL('./scenarios/tm-uas.xml', import.meta.url));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const retransmissions = (r: SippResult) => r.messages.reduce((n, m) => n + (m.retrans ?? 0), 0);

/** The tm series of /metrics: a labelled family's series, not parseMetrics's sum of them. */
async function tmMetrics(v: ViaductProcess): Promise<Record<string, number>> {
  const m = parseMetrics(await v.metrics());
  const labelled = new Set([...m.keys()].filter((k) => k.includes('{')).map((k) => k.slice(0, k.indexOf('{'))));
  return Object.fromEntries([...m].filter(([k]) => k.startsWith('viaduct_tm_') && (k.includes('{') || !labelled.has(k))));
}

describe('tm statistics and metrics', () => {
  const rig = tmRig();

  it('10 calls through t_relay on 2 workers: tm.stats and /metrics count INVITE and BYE transactions, 2xx, 100 Trying, relayed replies', async () => {
    const [proxyPort, uasPort, uacPort] = await rig.freePorts(3) as [number, number, number];
    const script = `function ksr_request_route() {
  if (KSR.siputils.has_totag() > 0) KSR.rr.loose_route(); else KSR.rr.record_route();
  KSR.tm.t_relay_to_proto_addr("udp", "127.0.0.1", ${uasPort});
}`;
    const viaduct = await rig.start({ script, listen: [`udp:${LOOPBACK}:${proxyPort}`], workers: 2, modparams: ['tm:wt_timer=300'] });
    const uas = rig.sipp(startSipp({ scenario: UAS, localIp: LOOPBACK, localPort: uasPort }));
    await uas.ready;
    const calls = 10;
    const uac = await runSipp({ scenario: UAC, remote: `${LOOPBACK}:${proxyPort}`, localIp: LOOPBACK, localPort: uacPort, rate: 10, calls, timeoutMs: 30_000 });
    const server = await uas.stop({ graceful: true, graceMs: 3000 });
    await sleep(800); // every transaction past wt_timer
    const report = `${describeSippRun('uac', uac)}\n${describeSippRun('uas', server)}\nviaduct stderr:\n${viaduct.stderr().slice(-2000)}`;
    expect(uac, report).toMatchObject({ successful: calls, failed: 0 });
    expect(server, report).toMatchObject({ successful: calls, failed: 0 });
    // exact figures need a run without retransmissions (as tm.test.ts; loopback, 10 calls/s)
    expect([retransmissions(uac), retransmissions(server)], report).toEqual([0, 0]);

    // per call: INVITE and BYE transactions; the uas's 100, 180, 200 and the BYE's 200 received;
    // our 100, the 180, the 200 and the BYE's 200 sent upstream
    const stats = await viaduct.rpc<Record<string, number>>('tm.stats');
    expect(stats, report).toEqual({
      current: 0, waiting: 0, total: 2 * calls, total_local: 0, rpl_received: 4 * calls, rpl_generated: calls, rpl_sent: 4 * calls,
      '6xx': 0, '5xx': 0, '4xx': 0, '3xx': 0, '2xx': 2 * calls, created: 2 * calls, freed: 2 * calls, delayed_free: 0,
      retr_sent: 0, retr_received: 0, timeouts: 0,
      local_1xx: calls, local_2xx: 0, local_3xx: 0, local_4xx: 0, local_5xx: 0, local_6xx: 0, shm_full: 0,
    });
    expect(await tmMetrics(viaduct), report).toEqual({
      'viaduct_tm_transactions_current{state="active"}': 0,
      'viaduct_tm_transactions_current{state="waiting"}': 0,
      viaduct_tm_transactions_total: 2 * calls,
      viaduct_tm_freed_total: 2 * calls,
      'viaduct_tm_replies_total{class="2xx"}': 2 * calls,
      'viaduct_tm_replies_total{class="3xx"}': 0,
      'viaduct_tm_replies_total{class="4xx"}': 0,
      'viaduct_tm_replies_total{class="5xx"}': 0,
      'viaduct_tm_replies_total{class="6xx"}': 0,
      viaduct_tm_received_replies_total: 4 * calls,
      'viaduct_tm_local_replies_total{class="1xx"}': calls,
      'viaduct_tm_local_replies_total{class="2xx"}': 0,
      'viaduct_tm_local_replies_total{class="3xx"}': 0,
      'viaduct_tm_local_replies_total{class="4xx"}': 0,
      'viaduct_tm_local_replies_total{class="5xx"}': 0,
      'viaduct_tm_local_replies_total{class="6xx"}': 0,
      viaduct_tm_sent_replies_total: 4 * calls,
      'viaduct_tm_retransmissions_total{direction="sent"}': 0,
      'viaduct_tm_retransmissions_total{direction="received"}': 0,
      viaduct_tm_timeouts_total: 0,
      viaduct_tm_store_full_total: 0,
    });
    // the same figures in stats.get_statistics, under Kamailio-style names
    const lines = await viaduct.rpc<string[]>('stats.get_statistics', 'tm:');
    expect(lines, report).toEqual(expect.arrayContaining([`tm:created = ${2 * calls}`, `tm:2xx = ${2 * calls}`, 'tm:retr_sent = 0', 'tm:timeouts = 0']));
  }, 60_000);

  it('a silent callee: timer A retransmissions, absorbed retransmissions of the caller, one timeout (408), counted as the UAs saw them', async () => {
    const [proxy, silent, caller] = await rig.freePorts(3) as [number, number, number];
    const script = `function ksr_request_route() { KSR.tm.t_relay_to_proxy("udp:127.0.0.1:${silent}"); }\n`;
    const viaduct = await rig.start({ script, listen: [`udp:${LOOPBACK}:${proxy}`], workers: 1, modparams: ['tm:fr_timer=1300', 'tm:wt_timer=300'] }); // no 1xx from the callee: fr_timer
    const [s, c] = await rig.open([silent, 'silent'], [caller, null]);
    const before = await tmMetrics(viaduct); // all there at zero before the first transaction
    expect(before['viaduct_tm_retransmissions_total{direction="sent"}']).toBe(0);
    expect(before['viaduct_tm_transactions_current{state="active"}']).toBe(0);

    const ruri = `sip:callee@127.0.0.1:${silent}`;
    const inv = request('INVITE', ruri, caller, 'z9hG4bKmetrics1', 'metrics-1', 1);
    c.send(inv, proxy);
    expect(await c.waitFor('SIP/2.0 100', 1, 2000)).toBe(true);
    const during = await tmMetrics(viaduct);
    expect(during['viaduct_tm_transactions_current{state="active"}']).toBe(1);
    c.send(inv, proxy); // two retransmissions: each absorbed, the 100 sent again
    c.send(inv, proxy);
    expect(await c.waitFor('SIP/2.0 408', 1, 4000), viaduct.stderr()).toBe(true);
    c.send(request('ACK', ruri, caller, 'z9hG4bKmetrics1', 'metrics-1', 1, 'x'), proxy); // absorbed, not a retransmission
    await sleep(700);
    const report = `caller got: ${c.received.map((m) => m.first).join(' | ')}\ncallee got: ${s.received.map((m) => m.first).join(' | ')}`;
    // timer A: 500 ms, then 1000 ms later (past fr_timer): the callee got the INVITE and 1 retransmission
    const resent = s.got('INVITE').length - 1;
    expect(resent, report).toBeGreaterThanOrEqual(1);
    expect(c.got('SIP/2.0 100').length, report).toBe(3);
    const stats = await viaduct.rpc<Record<string, number>>('tm.stats');
    expect(stats, report).toMatchObject({
      current: 0, waiting: 0, created: 1, freed: 1, rpl_generated: 2, rpl_sent: 4, rpl_received: 0, '4xx': 1,
      retr_sent: resent, retr_received: 2, timeouts: 1, local_1xx: 1, local_4xx: 1,
    });
    expect(await tmMetrics(viaduct), report).toMatchObject({
      'viaduct_tm_retransmissions_total{direction="sent"}': resent,
      'viaduct_tm_retransmissions_total{direction="received"}': 2,
      viaduct_tm_timeouts_total: 1,
      'viaduct_tm_replies_total{class="4xx"}': 1,
      'viaduct_tm_local_replies_total{class="1xx"}': 1, // 100 Trying, once: the two resent are not new replies
      'viaduct_tm_local_replies_total{class="4xx"}': 1, // the 408
      viaduct_tm_sent_replies_total: 4,
    });
  }, 30_000);
});
