import { Gauge } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  C,
  COUNTERS,
  createStatsBuffer,
  RCV_REQUESTS,
  slReplyCounters,
  sumStats,
  ThreadCounters,
} from '../../../src/core/stats/counters.js';
import { createProcessingHistogram, encodeHistogram, recordProcessingTime } from '../../../src/core/stats/histogram.js';
import { createMetricsRegistry, PROCESSING_METRIC, promCounterName } from '../../../src/rpc/metrics.js';
import { RpcRegistry } from '../../../src/rpc/registry.js';
import { serve } from './helpers.js';

/** Prometheus text -> sample "name{labels}" -> value, and name -> TYPE. */
function parse(text: string): { samples: Map<string, number>; types: Map<string, string> } {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1], type[2]);
    else if (line && !line.startsWith('#')) {
      const m = /^(\S+) (\S+)$/.exec(line);
      expect(m, `malformed line: ${line}`).not.toBeNull();
      samples.set(m![1], Number(m![2]));
    }
  }
  return { samples, types };
}

describe('metric names', () => {
  it('prefixes, lower-cases and adds _total', () => {
    expect(promCounterName('core:rcv_requests')).toBe('viaduct_core_rcv_requests_total');
    expect(promCounterName('sl:sent_replies')).toBe('viaduct_sl_sent_replies_total');
    expect(promCounterName('sl:1xx_replies')).toBe('viaduct_sl_1xx_replies_total');
    expect(promCounterName('core:bad_URIs_rcvd')).toBe('viaduct_core_bad_uris_rcvd_total');
    expect(promCounterName('sl:received_ACKs')).toBe('viaduct_sl_received_acks_total');
    for (const c of COUNTERS) expect(promCounterName(c)).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/);
  });
});

describe('/metrics', () => {
  const sab = createStatsBuffer(3);
  const rows = [0, 1, 2].map((r) => new ThreadCounters(sab, r));
  // Two worker threads' histograms (recorded here; encoding is what crosses threads).
  const threads = [createProcessingHistogram(), createProcessingHistogram()];
  let statsCalls = 0;
  let server: Awaited<ReturnType<typeof serve>>;
  const scrape = async () => {
    const res = await fetch(`http://${server.address}/metrics`);
    expect(res.status).toBe(200);
    return parse(await res.text());
  };

  beforeAll(async () => {
    const registry = createMetricsRegistry({
      stats: () => {
        statsCalls++;
        return sumStats(sab);
      },
      histograms: async () => threads.map(encodeHistogram),
      extra: (r) => {
        new Gauge({ name: 'viaduct_test_extra', help: 'extra', registers: [r] });
      },
    });
    server = await serve({ registry: new RpcRegistry(), metrics: () => registry.metrics() });
  });
  afterAll(async () => {
    await server.close();
    threads.forEach((h) => h.destroy());
  });

  it('exposes every statistic as a counter summed over the rows, read at scrape time', async () => {
    rows[0].inc(RCV_REQUESTS);
    rows[1].add(RCV_REQUESTS, 10);
    rows[2].add(RCV_REQUESTS, 100);
    rows[1].incAll(slReplyCounters(100));
    rows[2].inc(C.bad_URIs_rcvd);
    let { samples, types } = await scrape();
    for (const c of COUNTERS) {
      expect(types.get(promCounterName(c)), c).toBe('counter');
      expect(samples.has(promCounterName(c)), c).toBe(true);
    }
    expect(samples.get('viaduct_core_rcv_requests_total')).toBe(111);
    expect(samples.get('viaduct_sl_1xx_replies_total')).toBe(1);
    expect(samples.get('viaduct_sl_sent_replies_total')).toBe(1);
    expect(samples.get('viaduct_core_bad_uris_rcvd_total')).toBe(1);
    expect(samples.get('viaduct_core_fwd_requests_total')).toBe(0);

    const before = statsCalls;
    rows[2].add(RCV_REQUESTS, 1000);
    ({ samples } = await scrape());
    expect(samples.get('viaduct_core_rcv_requests_total')).toBe(1111);
    expect(statsCalls - before).toBe(1); // summed once per scrape, not once per counter
  });

  it('exposes the processing-time summary from the merged histograms, quantiles per interval', async () => {
    for (let i = 0; i < 900; i++) recordProcessingTime(threads[0], 20_000); // 20 µs
    for (let i = 0; i < 100; i++) recordProcessingTime(threads[1], 3_000_000); // 3 ms
    let { samples, types } = await scrape();
    expect(types.get(PROCESSING_METRIC)).toBe('summary');
    const q = (quantile: string) => samples.get(`${PROCESSING_METRIC}{quantile="${quantile}"}`)!;
    expect(q('0.5')).toBeCloseTo(20e-6, 7);
    expect(q('0.9')).toBeCloseTo(20e-6, 7);
    expect(q('0.99')).toBeCloseTo(3e-3, 5);
    expect(q('0.999')).toBeCloseTo(3e-3, 5);
    expect(samples.get(`${PROCESSING_METRIC}_count`)).toBe(1000);
    const sum = samples.get(`${PROCESSING_METRIC}_sum`)!;
    expect(Math.abs(sum / (900 * 20e-6 + 100 * 3e-3) - 1)).toBeLessThan(0.001); // from buckets, within 0.1%

    // Only slow messages since the last scrape: the quantiles follow, _count keeps counting.
    for (let i = 0; i < 10; i++) recordProcessingTime(threads[1], 50_000_000);
    ({ samples } = await scrape());
    expect(q('0.5')).toBeCloseTo(0.05, 4);
    expect(samples.get(`${PROCESSING_METRIC}_count`)).toBe(1010);

    // Nothing since: no quantile to report.
    ({ samples } = await scrape());
    expect(Number.isNaN(q('0.5'))).toBe(true);
    expect(samples.get(`${PROCESSING_METRIC}_count`)).toBe(1010);
  });

  it("includes prom-client's default process metrics and the extra ones", async () => {
    const { samples, types } = await scrape();
    expect(types.get('process_cpu_user_seconds_total')).toBe('counter');
    expect(samples.get('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(types.has('nodejs_eventloop_lag_seconds')).toBe(true);
    expect(types.get('viaduct_test_extra')).toBe('gauge');
  });
});
