// corex's destination set: what append_branch* put in ctx.branches, Kamailio's return codes, and
// tmx's route checks outside tm's routes.
import { describe, expect, it } from 'vitest';
import { parseQ } from '../../../src/modules/corex/index.js';
import { minimalInvite, setup } from '../core/ksr-harness.js';

const INVITE = minimalInvite('corex-1', 'z9hG4bKcx1');

describe('corex append_branch', () => {
  it('append_branch() takes the R-URI and $du and resets $du; append_branch_uri keeps $du and copies it', () => {
    const h = setup();
    h.run(() => {
      const { KSR, core } = h;
      KSR.pv.sets('$du', 'sip:192.0.2.50:5070');
      expect(KSR.corex.append_branch()).toBe(1);
      expect(KSR.pv.get('$du')).toBe(null);
      KSR.pv.sets('$du', 'sip:192.0.2.51');
      expect(KSR.corex.append_branch_uri('sip:carol@example.org')).toBe(1);
      expect(KSR.pv.get('$du')).toBe('sip:192.0.2.51');
      expect(KSR.corex.append_branch_uri_q('sip:dave@example.org', '0.5')).toBe(1);
      expect(core.ctx.branches).toEqual([
        { uri: 'sip:bob@example.com', du: 'sip:192.0.2.50:5070', q: -1 },
        { uri: 'sip:carol@example.org', du: 'sip:192.0.2.51', q: -1 },
        { uri: 'sip:dave@example.org', du: 'sip:192.0.2.51', q: 500 },
      ]);
      expect(KSR.corex.append_branch_uri_q('sip:erin@example.org', '1.5')).toBe(-1);
      expect(core.ctx.branches!.length).toBe(3);
    }, INVITE);
  });

  it('at most 11 appended branches (sr_dst_max_branches 12 with the R-URI); a new message starts empty', () => {
    const h = setup();
    h.run(() => {
      for (let i = 0; i < 11; i++) expect(h.KSR.corex.append_branch_uri(`sip:u${i}@example.org`)).toBe(1);
      expect(h.KSR.corex.append_branch_uri('sip:one-too-many@example.org')).toBe(-1);
    }, INVITE);
    h.run(() => expect(h.core.ctx.branches).toBe(null), INVITE.replace('corex-1', 'corex-2'));
  });

  it('str2q: 0 .. 1 with up to three decimals', () => {
    expect([parseQ('0'), parseQ('0.5'), parseQ('0.125'), parseQ('1'), parseQ('1.000'), parseQ('1.1'), parseQ('0.1234'), parseQ('x')])
      .toEqual([0, 500, 125, 1000, 1000, null, null, null]);
  });

  it('tmx: a request route is one, not a branch/reply/failure route', () => {
    const h = setup();
    h.run(() => {
      const t = h.KSR.tmx;
      expect([t.t_is_request_route(), t.t_is_branch_route(), t.t_is_reply_route(), t.t_is_failure_route(), t.t_precheck_trans()]).toEqual([1, -1, -1, -1, -1]);
      expect(t.t_cancel_branches('all')).toBe(-1); // not allowed in a request route
    }, INVITE);
  });
});
