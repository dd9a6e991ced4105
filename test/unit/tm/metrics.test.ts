// tm's statistics as /metrics and tm.stats show them: Prometheus families with labels, the gauge
// of transactions in memory, every series present at zero before the first transaction.
import { describe, expect, it } from 'vitest';
import { counterId, createStatsBuffer, registerModuleCounters, sumStats, ThreadCounters } from '../../../src/core/stats/counters.js';
import tm from '../../../src/modules/tm/index.js';
import { tmMetrics, tmStats } from '../../../src/modules/tm/metrics.js';
import { createMetricsRegistry, promSeries } from '../../../src/rpc/metrics.js';

registerModuleCounters('tm', tm.stats!); // as src/core/ksr.ts does at load

/** Prometheus text -> "name{labels}" -> value, name -> TYPE, name -> HELP. */
function parse(text: string) {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^# (TYPE|HELP) (\S+) (.*)$/.exec(line);
    if (m) (m[1] === 'TYPE' ? types : help).set(m[2]!, m[3]!);
    else if (line) samples.set(line.slice(0, line.lastIndexOf(' ')), Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return { samples, types, help };
}

describe('tm metrics', () => {
  const sab = createStatsBuffer(2);
  const rows = [new ThreadCounters(sab, 0), new ThreadCounters(sab, 1)];
  const add = (row: number, name: string, n: number) => rows[row]!.add(counterId(`tm:${name}`), n);
  const registry = createMetricsRegistry({
    stats: () => sumStats(sab),
    threads: async () => [],
    buildInfo: { version: '0.0.0' },
    extra: (r) => tmMetrics(r, () => tmStats(sumStats(sab))),
  });

  it('maps the statistics to families: classes and directions as labels, current/waiting/total and rpl_generated (a sum) not as counters', () => {
    expect(promSeries('tm:created')).toEqual({ name: 'viaduct_tm_transactions_total', labels: {} });
    expect(promSeries('tm:4xx')).toEqual({ name: 'viaduct_tm_replies_total', labels: { class: '4xx' } });
    expect(promSeries('tm:retr_sent')).toEqual({ name: 'viaduct_tm_retransmissions_total', labels: { direction: 'sent' } });
    expect(promSeries('tm:retr_received')).toEqual({ name: 'viaduct_tm_retransmissions_total', labels: { direction: 'received' } });
    expect(promSeries('tm:timeouts')).toEqual({ name: 'viaduct_tm_timeouts_total', labels: {} });
    expect(promSeries('tm:local_4xx')).toEqual({ name: 'viaduct_tm_local_replies_total', labels: { class: '4xx' } });
    for (const s of ['tm:current', 'tm:waiting', 'tm:total', 'tm:rpl_generated']) expect(promSeries(s), s).toBeNull();
  });

  it('exports every series at zero before any transaction, then the summed rows; the gauge partitions current', async () => {
    let { samples, types, help } = parse(await registry.metrics());
    const zero = [
      'viaduct_tm_transactions_total', 'viaduct_tm_freed_total', 'viaduct_tm_received_replies_total',
      'viaduct_tm_sent_replies_total', 'viaduct_tm_timeouts_total', 'viaduct_tm_store_full_total',
      ...['1xx', '2xx', '3xx', '4xx', '5xx', '6xx'].map((c) => `viaduct_tm_local_replies_total{class="${c}"}`),
      ...['2xx', '3xx', '4xx', '5xx', '6xx'].map((c) => `viaduct_tm_replies_total{class="${c}"}`),
      'viaduct_tm_retransmissions_total{direction="sent"}', 'viaduct_tm_retransmissions_total{direction="received"}',
      'viaduct_tm_transactions_current{state="active"}', 'viaduct_tm_transactions_current{state="waiting"}',
    ];
    for (const s of zero) expect(samples.get(s), s).toBe(0);
    expect([...samples.keys()].filter((k) => k.startsWith('viaduct_tm_')).sort()).toEqual([...zero].sort());
    expect(types.get('viaduct_tm_transactions_current')).toBe('gauge');
    expect(types.get('viaduct_tm_replies_total')).toBe('counter');
    expect(help.get('viaduct_tm_timeouts_total')).toMatch(/fr_timer.*408/);
    expect(help.get('viaduct_tm_transactions_current')).toMatch(/active.*waiting/);

    // 7 created on two threads, 2 freed, 3 of the rest waiting (entered wait: 2 freed + 3)
    add(0, 'created', 4); add(1, 'created', 3);
    add(0, 'freed', 2); add(0, 'waiting', 5);
    add(1, '2xx', 3); add(0, '4xx', 1); add(1, '6xx', 1);
    add(0, 'retr_sent', 6); add(1, 'retr_received', 2); add(1, 'timeouts', 1);
    add(0, 'rpl_generated', 4); add(0, 'local_1xx', 3); add(1, 'local_4xx', 1); add(1, 'rpl_sent', 9); add(0, 'rpl_received', 8);
    ({ samples } = parse(await registry.metrics()));
    expect(samples.get('viaduct_tm_transactions_total')).toBe(7);
    expect(samples.get('viaduct_tm_freed_total')).toBe(2);
    expect(samples.get('viaduct_tm_transactions_current{state="active"}')).toBe(2);
    expect(samples.get('viaduct_tm_transactions_current{state="waiting"}')).toBe(3);
    expect(samples.get('viaduct_tm_replies_total{class="2xx"}')).toBe(3);
    expect(samples.get('viaduct_tm_replies_total{class="4xx"}')).toBe(1);
    expect(samples.get('viaduct_tm_replies_total{class="6xx"}')).toBe(1);
    expect(samples.get('viaduct_tm_retransmissions_total{direction="sent"}')).toBe(6);
    expect(samples.get('viaduct_tm_retransmissions_total{direction="received"}')).toBe(2);
    expect(samples.get('viaduct_tm_timeouts_total')).toBe(1);
    expect(samples.get('viaduct_tm_local_replies_total{class="1xx"}')).toBe(3);
    expect(samples.get('viaduct_tm_local_replies_total{class="4xx"}')).toBe(1);
    expect(samples.get('viaduct_tm_sent_replies_total')).toBe(9);
    expect(samples.get('viaduct_tm_received_replies_total')).toBe(8);
  });

  it('tm.stats: Kamailio 5.6 fields in its order, then viaduct\'s; differences never negative', () => {
    const s = tmStats(sumStats(sab));
    expect(Object.keys(s)).toEqual([
      'current', 'waiting', 'total', 'total_local', 'rpl_received', 'rpl_generated', 'rpl_sent',
      '6xx', '5xx', '4xx', '3xx', '2xx', 'created', 'freed', 'delayed_free', 'retr_sent', 'retr_received', 'timeouts',
      'local_1xx', 'local_2xx', 'local_3xx', 'local_4xx', 'local_5xx', 'local_6xx', 'shm_full',
    ]);
    // total_local: Kamailio's transactions tm originated (t_uac), which viaduct has none of
    expect(s).toMatchObject({ current: 5, waiting: 3, total: 7, total_local: 0, rpl_generated: 4, created: 7, freed: 2, retr_sent: 6, timeouts: 1, local_1xx: 3 });
    // a read between a thread's writes (freed ahead of created): 0, not -1
    expect(tmStats(new Map([['tm:created', 3], ['tm:freed', 4], ['tm:waiting', 4]]))).toMatchObject({ current: 0, waiting: 0 });
  });
});
