import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createProcessingHistogram,
  decodeHistogram,
  encodeHistogram,
  histogramDelta,
  histogramSum,
  MAX_PROCESSING_NS,
  mergeEncodedHistograms,
  recordProcessingTime,
} from '../../../src/core/stats/histogram.js';
import { compileForWorkers, type WorkerModules } from './worker-modules.js';

/** Relative closeness within HdrHistogram's 3 significant digits. */
const near = (actual: number, expected: number) => expect(Math.abs(actual - expected) / expected).toBeLessThan(0.001);

describe('processing-time histogram', () => {
  it('records nanoseconds, clamps what it cannot hold, round-trips through the encoding', () => {
    const h = createProcessingHistogram();
    for (let i = 1; i <= 1000; i++) recordProcessingTime(h, i * 1000 + 0.7); // 1..1000 µs
    recordProcessingTime(h, -5);
    recordProcessingTime(h, NaN);
    recordProcessingTime(h, 1e12);
    const d = decodeHistogram(encodeHistogram(h));
    h.destroy();
    expect(d.totalCount).toBe(1003);
    near(d.getValueAtPercentile(50), 500_000);
    expect(d.maxValue).toBeGreaterThanOrEqual(MAX_PROCESSING_NS * 0.999);
    expect(d.getValueAtPercentile(0)).toBe(0);
  });

  it('delta covers what was recorded since the previous merge, null after a lost thread', () => {
    const a = createProcessingHistogram();
    for (let i = 0; i < 100; i++) recordProcessingTime(a, 10_000);
    const first = mergeEncodedHistograms([encodeHistogram(a)]);
    for (let i = 0; i < 50; i++) recordProcessingTime(a, 2_000_000);
    const second = mergeEncodedHistograms([encodeHistogram(a), '']);
    a.destroy();
    const delta = histogramDelta(second, first)!;
    expect(delta.totalCount).toBe(50);
    near(delta.getValueAtPercentile(50), 2_000_000);
    expect(histogramDelta(first, second)).toBeNull();
    near(histogramSum(second), 100 * 10_000 + 50 * 2_000_000);
    expect(histogramSum(mergeEncodedHistograms([]))).toBe(0);
  });
});

// A worker thread records into its own (wasm) histogram and posts the encoding.
const WORKER = `
import { workerData, parentPort } from 'node:worker_threads';
import { createProcessingHistogram, recordProcessingTime, encodeHistogram } from './histogram.mjs';
const h = createProcessingHistogram();
for (let i = 0; i < workerData.n; i++) recordProcessingTime(h, workerData.ns);
parentPort.postMessage(encodeHistogram(h));
`;

describe('histograms from two threads', () => {
  let mods: WorkerModules;
  beforeAll(async () => {
    mods = await compileForWorkers(['src/core/stats/histogram.ts'], { worker: WORKER });
  });
  afterAll(() => mods.cleanup());

  it('merges the encodings of two worker threads', async () => {
    const run = (n: number, ns: number) => new Promise<string>((resolve, reject) => {
      const w = new Worker(mods.url('worker'), { workerData: { n, ns } });
      w.once('message', (m: string) => { resolve(m); void w.terminate(); });
      w.once('error', reject);
    });
    const encoded = await Promise.all([run(9_000, 20_000), run(1_000, 5_000_000)]);
    const merged = mergeEncodedHistograms(encoded);
    expect(merged.totalCount).toBe(10_000);
    near(merged.getValueAtPercentile(50), 20_000);
    near(merged.getValueAtPercentile(90), 20_000);
    near(merged.getValueAtPercentile(99), 5_000_000);
    near(histogramSum(merged), 9_000 * 20_000 + 1_000 * 5_000_000);
  });
});
