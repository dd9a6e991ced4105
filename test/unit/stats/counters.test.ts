import { describe, expect, it } from 'vitest';
import {
  C,
  COUNTERS,
  counterId,
  createStatsBuffer,
  methodCounter,
  RCV_REPLIES,
  RCV_REQUESTS,
  replyCounters,
  ROW_CELLS,
  SL_SENT_ERR_REPLIES,
  SL_SENT_REPLIES,
  slReplyCounters,
  statsRows,
  sumStats,
  ThreadCounters,
  UNSUPPORTED_METHODS,
  WORKER_RESTARTS,
} from '../../../src/core/stats/counters.js';
import {
  METHOD_ACK, METHOD_BYE, METHOD_CANCEL, METHOD_INFO, METHOD_INVITE, METHOD_KDMQ, METHOD_MESSAGE, METHOD_NOTIFY, METHOD_OPTIONS, METHOD_OTHER, METHOD_PRACK, METHOD_PUBLISH, METHOD_REFER, METHOD_REGISTER, METHOD_SUBSCRIBE, METHOD_UPDATE,
} from '../../../src/core/sip/methods.js';

/** Names of a list of ids, for readable assertions. */
const names = (ids: readonly number[]) => ids.map((id) => COUNTERS[id]);

describe('counter list', () => {
  it('has every Kamailio core and sl statistic and ours, each once', () => {
    const expected = [
      'core:rcv_requests', 'core:rcv_requests_invite', 'core:rcv_requests_cancel', 'core:rcv_requests_ack',
      'core:rcv_requests_bye', 'core:rcv_requests_info', 'core:rcv_requests_register',
      'core:rcv_requests_subscribe', 'core:rcv_requests_notify', 'core:rcv_requests_message',
      'core:rcv_requests_options', 'core:rcv_requests_prack', 'core:rcv_requests_update',
      'core:rcv_requests_refer', 'core:rcv_requests_publish', 'core:rcv_replies', 'core:rcv_replies_1xx',
      'core:rcv_replies_18x', 'core:rcv_replies_2xx', 'core:rcv_replies_3xx', 'core:rcv_replies_4xx',
      'core:rcv_replies_5xx', 'core:rcv_replies_6xx', 'core:rcv_replies_401', 'core:rcv_replies_404',
      'core:rcv_replies_407', 'core:rcv_replies_480', 'core:rcv_replies_486', 'core:fwd_requests',
      'core:fwd_replies', 'core:drop_requests', 'core:drop_replies', 'core:err_requests', 'core:err_replies',
      'core:bad_URIs_rcvd', 'core:unsupported_methods', 'core:bad_msg_hdr',
      'core:rcv_replies_1xx_invite', 'core:rcv_replies_6xx_refer', 'core:rcv_replies_4xx_reg',
      'sl:1xx_replies', 'sl:200_replies', 'sl:202_replies', 'sl:2xx_replies', 'sl:300_replies',
      'sl:301_replies', 'sl:302_replies', 'sl:3xx_replies', 'sl:400_replies', 'sl:401_replies',
      'sl:403_replies', 'sl:404_replies', 'sl:407_replies', 'sl:408_replies', 'sl:483_replies',
      'sl:4xx_replies', 'sl:500_replies', 'sl:5xx_replies', 'sl:6xx_replies', 'sl:xxx_replies',
      'sl:sent_replies', 'sl:sent_err_replies', 'sl:received_ACKs', 'sl:failures',
      'viaduct:ring_full_drops', 'viaduct:worker_restarts', 'viaduct:worker_lost_messages',
      'viaduct:worker_socket_rcv', 'viaduct:script_errors', 'viaduct:loops_detected', 'viaduct:oversized_msgs',
    ];
    for (const name of expected) expect(COUNTERS).toContain(name);
    expect(new Set(COUNTERS).size).toBe(COUNTERS.length);
    expect(COUNTERS.filter((n) => n.startsWith('core:rcv_replies_') && /xx_/.test(n))).toHaveLength(48);
    for (const name of COUNTERS) expect(name).toMatch(/^(core|sl|viaduct):\w+$/);
  });

  it('Kamailio has no KDMQ request counter, so neither do we', () => {
    expect(COUNTERS).not.toContain('core:rcv_requests_kdmq');
    expect(methodCounter(METHOD_KDMQ)).toBe(-1);
  });

  it('keys C by bare name for core and group:name for the other groups', () => {
    expect(C.rcv_requests).toBe(COUNTERS.indexOf('core:rcv_requests'));
    expect(C.bad_URIs_rcvd).toBe(COUNTERS.indexOf('core:bad_URIs_rcvd'));
    expect(C['sl:sent_replies']).toBe(COUNTERS.indexOf('sl:sent_replies'));
    expect(C['viaduct:worker_restarts']).toBe(WORKER_RESTARTS);
    expect(Object.keys(C)).toHaveLength(COUNTERS.length);
    expect(RCV_REQUESTS).toBe(C.rcv_requests);
    expect(counterId('core:fwd_requests')).toBe(C.fwd_requests);
    expect(counterId('fwd_requests')).toBe(C.fwd_requests);
    expect(counterId('sl:failures')).toBe(C['sl:failures']);
    expect(() => counterId('no_such_counter')).toThrow(/unknown counter/);
  });
});

describe('matrix', () => {
  it('rows are cache-line sized and sumStats adds every row', () => {
    expect(ROW_CELLS % 8).toBe(0);
    expect(ROW_CELLS).toBeGreaterThanOrEqual(COUNTERS.length);
    const sab = createStatsBuffer(4);
    expect(statsRows(sab)).toBe(4);
    const rows = [0, 1, 2, 3].map((r) => new ThreadCounters(sab, r));
    rows.forEach((t, r) => {
      for (let i = 0; i <= r; i++) t.inc(RCV_REQUESTS); // row r adds r + 1
      t.add(C['sl:sent_replies'], 10 * (r + 1));
    });
    rows[3].incAll(replyCounters(486));
    const totals = sumStats(sab);
    expect([...totals.keys()]).toEqual(COUNTERS);
    expect(totals.get('core:rcv_requests')).toBe(1 + 2 + 3 + 4);
    expect(totals.get('sl:sent_replies')).toBe(100);
    expect(totals.get('core:rcv_replies_486')).toBe(1);
    expect(totals.get('core:fwd_requests')).toBe(0);
  });

  it('a thread writes only its own row', () => {
    const sab = createStatsBuffer(2);
    new ThreadCounters(sab, 1).inc(COUNTERS.length - 1);
    expect(new ThreadCounters(sab, 0).row.every((v) => v === 0)).toBe(true);
    expect(() => new ThreadCounters(sab, 2)).toThrow(RangeError);
    expect(() => createStatsBuffer(0)).toThrow(RangeError);
  });
});

describe('which counters a message bumps', () => {
  it('maps each Kamailio method bit to its rcv_requests counter', () => {
    const cases: [number, string][] = [
      [METHOD_INVITE, 'invite'], [METHOD_CANCEL, 'cancel'], [METHOD_ACK, 'ack'], [METHOD_BYE, 'bye'],
      [METHOD_INFO, 'info'], [METHOD_REGISTER, 'register'], [METHOD_SUBSCRIBE, 'subscribe'],
      [METHOD_NOTIFY, 'notify'], [METHOD_MESSAGE, 'message'], [METHOD_OPTIONS, 'options'],
      [METHOD_PRACK, 'prack'], [METHOD_UPDATE, 'update'], [METHOD_REFER, 'refer'], [METHOD_PUBLISH, 'publish'],
    ];
    for (const [bit, name] of cases) expect(COUNTERS[methodCounter(bit)]).toBe(`core:rcv_requests_${name}`);
    expect(methodCounter(METHOD_OTHER)).toBe(UNSUPPORTED_METHODS);
    for (const other of [0, -1, 3, 32768, 1 << 20, 0.5]) expect(methodCounter(other)).toBe(-1);
  });

  it('reply counters follow kex: class, 18x, singled-out codes, per CSeq method; not the total', () => {
    expect(names(replyCounters(180))).toEqual(['core:rcv_replies_1xx', 'core:rcv_replies_18x']);
    expect(names(replyCounters(100))).toEqual(['core:rcv_replies_1xx']);
    expect(names(replyCounters(200, METHOD_INVITE))).toEqual(['core:rcv_replies_2xx', 'core:rcv_replies_2xx_invite']);
    expect(names(replyCounters(401, METHOD_REGISTER))).toEqual([
      'core:rcv_replies_4xx', 'core:rcv_replies_401', 'core:rcv_replies_4xx_reg',
    ]);
    expect(names(replyCounters(486, METHOD_OPTIONS))).toEqual(['core:rcv_replies_4xx', 'core:rcv_replies_486']);
    expect(names(replyCounters(603, METHOD_REFER))).toEqual(['core:rcv_replies_6xx', 'core:rcv_replies_6xx_refer']);
    for (let s = 0; s < 1000; s++) expect(replyCounters(s, METHOD_INVITE)).not.toContain(RCV_REPLIES);
    for (const odd of [0, 99, 700, 999, 1000, -5, 200.5]) expect(replyCounters(odd, METHOD_INVITE)).toEqual([]);
  });

  it('caches the lists: no allocation per message', () => {
    expect(replyCounters(183, METHOD_INVITE)).toBe(replyCounters(183, METHOD_INVITE));
    expect(slReplyCounters(404)).toBe(slReplyCounters(404));
    expect(Object.isFrozen(replyCounters(183))).toBe(true);
  });

  it('sl counters follow sl_stats.c: one bucket, named codes not in their class', () => {
    expect(names(slReplyCounters(100))).toEqual(['sl:1xx_replies', 'sl:sent_replies']);
    expect(names(slReplyCounters(200))).toEqual(['sl:200_replies', 'sl:sent_replies']);
    expect(names(slReplyCounters(202))).toEqual(['sl:202_replies', 'sl:sent_replies']);
    expect(names(slReplyCounters(204))).toEqual(['sl:2xx_replies', 'sl:sent_replies']);
    expect(names(slReplyCounters(302))).toEqual(['sl:302_replies', 'sl:sent_replies', 'sl:sent_err_replies']);
    expect(names(slReplyCounters(305))).toEqual(['sl:3xx_replies', 'sl:sent_replies', 'sl:sent_err_replies']);
    for (const code of [400, 401, 403, 404, 407, 408, 483, 500]) {
      expect(names(slReplyCounters(code))[0]).toBe(`sl:${code}_replies`);
    }
    expect(names(slReplyCounters(486))[0]).toBe('sl:4xx_replies');
    expect(names(slReplyCounters(503))[0]).toBe('sl:5xx_replies');
    expect(names(slReplyCounters(603))[0]).toBe('sl:6xx_replies');
    expect(names(slReplyCounters(99))[0]).toBe('sl:xxx_replies');
    expect(names(slReplyCounters(700))[0]).toBe('sl:xxx_replies');
    expect(slReplyCounters(404)).toContain(SL_SENT_ERR_REPLIES);
    expect(slReplyCounters(299)).not.toContain(SL_SENT_ERR_REPLIES);
    for (let s = 0; s < 1000; s++) expect(slReplyCounters(s)).toContain(SL_SENT_REPLIES);
  });
});
