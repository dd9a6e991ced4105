import { Gauge } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  C,
  COUNTERS,
  createStatsBuffer,
  methodCounter,
  RCV_REPLIES,
  RCV_REQUESTS,
  replyCounters,
  slReplyCounters,
  sumStats,
  ThreadCounters,
  WORKER_RESTARTS,
} from '../../../src/core/stats/counters.js';
import { METHOD_INVITE } from '../../../src/core/sip/methods.js';
import { createProcessingHistogram, encodeHistogram, recordProcessingTime } from '../../../src/core/stats/histogram.js';
import { createMetricsRegistry, PROCESSING_METRIC, promCounterName, promSeries } from '../../../src/rpc/metrics.js';
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
      const m = /^(.+) (\S+)$/.exec(line); // label values may hold spaces: the value is after the last
      expect(m, `malformed line: ${line}`).not.toBeNull();
      samples.set(m![1], Number(m![2]));
    }
  }
  return { samples, types };
}

describe('metric names', () => {
  it('prefixes, lower-cases and adds _total; our own group gets no second viaduct_', () => {
    expect(promCounterName('core:fwd_requests')).toBe('viaduct_core_fwd_requests_total');
    expect(promCounterName('sl:sent_err_replies')).toBe('viaduct_sl_sent_err_replies_total');
    expect(promCounterName('core:bad_URIs_rcvd')).toBe('viaduct_core_bad_uris_rcvd_total');
    expect(promCounterName('sl:received_ACKs')).toBe('viaduct_sl_received_acks_total');
    expect(promCounterName('viaduct:worker_restarts')).toBe('viaduct_worker_restarts_total');
    for (const c of COUNTERS) expect(promCounterName(c)).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/);
  });

  it('turns methods, reply classes and codes into labels, as kamailio_exporter does', () => {
    expect(promSeries('core:rcv_requests_invite')).toEqual({ name: 'viaduct_core_rcv_requests_total', labels: { method: 'INVITE' } });
    expect(promSeries('core:rcv_requests')).toEqual({ name: 'viaduct_core_rcv_requests_total', labels: { method: 'OTHER' }, rest: true });
    expect(promSeries('core:rcv_replies_2xx')).toEqual({ name: 'viaduct_core_rcv_replies_total', labels: { class: '2xx' } });
    expect(promSeries('core:rcv_replies')).toEqual({ name: 'viaduct_core_rcv_replies_total', labels: { class: 'other' }, rest: true });
    expect(promSeries('core:rcv_replies_18x')).toEqual({ name: 'viaduct_core_rcv_replies_by_code_total', labels: { code: '18x' } });
    expect(promSeries('core:rcv_replies_486')).toEqual({ name: 'viaduct_core_rcv_replies_by_code_total', labels: { code: '486' } });
    expect(promSeries('core:rcv_replies_4xx_reg')).toEqual({ name: 'viaduct_core_rcv_replies_by_method_total', labels: { method: 'REGISTER', class: '4xx' } });
    expect(promSeries('sl:200_replies')).toEqual({ name: 'viaduct_sl_replies_total', labels: { code: '200' } });
    expect(promSeries('sl:1xx_replies')).toEqual({ name: 'viaduct_sl_replies_total', labels: { code: '1xx' } });
    expect(promSeries('sl:xxx_replies')).toEqual({ name: 'viaduct_sl_replies_total', labels: { code: 'xxx' } });
    expect(promSeries('sl:sent_replies')).toBeNull(); // sum(viaduct_sl_replies_total)
    expect(promSeries('core:fwd_requests')).toEqual({ name: 'viaduct_core_fwd_requests_total', labels: {} });
    expect(promSeries('viaduct:ring_handoffs')).toEqual({ name: 'viaduct_ring_handoffs_total', labels: {} });
    // every statistic but sl:sent_replies is exported, and no two as the same series
    const keys = COUNTERS.map(promSeries).filter((x) => x !== null).map((x) => `${x!.name}${JSON.stringify(x!.labels)}`);
    expect(keys.length).toBe(COUNTERS.length - 1);
    expect(new Set(keys).size).toBe(keys.length);
  });
});

describe('/metrics', () => {
  const sab = createStatsBuffer(3);
  const rows = [0, 1, 2].map((r) => new ThreadCounters(sab, r));
  // Two worker threads' histograms (recorded here; encoding is what crosses threads).
  const threads = [createProcessingHistogram(), createProcessingHistogram()];
  let statsCalls = 0;
  let threadCalls = 0;
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
      threads: async () => (threadCalls++, threads).map((h, i) => ({ name: `worker ${i + 1}`, histogram: encodeHistogram(h), delayMs: 0.25 * (i + 1) })),
      buildInfo: { version: '1.2.3', node: process.version, udp: 'native', mode: 'sharded' },
      udpDrops: () => new Map([['udp:127.0.0.1:5060', 7]]),
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

  it('exposes every statistic as a counter summed over the rows, read at scrape time, labels summing to the aggregates', async () => {
    rows[0].inc(RCV_REQUESTS);
    rows[0].inc(methodCounter(METHOD_INVITE));
    rows[1].add(RCV_REQUESTS, 10);
    rows[1].add(C.rcv_requests_bye, 10);
    rows[2].add(RCV_REQUESTS, 100); // none of them with a method of its own: OTHER
    rows[1].inc(RCV_REPLIES);
    rows[1].incAll(replyCounters(486, METHOD_INVITE));
    rows[2].inc(RCV_REPLIES); // a status outside 100-699
    rows[1].incAll(slReplyCounters(100));
    rows[1].incAll(slReplyCounters(200));
    rows[2].inc(C.bad_URIs_rcvd);
    rows[2].inc(WORKER_RESTARTS);
    let { samples, types } = await scrape();
    for (const c of COUNTERS) {
      const s = promSeries(c);
      if (!s) continue;
      expect(types.get(s.name), c).toBe('counter');
      const labels = Object.entries(s.labels).map(([k, v]) => `${k}="${v}"`).join(',');
      expect(samples.has(labels ? `${s.name}{${labels}}` : s.name), c).toBe(true);
    }
    expect(samples.get('viaduct_core_rcv_requests_total{method="INVITE"}')).toBe(1);
    expect(samples.get('viaduct_core_rcv_requests_total{method="BYE"}')).toBe(10);
    expect(samples.get('viaduct_core_rcv_requests_total{method="OTHER"}')).toBe(100);
    expect(samples.get('viaduct_core_rcv_replies_total{class="4xx"}')).toBe(1);
    expect(samples.get('viaduct_core_rcv_replies_total{class="other"}')).toBe(1);
    expect(samples.get('viaduct_core_rcv_replies_by_code_total{code="486"}')).toBe(1);
    expect(samples.get('viaduct_core_rcv_replies_by_method_total{method="INVITE",class="4xx"}')).toBe(1);
    expect(samples.get('viaduct_sl_replies_total{code="1xx"}')).toBe(1);
    expect(samples.get('viaduct_sl_replies_total{code="200"}')).toBe(1);
    expect(samples.has('viaduct_sl_sent_replies_total')).toBe(false);
    expect(samples.get('viaduct_core_bad_uris_rcvd_total')).toBe(1);
    expect(samples.get('viaduct_core_fwd_requests_total')).toBe(0);
    expect(samples.get('viaduct_worker_restarts_total')).toBe(1);
    expect([...samples.keys()].some((k) => k.startsWith('viaduct_viaduct_'))).toBe(false);

    const before = statsCalls;
    rows[2].add(RCV_REQUESTS, 1000);
    rows[2].add(C.rcv_requests_invite, 1000);
    ({ samples } = await scrape());
    expect(samples.get('viaduct_core_rcv_requests_total{method="INVITE"}')).toBe(1001);
    expect(samples.get('viaduct_core_rcv_requests_total{method="OTHER"}')).toBe(100);
    expect(statsCalls - before).toBe(1); // summed once per scrape, not once per counter

    // A scrape that sees a part ahead of its aggregate (a thread between its two writes):
    // the remainder holds instead of stepping back, which Prometheus would read as a reset.
    rows[2].inc(C.rcv_requests_ack);
    ({ samples } = await scrape());
    expect(samples.get('viaduct_core_rcv_requests_total{method="OTHER"}')).toBe(100);
    rows[2].inc(RCV_REQUESTS);
    ({ samples } = await scrape());
    expect(samples.get('viaduct_core_rcv_requests_total{method="OTHER"}')).toBe(100);
  });

  it('exposes build info, kernel drops per socket and each thread\'s event-loop delay', async () => {
    const before = threadCalls;
    const { samples, types } = await scrape();
    expect(threadCalls - before).toBe(1); // one question per thread and scrape, for the summary and the gauge
    expect(samples.get(`viaduct_build_info{version="1.2.3",node="${process.version}",udp="native",mode="sharded"}`)).toBe(1);
    expect(types.get('viaduct_udp_kernel_drops_total')).toBe('counter');
    expect(samples.get('viaduct_udp_kernel_drops_total{socket="udp:127.0.0.1:5060"}')).toBe(7);
    expect(types.get('viaduct_event_loop_delay_seconds')).toBe('gauge');
    expect(samples.get('viaduct_event_loop_delay_seconds{thread="worker 1"}')).toBe(0.00025);
    expect(samples.get('viaduct_event_loop_delay_seconds{thread="worker 2"}')).toBe(0.0005);
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

  it("includes prom-client's default process metrics, without its event-loop lag sampler, and the extra ones", async () => {
    const { samples, types } = await scrape();
    expect(types.get('process_cpu_user_seconds_total')).toBe('counter');
    expect(samples.get('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(types.get('nodejs_heap_size_used_bytes')).toBe('gauge');
    expect([...types.keys()].filter((n) => n.startsWith('nodejs_eventloop_lag'))).toEqual([]);
    expect(types.get('viaduct_test_extra')).toBe('gauge');
  });
});
