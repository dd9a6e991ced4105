/**
 * Prometheus metrics (prom-client). Nothing is updated per message: every value is read at scrape
 * time through collect callbacks, from the counters matrix (summed over thread rows) and from the
 * threads' encoded processing-time histograms.
 *
 *   viaduct_<group>_<name>_total          one counter per statistic, e.g. viaduct_core_rcv_requests_total,
 *                                          viaduct_sl_1xx_replies_total (lower-cased, [^a-z0-9_] -> _)
 *   viaduct_message_processing_seconds    summary: quantiles 0.5 0.9 0.99 0.999, _sum, _count
 *   process_*, nodejs_*                   prom-client's default metrics
 *
 * The summary's quantiles cover the interval since the previous scrape (what a dashboard wants;
 * quantiles since start stop moving after a day), NaN when nothing was recorded in it. On the first
 * scrape, or when a worker restarted and took its histogram with it, they cover all that the
 * threads hold. _sum and _count are cumulative (they drop when a worker restarts, which Prometheus
 * reads as a counter reset). _sum is computed from the histogram (within 0.1%).
 */
import { collectDefaultMetrics, Counter, Registry, Summary } from 'prom-client';
import { COUNTERS } from '../core/stats/counters.js';
import {
  histogramDelta,
  histogramSum,
  mergeEncodedHistograms,
} from '../core/stats/histogram.js';
import type { JsHistogram } from 'hdr-histogram-js';

export interface MetricsOptions {
  /** Counter totals, `group:name` -> value (e.g. () => sumStats(sab)). */
  stats: () => Map<string, number>;
  /** Each thread's encodeHistogram() string (processing times in ns). */
  histograms: () => Promise<string[]>;
  /** Registers more metrics (modules: dispatcher destinations, ...). */
  extra?: (registry: Registry) => void;
}

export const PROCESSING_METRIC = 'viaduct_message_processing_seconds';
export const PROCESSING_QUANTILES: readonly number[] = [0.5, 0.9, 0.99, 0.999];

/** Prometheus name of a statistic: 'sl:1xx_replies' -> 'viaduct_sl_1xx_replies_total'. */
export function promCounterName(stat: string): string {
  return `viaduct_${stat}_total`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
}

/**
 * fn's result shared by every call made in the same synchronous run. Registry.metrics() calls all
 * metrics' collect() synchronously in one loop, so one scrape sums the matrix once, not once per
 * counter; the cache is dropped in the next microtask, so the following scrape reads fresh values.
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

type SummaryValues = Awaited<ReturnType<Summary['get']>>;

/** A summary whose values come from the threads' merged HdrHistograms instead of observe(). */
class HdrSummary extends Summary {
  private previous: JsHistogram | null = null;

  constructor(
    registry: Registry,
    private readonly histograms: () => Promise<string[]>,
  ) {
    super({
      name: PROCESSING_METRIC,
      help: 'Time a thread spent processing one SIP message (quantiles over the last scrape interval)',
      percentiles: [...PROCESSING_QUANTILES],
      registers: [registry],
    });
  }

  override async get(): Promise<SummaryValues> {
    const total = mergeEncodedHistograms(await this.histograms());
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

export function createMetricsRegistry(opts: MetricsOptions): Registry {
  const registry = new Registry();
  const snapshot = oncePerScrape(opts.stats);
  for (const stat of COUNTERS) {
    new Counter({
      name: promCounterName(stat),
      help: `Statistic ${stat} (stats.get_statistics ${stat})`,
      registers: [registry],
      collect() {
        // A counter is set from the summed rows: reset, then add the total.
        this.reset();
        this.inc(snapshot().get(stat) ?? 0);
      },
    });
  }
  new HdrSummary(registry, opts.histograms);
  // The event-loop lag sampler wakes the main thread at this period; prom-client's default
  // (10 ms) cost about 2 us of CPU per call at 2000 calls/s, 2% of the total, for a figure
  // about the control plane only.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 200 });
  opts.extra?.(registry);
  return registry;
}
