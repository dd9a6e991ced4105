/**
 * Cost of recording one processing time, which every worker pays per message.
 * Compares our recordProcessingTime (wasm, 64-bit buckets, clamped) with the JS implementations,
 * and shows what the two performance.now() calls around a message cost.
 *
 *   make build && node dist/bench/micro/histogram.js
 */
import { build } from 'hdr-histogram-js';
import {
  createProcessingHistogram,
  encodeHistogram,
  mergeEncodedHistograms,
  recordProcessingTime,
} from '../../src/core/stats/histogram.js';

const N = 2_000_000;
const ROUNDS = 7;

// Realistic values: 5 µs .. 500 µs in ns, log-spread, with a few slow outliers. Precomputed so the
// loop measures the record, not the random generator.
const values = new Float64Array(1 << 16);
for (let i = 0; i < values.length; i++) {
  values[i] = i % 1000 === 0 ? 20e6 : 5000 * Math.pow(100, Math.random()) + Math.random();
}
const MASK = values.length - 1;

let sink = 0;

/** Median ns per operation over ROUNDS runs of N operations. */
function measure(name: string, op: (i: number) => void): number {
  for (let i = 0; i < N; i++) op(i); // warm-up: let the JIT settle
  const perOp: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) op(i);
    perOp.push(Number(process.hrtime.bigint() - t0) / N);
  }
  perOp.sort((a, b) => a - b);
  const median = perOp[ROUNDS >> 1];
  console.log(`${name.padEnd(52)} ${median.toFixed(1).padStart(7)} ns/op  (min ${perOp[0].toFixed(1)})`);
  return median;
}

const ours = createProcessingHistogram();
const js64 = build({ bitBucketSize: 64, useWebAssembly: false, autoResize: false, highestTrackableValue: 60e9 });
const js32 = build({ bitBucketSize: 32, useWebAssembly: false, autoResize: false, highestTrackableValue: 60e9 });

console.log(`node ${process.version}, ${N} ops x ${ROUNDS} rounds, median`);
const base = measure('empty loop (array read)', (i) => { sink += values[i & MASK]; });
const rec = measure('recordProcessingTime (wasm, 64-bit buckets, clamp)', (i) => recordProcessingTime(ours, values[i & MASK]));
measure('recordValue, JS implementation, 64-bit buckets', (i) => js64.recordValue(values[i & MASK]));
measure('recordValue, JS implementation, 32-bit buckets', (i) => js32.recordValue(values[i & MASK]));
const now = measure('performance.now() x2 (timing one message)', () => { sink += performance.now() - performance.now(); });
console.log(`=> one record costs about ${(rec - base).toFixed(1)} ns over the loop; with its two clock reads about ${(rec - base + now).toFixed(0)} ns per message`);

// Control-plane side, once per scrape: encode in each thread, merge two threads.
const other = createProcessingHistogram();
for (let i = 0; i < 100_000; i++) recordProcessingTime(other, values[i & MASK]);
const t0 = process.hrtime.bigint();
const encoded = [encodeHistogram(ours), encodeHistogram(other)];
const t1 = process.hrtime.bigint();
const merged = mergeEncodedHistograms(encoded);
const t2 = process.hrtime.bigint();
console.log(`encode x2: ${(Number(t1 - t0) / 1e6).toFixed(2)} ms (${encoded[0].length} + ${encoded[1].length} chars), merge x2: ${(Number(t2 - t1) / 1e6).toFixed(2)} ms, p99 ${(merged.getValueAtPercentile(99) / 1000).toFixed(1)} µs`);
ours.destroy();
other.destroy();
if (sink === 42) console.log('');
