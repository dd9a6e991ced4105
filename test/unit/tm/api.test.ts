// tm's script-local API on a real core (test/unit/core/ksr-harness.ts): t_load_contacts /
// t_next_contacts ordering (the same destination set as a Kamailio 5.6.3 run, whose result is
// written below), t_set_max_lifetime / t_set_retr before and after the transaction exists, and
// $T_req / $T with a pseudo-variable inside.
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { formatWithPvs, pvSpec } from '../../../src/core/pv.js';
import { txOf } from '../../../src/modules/tm/tm.js';
import { minimalInvite, setup } from '../core/ksr-harness.js';

const INVITE = minimalInvite('api-1', 'z9hG4bKapi1', 5);

const OPTIONS = INVITE.replace(/INVITE/g, 'OPTIONS').replace('z9hG4bKapi1', 'z9hG4bKapi2').replace('api-1', 'api-2');

describe('tm: t_load_contacts / t_next_contacts', () => {
  it('orders as Kamailio 5.6.3: highest q first, the later of equal q first, the R-URI without q last; q_flag ends a group', () => {
    const h = setup(undefined, { tm: { contacts_avp: 'tm_contacts' } });
    const { KSR } = h;
    const seen: unknown[] = [];
    h.run(() => {
      KSR.rewriteuri('sip:last@127.0.0.1:1');
      KSR.corex.append_branch_uri_q('sip:a@127.0.0.1:2', '1');
      KSR.corex.append_branch_uri_q('sip:half@127.0.0.1:3', '0.5');
      KSR.corex.append_branch_uri_q('sip:b@127.0.0.1:4', '1.0');
      seen.push(KSR.tm.t_load_contacts());
      // Kamailio 5.6.3, same set, $xavp(tm_contacts[i]=>uri)/q_flag:
      // 0=sip:b@127.0.0.1:4/0 1=sip:a@127.0.0.1:2/4 2=sip:half@127.0.0.1:3/4 3=sip:last@127.0.0.1:1/0
      seen.push([0, 1, 2, 3].map((i) => `${KSR.pv.get(`$xavp(tm_contacts[${i}]=>uri)`)}/${KSR.pv.get(`$xavp(tm_contacts[${i}]=>q_flag)`)}`).join(' '));
      for (let i = 0; i < 4; i++) {
        seen.push(`${KSR.tm.t_next_contacts()} ${KSR.pv.get('$ru')} ${h.core.ctx.branches?.map((x) => x.uri).join(',') ?? ''}`);
        h.core.ctx.branches = null; // as t_relay would consume them (t_next_contacts only appends)
      }
    }, INVITE);
    // Kamailio 5.6.3: rc=1 ru=b br=a; rc=1 ru=half; rc=1 ru=last; rc=-2
    expect(seen).toEqual([
      1,
      'sip:b@127.0.0.1:4/0 sip:a@127.0.0.1:2/4 sip:half@127.0.0.1:3/4 sip:last@127.0.0.1:1/0',
      '1 sip:b@127.0.0.1:4 sip:a@127.0.0.1:2',
      '1 sip:half@127.0.0.1:3 ',
      '1 sip:last@127.0.0.1:1 ',
      '-2 sip:last@127.0.0.1:1 ',
    ]);
  });

  it('nothing to load without branches (1, no list); -1 when contacts_avp is not set', () => {
    const h = setup(undefined, { tm: { contacts_avp: 'tm_contacts' } });
    let r: unknown[] = [];
    h.run(() => { r = [h.KSR.tm.t_load_contacts(), h.KSR.pv.get('$xavp(tm_contacts[0]=>uri)'), h.KSR.tm.t_next_contacts()]; }, INVITE);
    expect(r).toEqual([1, null, -2]);
    const off = setup();
    off.run(() => {
      off.KSR.corex.append_branch_uri('sip:x@127.0.0.1:9');
      r = [off.KSR.tm.t_load_contacts(), off.KSR.tm.t_next_contacts()];
      off.core.ctx.branches = null;
    }, INVITE);
    expect(r).toEqual([-1, -1]);
  });
});

describe('tm: per-transaction timers and switches', () => {
  it('t_set_max_lifetime and t_set_retr before t_newtran go to the new transaction; after it, to the transaction', () => {
    const h = setup();
    const { KSR } = h;
    const out: number[] = [];
    h.run(() => {
      KSR.tm.t_set_max_lifetime(0, 5000);
      KSR.tm.t_set_retr(150, 1000);
      const t0 = performance.now();
      KSR.tm.t_newtran();
      const rec = txOf(h.core.ctx)!.rec;
      out.push(Math.round((rec.endAt - t0) / 100), rec.retr1, rec.retr2);
      KSR.tm.t_set_max_lifetime(0, 9000);
      KSR.tm.t_reset_retr();
      out.push(Math.round((rec.endAt - performance.now()) / 100), rec.retr1, rec.retr2);
      KSR.tm.t_reply(200, 'OK');
    }, OPTIONS);
    expect(out).toEqual([50, 150, 1000, 90, 500, 4000]);
  });
});

describe('tmx: $T_req(pv), $T(name) and pseudo-variables inside an argument', () => {
  it('$T_req reads the stored request once there is a transaction (null before); xlog formats find the inner pv', () => {
    const h = setup();
    const got: unknown[] = [];
    h.run(() => {
      got.push(pvSpec('$T_req($hdr(CSeq))').get(h.core));
      h.KSR.tm.t_newtran();
      got.push(pvSpec('$T_req($hdr(CSeq))').get(h.core), pvSpec('$(T_req($fu))').get(h.core), pvSpec('$T(reply_code)').get(h.core));
      got.push(formatWithPvs(h.core, 'cseq=[$T_req($hdr(CSeq))] ci=$T_req($ci) T=$T(branch_index) rpl=$T_rpl($rs)'));
      h.KSR.tm.t_reply(404, 'Not Here');
      got.push(pvSpec('$T(reply_code)').get(h.core));
    }, INVITE);
    expect(got).toEqual([null, '5 INVITE', 'sip:alice@example.com', 0, 'cseq=[5 INVITE] ci=api-1 T=0 rpl=<null>', 404]);
  });
});

describe('tm: AVPs belong to the transaction', () => {
  it('a transaction made with no AVP gets the ones the route sets after it (the lists are made on first write)', () => {
    const h = setup();
    const seen: unknown[] = [];
    h.run(() => {
      h.KSR.tm.t_newtran();
      const rec = txOf(h.core.ctx)!.rec;
      seen.push(rec.avps, rec.xavps);
      h.KSR.pv.sets('$avp(late)', 'after t_newtran');
      seen.push(rec.avps?.get('late'));
    }, minimalInvite('api-avp', 'z9hG4bKapiavp', 7));
    expect(seen).toEqual([null, null, ['after t_newtran']]);
  });
});

describe('tmx: $T_req and $T_rpl around a failure route', () => {
  it('$T_req read before t_relay does not hide the route\'s new R-URI from the failure route; $T_rpl is the 486 that chose it', () => {
    const h = setup();
    const { KSR, core } = h;
    const got: unknown[] = [];
    core.routes = {
      request: () => {
        KSR.tm.t_newtran();
        got.push(KSR.pv.get('$T_req($ru)'));
        KSR.rewriteuri('sip:new@127.0.0.1:5070');
        KSR.tm.t_on_failure('F');
        KSR.tm.t_relay();
        got.push(KSR.pv.get('$T_req($ru)'));
      },
      named: (n) => (n === 'F' ? () => { got.push(KSR.pv.get('$ru'), KSR.pv.get('$T_req($ru)'), KSR.pv.get('$T_rpl($rs)'), KSR.pv.get('$T_rpl($hdr(X-Why))')); } : undefined),
    };
    // a branch of its own: the transactions of the tests above still wait (module state per thread)
    const fwd = h.deliver(INVITE.replace('z9hG4bKapi1', 'z9hG4bKapi3')).find((s) => s.port === 5070)!;
    const vias = fwd.text.split('\r\n').filter((l) => l.startsWith('Via:')).join('\n');
    h.deliver(`SIP/2.0 486 Busy Here\n${vias}\nFrom: <sip:alice@example.com>;tag=f1\nTo: <sip:bob@example.com>;tag=b1\nCall-ID: api-1\nCSeq: 5 INVITE\nX-Why: busy\nContent-Length: 0\n\n`, '127.0.0.1', 5070);
    expect(got).toEqual(['sip:bob@example.com', 'sip:new@127.0.0.1:5070', 'sip:new@127.0.0.1:5070', 'sip:new@127.0.0.1:5070', 486, 'busy']);
  });
});
