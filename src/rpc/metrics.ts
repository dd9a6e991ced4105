/**
 * Prometheus metrics (prom-client). Nothing is updated per message and nothing runs while idle:
 * every value is read at scrape time through collect callbacks, from the counters matrix (summed
 * over thread rows), from the SIP threads' answers to one message each, and from /proc/net/udp.
 *
 * Kamailio's statistics keep their names in stats.get_statistics; here they become counters named
 * as Prometheus wants, with methods, reply classes and codes as labels (promSeries):
 *   viaduct_core_rcv_requests_total{method}        INVITE ... PUBLISH, and OTHER: requests with no
 *                                                   counter of their own (KDMQ, unknown methods);
 *                                                   the sum is core:rcv_requests
 *   viaduct_core_rcv_replies_total{class}          1xx ... 6xx, and other (status outside 100-699);
 *                                                   the sum is core:rcv_replies
 *   viaduct_core_rcv_replies_by_code_total{code}   18x 401 404 407 480 486 (a subset, not a partition)
 *   viaduct_core_rcv_replies_by_method_total{method,class}  the 8 methods kex tracks
 *   viaduct_sl_replies_total{code}                 sl's buckets: 200 202 300 301 302 400 401 403 404
 *                                                   407 408 483 500 and 1xx..6xx for the other codes
 *                                                   of a class, xxx outside 100-699; one per reply,
 *                                                   the sum is sl:sent_replies
 *   viaduct_tm_transactions_total                  tm:created; tm:current and tm:waiting are the gauge
 *                                                   viaduct_tm_transactions_current{state} (tm's metrics.ts)
 *   viaduct_tm_replies_total{class}                tm:2xx ... tm:6xx: finals sent upstream
 *   viaduct_tm_retransmissions_total{direction}    tm:retr_sent, tm:retr_received
 *   viaduct_tm_local_replies_total{class}          tm:local_1xx ... tm:local_6xx; the sum is tm:rpl_generated
 *   viaduct_tm_{received,sent}_replies_total       tm:rpl_received, tm:rpl_sent
 *   viaduct_tm_store_full_total                    tm:shm_full
 *   viaduct_<group>_<name>_total                   every other statistic (viaduct_core_fwd_requests_total,
 *                                                   viaduct_sl_failures_total); our own group has no
 *                                                   prefix of its own (viaduct_worker_restarts_total)
 *   viaduct_message_processing_seconds             summary: quantiles 0.5 0.9 0.99 0.999, _sum, _count
 *   viaduct_event_loop_delay_seconds{thread}       per SIP thread, measured at scrape (ThreadSample)
 *   viaduct_udp_kernel_drops_total{socket}         datagrams the kernel dropped on a listen socket
 *   viaduct_build_info{version,node,udp,mode}      1
 *   process_*, nodejs_*                            prom-client's default metrics, without its
 *                                                   event-loop lag sampler (it wakes the main
 *                                                   thread every few ms)
 *
 * The summary's quantiles cover the interval since the previous scrape (what a dashboard wants;
 * quantiles since start stop moving after a day), NaN when nothing was recorded in it. On the first
 * scrape, or when a worker restarted and took its histogram with it, they cover all that the
 * threads hold. _sum and _count are cumulative (they drop when a worker restarts, which Prometheus
 * reads as a counter reset). _sum is computed from the histogram (within 0.1%).
 */
import { createRequire } from 'node:module';
import { collectDefaultMetrics, Counter, Gauge, Registry, Summary } from 'prom-client';
import { COUNTERS } from '../core/stats/counters.js';
import {
  histogramDelta,
  histogramSum,
  mergeEncodedHistograms,
} from '../core/stats/histogram.js';
import type { JsHistogram } from 'hdr-histogram-js';

/** What one SIP thread answered at a scrape. */
export interface ThreadSample {
  /** 'worker 1', 'receiver' (inline mode): the `thread` label. */
  name: string;
  /** Its encodeHistogram() string (processing times in ns); null if it has none or did not answer. */
  histogram: string | null;
  /** How long the scrape's message to the thread waited for its event loop, in ms (from the
   *  main thread's post to the thread's handler; a thread that did not answer: how long it had). */
  delayMs: number;
}

export interface MetricsOptions {
  /** Counter totals, `group:name` -> value (e.g. () => sumStats(sab)). */
  stats: () => Map<string, number>;
  /** Asks every SIP thread for its histogram and times the answer. */
  threads: () => Promise<ThreadSample[]>;
  /** Labels of viaduct_build_info. */
  buildInfo: Record<string, string>;
  /** Kernel drops per listen socket name (udpKernelDrops); null: unknown (not Linux). */
  udpDrops?: () => Map<string, number> | null;
  /** Registers more metrics (modules: dispatcher destinations, ...). */
  extra?: (registry: Registry) => void;
}

export const PROCESSING_METRIC = 'viaduct_message_processing_seconds';
export const PROCESSING_QUANTILES: readonly number[] = [0.5, 0.9, 0.99, 0.999];

/** Prometheus name of a statistic without labels: 'sl:failures' -> 'viaduct_sl_failures_total'. */
export function promCounterName(stat: string): string {
  return `viaduct_${stat.replace(/^viaduct:/, '')}_total`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
}

/** How a statistic is exported: a series of a counter family. */
export interface PromSeries {
  name: string;
  labels: Record<string, string>;
  /** Kamailio's aggregate of the family: exported as what it counts beyond the family's other
   *  series, so the family sums to it (nothing counted twice). */
  rest?: true;
}

const upper = (m: string): string => (m === 'reg' ? 'REGISTER' : m.toUpperCase()); // kex spells REGISTER "reg"
const SERIES_RULES: readonly [RegExp, (m: RegExpExecArray) => PromSeries | null][] = [
  [/^core:rcv_requests$/, () => ({ name: 'viaduct_core_rcv_requests_total', labels: { method: 'OTHER' }, rest: true })],
  [/^core:rcv_requests_([a-z]+)$/, (m) => ({ name: 'viaduct_core_rcv_requests_total', labels: { method: upper(m[1]!) } })],
  [/^core:rcv_replies$/, () => ({ name: 'viaduct_core_rcv_replies_total', labels: { class: 'other' }, rest: true })],
  [/^core:rcv_replies_([1-6]xx)$/, (m) => ({ name: 'viaduct_core_rcv_replies_total', labels: { class: m[1]! } })],
  [/^core:rcv_replies_(\d\d[\dx])$/, (m) => ({ name: 'viaduct_core_rcv_replies_by_code_total', labels: { code: m[1]! } })],
  [/^core:rcv_replies_([1-6]xx)_([a-z]+)$/, (m) => ({ name: 'viaduct_core_rcv_replies_by_method_total', labels: { method: upper(m[2]!), class: m[1]! } })],
  [/^sl:sent_replies$/, () => null], // sum(viaduct_sl_replies_total)
  [/^sl:(\d[\dx]{2}|xxx)_replies$/, (m) => ({ name: 'viaduct_sl_replies_total', labels: { code: m[1]! } })],
  // tm: current and waiting are differences (the gauge viaduct_tm_transactions_current), total is created
  [/^tm:(current|waiting|total)$/, () => null],
  [/^tm:created$/, () => ({ name: 'viaduct_tm_transactions_total', labels: {} })],
  [/^tm:([2-6]xx)$/, (m) => ({ name: 'viaduct_tm_replies_total', labels: { class: m[1]! } })],
  [/^tm:rpl_received$/, () => ({ name: 'viaduct_tm_received_replies_total', labels: {} })],
  [/^tm:rpl_generated$/, () => null], // sum(viaduct_tm_local_replies_total): every local reply has a class
  [/^tm:local_([1-6]xx)$/, (m) => ({ name: 'viaduct_tm_local_replies_total', labels: { class: m[1]! } })],
  [/^tm:rpl_sent$/, () => ({ name: 'viaduct_tm_sent_replies_total', labels: {} })],
  [/^tm:retr_(sent|received)$/, (m) => ({ name: 'viaduct_tm_retransmissions_total', labels: { direction: m[1]! } })],
  [/^tm:shm_full$/, () => ({ name: 'viaduct_tm_store_full_total', labels: {} })],
];

/** HELP of the families whose statistic names alone do not say what they count. */
const FAMILY_HELP: Record<string, string> = {
  viaduct_tm_transactions_total: 'Transactions created (tm:created)',
  viaduct_tm_freed_total: 'Transactions freed (tm:freed)',
  viaduct_tm_replies_total: 'Final replies sent upstream, relayed or local, by class (tm:2xx ... tm:6xx)',
  viaduct_tm_received_replies_total: 'Replies received on client branches, retransmissions included (tm:rpl_received)',
  viaduct_tm_local_replies_total: 'Replies tm made itself (100 Trying, t_reply, 408 on timeout, 500), by class (tm:local_1xx ... tm:local_6xx; '
    + 'they sum to tm:rpl_generated)',
  viaduct_tm_sent_replies_total: 'Replies sent upstream, provisional and final, relayed or local, resent ones included (tm:rpl_sent)',
  viaduct_tm_retransmissions_total: 'Retransmissions: sent (a branch\'s request by timer A/E, our CANCEL by timer E, a negative '
    + 'final upstream by timer G: tm:retr_sent), and requests received again and absorbed, the last reply resent (tm:retr_received)',
  viaduct_tm_timeouts_total: 'Branches ended by fr_timer/fr_inv_timer without a final reply: a local 408 (tm:timeouts)',
  viaduct_tm_store_full_total: 'New transactions refused with a 500 because the shared-memory transaction table was full '
    + '(tm:shm_full; module parameters shm_transactions, shm_transaction_bytes)',
};

/** The series a statistic is exported as, or null when another family already sums to it. */
export function promSeries(stat: string): PromSeries | null {
  for (const [re, series] of SERIES_RULES) {
    const m = re.exec(stat);
    if (m) return series(m);
  }
  return { name: promCounterName(stat), labels: {} };
}

/**
 * fn's result shared by every call made in the same synchronous run. Registry.metrics() starts
 * all metrics' collect() synchronously in one loop, so one scrape sums the matrix (or asks the
 * threads) once, not once per metric; the cache is dropped in the next microtask, so the following
 * scrape reads fresh values.
 */
function oncePerScrape<T>(fn: () => T): () => T {
  let cached: { value: T } | null = null;
  return () => {
    if (!cached) {
      cached = { value: fn() };
      queueMicrotask(() => {
        cached = null;
      });
    }
    return cached.value;
  };
}

/** One counter family over the statistics matrix. */
function registerFamily(registry: Registry, name: string, members: { stat: string; series: PromSeries }[], snapshot: () => Map<string, number>): void {
  const labelNames = [...new Set(members.flatMap((m) => Object.keys(m.series.labels)))];
  const parts = members.filter((m) => !m.series.rest);
  const rest = members.find((m) => m.series.rest);
  let restSeen = 0;
  new Counter({
    name,
    help: FAMILY_HELP[name] ?? (labelNames.length
      ? `Statistics ${parts[0]!.stat} ... ${parts[parts.length - 1]!.stat} (stats.get_statistics), by ${labelNames.join(' and ')}` +
        (rest ? `; the series sum to ${rest.stat} (${Object.values(rest.series.labels)[0]}: the rest)` : '')
      : `Statistic ${members[0]!.stat} (stats.get_statistics ${members[0]!.stat})`),
    labelNames,
    registers: [registry],
    collect() {
      // A counter is set from the summed rows: reset, then add the totals.
      this.reset();
      const totals = snapshot();
      let sum = 0;
      for (const m of parts) {
        const v = totals.get(m.stat) ?? 0;
        sum += v;
        this.inc(m.series.labels, v);
      }
      if (rest) {
        // A thread bumps the aggregate, then the part, and sumStats reads the aggregate's column
        // before the parts': a scrape racing messages sees parts ahead of the aggregate, and the
        // remainder reads low for a moment. Held at its highest, it never steps back (which
        // Prometheus would take for a restart). It reads one high only if a thread is preempted
        // between its two writes while being scraped.
        restSeen = Math.max(restSeen, (totals.get(rest.stat) ?? 0) - sum);
        this.inc(rest.series.labels, restSeen);
      }
    },
  });
}

type SummaryValues = Awaited<ReturnType<Summary['get']>>;

/** A summary whose values come from the threads' merged HdrHistograms instead of observe(). */
class HdrSummary extends Summary {
  private previous: JsHistogram | null = null;

  constructor(
    registry: Registry,
    private readonly threads: () => Promise<ThreadSample[]>,
  ) {
    super({
      name: PROCESSING_METRIC,
      help: 'Time a thread spent processing one SIP message (quantiles over the last scrape interval)',
      percentiles: [...PROCESSING_QUANTILES],
      registers: [registry],
    });
  }

  override async get(): Promise<SummaryValues> {
    const encoded = (await this.threads()).map((t) => t.histogram).filter((h): h is string => h !== null);
    const total = mergeEncodedHistograms(encoded);
    const window = (this.previous && histogramDelta(total, this.previous)) ?? total;
    this.previous = total;
    const values: SummaryValues['values'] = PROCESSING_QUANTILES.map((q) => ({
      labels: { quantile: q },
      value: window.totalCount ? window.getValueAtPercentile(q * 100) / 1e9 : NaN,
    }));
    values.push(
      { metricName: `${PROCESSING_METRIC}_sum`, labels: {}, value: histogramSum(total) / 1e9 },
      { metricName: `${PROCESSING_METRIC}_count`, labels: {}, value: total.totalCount },
    );
    // name, help, type and aggregator as the base class reports them; only the values are ours.
    return { ...(await super.get()), values };
  }
}

/**
 * prom-client's default metrics except the event-loop lag ones: their monitorEventLoopDelay
 * sampler wakes the main thread at its resolution for as long as the process lives, and measures
 * only the control plane. The SIP threads' delay is viaduct_event_loop_delay_seconds.
 */
function registerDefaultMetrics(registry: Registry): void {
  const require = createRequire(import.meta.url);
  for (const name of collectDefaultMetrics.metricsList) {
    if (name === 'eventLoopLag') continue;
    (require(`prom-client/lib/metrics/${name}.js`) as (r: Registry, config: object) => void)(registry, {});
  }
}

export function createMetricsRegistry(opts: MetricsOptions): Registry {
  const registry = new Registry();
  const snapshot = oncePerScrape(opts.stats);
  const families = new Map<string, { stat: string; series: PromSeries }[]>();
  for (const stat of COUNTERS) {
    const series = promSeries(stat);
    if (!series) continue;
    let family = families.get(series.name);
    if (!family) families.set(series.name, (family = []));
    family.push({ stat, series });
  }
  for (const [name, members] of families) registerFamily(registry, name, members, snapshot);

  const threads = oncePerScrape(opts.threads);
  new HdrSummary(registry, threads);
  new Gauge({
    name: 'viaduct_event_loop_delay_seconds',
    help: 'How long a message waited for the thread\'s event loop, measured at this scrape (the scrape\'s own message to it)',
    labelNames: ['thread'],
    registers: [registry],
    async collect() {
      const samples = await threads();
      this.reset();
      for (const t of samples) this.set({ thread: t.name }, t.delayMs / 1000);
    },
  });
  const udpDrops = opts.udpDrops;
  if (udpDrops) {
    new Counter({
      name: 'viaduct_udp_kernel_drops_total',
      help: 'Datagrams the kernel dropped on a listen socket (receive buffer full), from /proc/net/udp',
      labelNames: ['socket'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [socket, drops] of udpDrops() ?? []) this.inc({ socket }, drops);
      },
    });
  }
  const info = new Gauge({
    name: 'viaduct_build_info',
    help: 'Always 1; the labels say which viaduct runs: version, Node.js version, UDP I/O (native or dgram), thread mode',
    labelNames: Object.keys(opts.buildInfo),
    registers: [registry],
  });
  info.set(opts.buildInfo, 1);
  registerDefaultMetrics(registry);
  opts.extra?.(registry);
  return registry;
}
