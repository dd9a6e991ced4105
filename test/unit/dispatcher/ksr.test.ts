// KSR.dispatcher on a real core: what the functions do to $du, the R-URI and $xavp(_dsdst_),
// their return codes, the call-load bookkeeping of algorithm 10, and dispatcher.hash agreeing
// with what the hash algorithms select.
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/core/log.js';
import { TimerWheel } from '../../../src/core/timer/wheel.js';
import { parseMessage } from '../../../src/core/sip/parser.js';
import { parseListText } from '../../../src/modules/dispatcher/list.js';
import { parseReplyCodes, Prober } from '../../../src/modules/dispatcher/probe.js';
import { dispatcherRpc } from '../../../src/modules/dispatcher/rpc.js';
import { dsHash } from '../../../src/modules/dispatcher/select.js';
import { buildTable, DsTable } from '../../../src/modules/dispatcher/table.js';
import { RpcRegistry } from '../../../src/rpc/registry.js';
import { setup } from '../core/ksr-harness.js';

const LIST = `1 sip:10.0.0.1:5060 0 0 duid=a;maxload=1
1 sip:10.0.0.2:5070 0 0 duid=b;maxload=5
1 sip:10.0.0.3 0 0 duid=c
`;

/** flags 2 (failover support) unless told: the candidates are kept for ds_next_dst/ds_mark_dst. */
function withDispatcher(flags = 2) {
  const data = buildTable(parseListText(LIST, 'test.list'), 1, 1);
  const h = setup(undefined, { dispatcher: { flags } }, { dispatcher: data });
  return { ...h, table: new DsTable(data) };
}

const request = (method: string, callId = 'c1@192.0.2.10', extra = '') => `${method} sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK${method}${callId}
From: <sip:alice@example.com>;tag=f1
To: <sip:bob@example.com>${method === 'INVITE' ? '' : ';tag=t1'}
Call-ID: ${callId}
CSeq: ${method === 'BYE' ? 2 : 1} ${method}
Max-Forwards: 70
${extra}Content-Length: 0

`;

describe('KSR.dispatcher', () => {
  it('ds_select_dst sets $du and lists the candidates; ds_next_dst walks them; limit caps them', () => {
    const { KSR, run } = withDispatcher();
    const seen: unknown[] = [];
    const out = run(() => {
      expect(KSR.dispatcher.ds_select_dst(1, 8)).toBe(1); // priority (all 0): set order
      seen.push(KSR.pv.get('$du'), KSR.pv.get('$xavp(_dsdst_=>uri)'), KSR.pv.get('$xavp(_dsdst_[1]=>uri)'), KSR.pv.get('$xavp(_dsctx_=>cnt)'),
        KSR.pv.get('$xavp(_dsdst_=>attrs)'));
      expect(KSR.dispatcher.ds_next_dst()).toBe(1);
      seen.push(KSR.pv.get('$du'), KSR.pv.get('$xavp(_dsctx_=>cnt)'));
      expect(KSR.dispatcher.ds_select_dst_limit(1, 8, 2)).toBe(1);
      seen.push(KSR.pv.get('$xavp(_dsctx_=>cnt)'));
      expect(KSR.dispatcher.ds_next_dst()).toBe(1);
      expect(KSR.dispatcher.ds_next_dst()).toBe(-1); // the limit left two
      KSR.forward();
    }, request('INVITE'));
    // equal priorities: reverse list order (Kamailio's)
    expect(seen).toEqual(['sip:10.0.0.3', 'sip:10.0.0.3', 'sip:10.0.0.2:5070', 3, 'duid=c', 'sip:10.0.0.2:5070', 2, 2]);
    expect([out[0]!.host, out[0]!.port]).toEqual(['10.0.0.2', 5070]);
  });

  it('without flags 2 no candidates are kept: ds_next_dst and ds_mark_dst give -1 (Kamailio)', () => {
    const { KSR, run } = withDispatcher(0);
    run(() => {
      expect(KSR.dispatcher.ds_select_dst(1, 8)).toBe(1);
      expect(KSR.pv.get('$du')).toBe('sip:10.0.0.3');
      expect(KSR.pv.get('$xavp(_dsdst_=>uri)')).toBe(null);
      expect(KSR.dispatcher.ds_next_dst()).toBe(-1);
      expect(KSR.dispatcher.ds_mark_dst()).toBe(-1);
      expect(KSR.dispatcher.ds_is_active_uri(1, 'sip:10.0.0.3')).toBe(1);
      expect(KSR.pv.get('$du')).toBe('sip:10.0.0.3');
    }, request('INVITE'));
  });

  it('ds_select_domain rewrites the R-URI host and port; unknown sets and inactive ones give -1', () => {
    const { KSR, run, table } = withDispatcher();
    const out = run(() => {
      expect(KSR.dispatcher.ds_select_domain(1, 8)).toBe(1);
      expect(KSR.dispatcher.ds_select_dst(7, 4)).toBe(-1);
      expect(KSR.dispatcher.ds_list_exists(1)).toBe(1);
      expect(KSR.dispatcher.ds_list_exists(7)).toBe(-1);
      KSR.forward();
    }, request('INVITE'));
    expect(parseMessage(Buffer.from(out[0]!.text)).ruri).toBe('sip:bob@10.0.0.3');
    for (let i = 0; i < 3; i++) table.setState(i, 1);
    run(() => {
      expect(KSR.dispatcher.ds_is_active(1)).toBe(-1);
      expect(KSR.dispatcher.ds_select_dst(1, 4)).toBe(-1);
    }, request('INVITE'));
  });

  it('ds_mark_dst marks the current candidate, seen through the shared table', () => {
    const { KSR, run, table } = withDispatcher();
    run(() => {
      KSR.dispatcher.ds_select_dst(1, 8);
      expect(KSR.dispatcher.ds_mark_dst_state('ip')).toBe(1);
      expect(KSR.dispatcher.ds_mark_dst_state('x')).toBe(-1);
      expect(KSR.dispatcher.ds_is_active_uri(1, 'sip:10.0.0.3')).toBe(-1);
      expect(KSR.dispatcher.ds_is_active(1)).toBe(1);
    }, request('INVITE'));
    expect(table.flagLetters(table.findUri(1, 'sip:10.0.0.3')!)).toBe('IP');
  });

  it('ds_is_from_list matches the source address; mode 1 ignores the port, a URI without port matches any', () => {
    const { KSR, run } = withDispatcher();
    const r: number[] = [];
    run(() => { r.push(KSR.dispatcher.ds_is_from_list(1), KSR.dispatcher.ds_is_from_list_mode(-1, 2), KSR.dispatcher.ds_is_from_list(2)); }, request('OPTIONS'), '10.0.0.1', 5060);
    run(() => { r.push(KSR.dispatcher.ds_is_from_list(1), KSR.dispatcher.ds_is_from_list_mode(1, 3)); }, request('OPTIONS'), '10.0.0.1', 5999);
    run(() => { r.push(KSR.dispatcher.ds_is_from_list(1)); }, request('OPTIONS'), '10.0.0.3', 40000);
    run(() => { r.push(KSR.dispatcher.ds_is_from_list_mode(1, 0)); }, request('OPTIONS'), '10.0.0.1', 5060); // mode 0: proto must match too
    run(() => { r.push(KSR.dispatcher.ds_is_from_list_uri(1, 3, 'sip:10.0.0.2')); }, request('OPTIONS'), '192.0.2.99', 1);
    expect(r).toEqual([1, 1, -1, -1, 1, 1, -1, 1]);
  });

  it('call load (10): an INVITE holds a slot until its BYE; a full destination is skipped, all full is -1', () => {
    const { KSR, run, table } = withDispatcher();
    const a = table.findUri(1, 'sip:10.0.0.1:5060')!;
    const b = table.findUri(1, 'sip:10.0.0.2:5070')!;
    const c = table.findUri(1, 'sip:10.0.0.3')!;
    table.setState(c, 1); // leave a (maxload 1) and b (maxload 5)
    const pick = (callId: string) => { let du: unknown; run(() => { KSR.dispatcher.ds_select_dst(1, 10); du = KSR.pv.get('$du'); }, request('INVITE', callId)); return du; };
    // the fewest calls wins, set order (b before a: reverse list order) on a tie; a full one is skipped
    expect([pick('one'), pick('two'), pick('three')]).toEqual(['sip:10.0.0.2:5070', 'sip:10.0.0.1:5060', 'sip:10.0.0.2:5070']);
    expect(table.load(a)).toBe(1);
    expect(table.load(b)).toBe(2);
    run(() => {}, request('BYE', 'one'));
    run(() => {}, request('BYE', 'two'));
    expect(table.load(a) + table.load(b)).toBe(1);
    table.addLoad(b, 4); // b full too
    table.addLoad(a, 1);
    run(() => { expect(KSR.dispatcher.ds_select_dst(1, 10)).toBe(-1); }, request('INVITE', 'four'));
  });

  it('call load (10): ds_next_dst moves the call\'s slot to the next destination', () => {
    const { KSR, run, table } = withDispatcher();
    const a = table.findUri(1, 'sip:10.0.0.1:5060')!;
    const b = table.findUri(1, 'sip:10.0.0.2:5070')!;
    const c = table.findUri(1, 'sip:10.0.0.3')!;
    table.setState(c, 1);
    run(() => {
      expect(KSR.dispatcher.ds_select_dst(1, 10)).toBe(1);
      expect([table.load(a), table.load(b)]).toEqual([0, 1]);
      expect(KSR.dispatcher.ds_next_dst()).toBe(1);
      expect(KSR.pv.get('$du')).toBe('sip:10.0.0.1:5060');
      expect([table.load(a), table.load(b)]).toEqual([1, 0]);
      expect(KSR.dispatcher.ds_next_dst()).toBe(-1);
    }, request('INVITE', 'moving'));
    run(() => {}, request('BYE', 'moving'));
    expect([table.load(a), table.load(b)]).toEqual([0, 0]);
  });

  it('dispatcher.hash names the destination ds_select_dst picks for a key, an inactive one skipped', async () => {
    const { KSR, run, table } = withDispatcher();
    // the main thread's RPC over the same shared table the SIP thread selects from
    const rpc = new RpcRegistry();
    const prober = new Prober({ intervalS: 0, method: 'OPTIONS', from: 'sip:dispatcher@localhost', frTimerMs: 1000, probingThreshold: 1,
      inactiveThreshold: 1, replyCodes: parseReplyCodes(''), mode: 0 }, { wheel: new TimerWheel(), transport: { send() {} }, sockets: [] },
    () => table, () => undefined, createLogger('crit', 'test'));
    const control = { table: () => table, reload: () => undefined, replace: () => undefined, prober, params: {} };
    for (const [name, def] of Object.entries(dispatcherRpc)) rpc.register(name, (params) => def.handler(control, params), def.doc);
    interface HashReply { hashid: number; set: number; uri: string | null; candidates: string[] }
    const hash = async (...params: unknown[]) => (await rpc.call('dispatcher.hash', params)) as HashReply;

    const selected = (alg: number, callId: string, fromUser: string): string => {
      let du = '';
      run(() => {
        expect(KSR.dispatcher.ds_select_dst(1, alg)).toBe(1);
        du = String(KSR.pv.get('$du'));
      }, request('INVITE', callId).replace('sip:alice@example.com', `sip:${fromUser}@example.com`));
      return du;
    };
    const compare = async () => {
      const seen = new Set<string>();
      for (let k = 0; k < 300; k++) {
        const callId = `call-${k}@192.0.2.10`;
        const byCallId = await hash(1, callId);
        expect(byCallId.uri, callId).toBe(selected(0, callId, 'alice'));
        expect(byCallId.candidates[0]).toBe(byCallId.uri);
        // algorithm 1 hashes the From user and host, given to the RPC as two values
        expect((await hash(1, `user${k}`, 'example.com')).uri, `user${k}`).toBe(selected(1, callId, `user${k}`));
        seen.add(byCallId.uri!);
      }
      return seen;
    };
    expect(await compare()).toEqual(new Set(['sip:10.0.0.1:5060', 'sip:10.0.0.2:5070', 'sip:10.0.0.3']));
    await rpc.call('dispatcher.set_state', ['i', 1, 'sip:10.0.0.2:5070']);
    expect(await compare()).toEqual(new Set(['sip:10.0.0.1:5060', 'sip:10.0.0.3']));
    const reply = await hash(1, 'call-1@192.0.2.10');
    expect(reply.candidates).toHaveLength(2);
    expect(reply.hashid).toBe(dsHash('call-1@192.0.2.10') | 0);
    expect(reply.set).toBe(1);
    // every destination inactive: nothing to pick, as ds_select_dst returns -1
    await rpc.call('dispatcher.set_state', ['i', 1, 'all']);
    expect(await hash(1, 'call-1@192.0.2.10')).toMatchObject({ uri: null, candidates: [] });
    await expect(rpc.call('dispatcher.hash', [7, 'x'])).rejects.toThrow(/Unknown Destination Set 7/);
    await expect(rpc.call('dispatcher.hash', [1])).rejects.toThrow(/Invalid Parameters/);
  });
});
