// tm's figures as tm.stats answers them and the Prometheus gauge of transactions in memory. The
// counters themselves (created, replies by class, retransmissions ...) are exported by
// src/rpc/metrics.ts like every statistic; current and waiting are differences of counters,
// computed here at read time.
import { Gauge, type Registry } from 'prom-client';

/** tm.stats: Kamailio 5.6's fields in its order, then viaduct's own (retransmissions, timeouts,
 *  local replies by class). */
export function tmStats(t: Map<string, number>): Record<string, number> {
  const g = (n: string) => t.get(`tm:${n}`) ?? 0;
  // From the counters, not the shared-memory store (which holds a non-INVITE only after T1):
  // waiting counts entries into the wait state (t_release'd ones too); freed ends every
  // transaction; a restarted thread counts on in its predecessor's row. Rows are summed without
  // locks: a difference read mid-update may dip below 0.
  const current = Math.max(0, g('created') - g('freed'));
  return {
    current,
    waiting: Math.min(current, Math.max(0, g('waiting') - g('freed'))),
    total: g('created'),
    // Kamailio: transactions tm originated itself (t_uac: dispatcher's pings there); viaduct's
    // own requests do not go through tm
    total_local: 0,
    rpl_received: g('rpl_received'),
    rpl_generated: g('rpl_generated'),
    rpl_sent: g('rpl_sent'),
    '6xx': g('6xx'), '5xx': g('5xx'), '4xx': g('4xx'), '3xx': g('3xx'), '2xx': g('2xx'),
    created: g('created'),
    freed: g('freed'),
    delayed_free: 0,
    retr_sent: g('retr_sent'),
    retr_received: g('retr_received'),
    timeouts: g('timeouts'),
    local_1xx: g('local_1xx'), local_2xx: g('local_2xx'), local_3xx: g('local_3xx'),
    local_4xx: g('local_4xx'), local_5xx: g('local_5xx'), local_6xx: g('local_6xx'),
    shm_full: g('shm_full'),
  };
}

/** viaduct_tm_transactions_current{state}: the two states partition tm.stats' current (not named
 *  viaduct_tm_transactions: in OpenMetrics that family would clash with the counter's, _total). */
export function tmMetrics(registry: Registry, stats: () => Record<string, number>): void {
  new Gauge({
    name: 'viaduct_tm_transactions_current',
    help: 'Transactions in memory (the states sum to tm.stats current): active (no final reply upstream yet), '
      + 'waiting (final sent or released, kept for wt_timer to absorb retransmissions)',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const s = stats();
      this.set({ state: 'active' }, s.current! - s.waiting!);
      this.set({ state: 'waiting' }, s.waiting!);
    },
  });
}
