/**
 * Message processing time, one HdrHistogram per thread (hdr-histogram-js).
 *
 * Unit: NANOSECONDS. A stateless forward spends a few microseconds in JavaScript, so whole
 * microseconds would be too coarse at the fast end. Typical use in a worker:
 *   const t0 = performance.now(); ...; recordProcessingTime(h, (performance.now() - t0) * 1e6);
 *
 * Range 1 ns .. 60 s with 3 significant digits (0.1% resolution); larger values are clamped to
 * 60 s rather than thrown on. Counts are 64-bit: 32-bit buckets could wrap after a few weeks at
 * carrier rates.
 *
 * The recording histogram is the WebAssembly implementation: bench/micro/histogram.ts measured a
 * record at ~28 ns against ~110 ns for the JS one (whose bucket index uses Math.log2/Math.pow).
 * It lives in the thread's wasm memory, so call h.destroy() if a thread drops one. The control
 * plane never records: it decodes and merges with the JS implementation (plain GC'd memory).
 *
 * Threads ship their histogram as encodeHistogram() strings (the standard HdrHistogram V2
 * compressed base64 form); mergeEncodedHistograms() sums them for a scrape.
 */
import {
  build,
  decodeFromCompressedBase64,
  encodeIntoCompressedBase64,
  initWebAssemblySync,
  type BuildRequest,
  type Histogram,
  type JsHistogram,
} from 'hdr-histogram-js';

/** Highest recordable processing time, in ns (60 s). */
export const MAX_PROCESSING_NS = 60e9;

const CONFIG: BuildRequest = {
  bitBucketSize: 64,
  autoResize: false,
  lowestDiscernibleValue: 1,
  highestTrackableValue: MAX_PROCESSING_NS,
  numberOfSignificantValueDigits: 3,
};

/** A thread's recording histogram (wasm). Instantiates the wasm module on first use in a thread. */
export function createProcessingHistogram(): Histogram {
  initWebAssemblySync(); // no-op once this thread has the module
  return build({ ...CONFIG, useWebAssembly: true });
}

/** Records one processing time in nanoseconds (the fraction of a ns is dropped). */
export function recordProcessingTime(h: Histogram, ns: number): void {
  // Clamp instead of letting the library throw on the hot path; NaN and negatives become 0.
  h.recordValue(ns > 0 ? (ns < MAX_PROCESSING_NS ? ns : MAX_PROCESSING_NS) : 0);
}

/** HdrHistogram V2 compressed encoding, base64: what a thread posts to the control plane. */
export function encodeHistogram(h: Histogram): string {
  return encodeIntoCompressedBase64(h);
}

/** Control-plane histogram (JS implementation, same range and precision as the threads'). */
export function createMergeHistogram(): JsHistogram {
  return build({ ...CONFIG, useWebAssembly: false }) as JsHistogram;
}

export function decodeHistogram(encoded: string): JsHistogram {
  return decodeFromCompressedBase64(encoded, 64, false) as JsHistogram;
}

/** Sum of the threads' histograms. Empty strings (a thread with nothing to report) are skipped. */
export function mergeEncodedHistograms(encoded: readonly string[]): JsHistogram {
  const merged = createMergeHistogram();
  for (const e of encoded) {
    if (e) merged.add(decodeHistogram(e));
  }
  return merged;
}

/**
 * What was recorded into `current` since `previous` (both cumulative merges), or null when
 * `current` does not contain `previous`: a worker restarted and its counts left with it. Lets the
 * scrape report quantiles over the last interval instead of since start.
 */
export function histogramDelta(current: JsHistogram, previous: JsHistogram): JsHistogram | null {
  if (current.totalCount < previous.totalCount) return null;
  const delta = createMergeHistogram();
  delta.add(current);
  delta.subtract(previous);
  for (let i = 0; i < delta.countsArrayLength; i++) {
    if (delta.getCountAtIndex(i) < 0) return null;
  }
  return delta;
}

/** Approximate sum of the recorded values (bucket midpoints: within the histogram's 0.1%). */
export function histogramSum(h: Histogram): number {
  return h.totalCount === 0 ? 0 : h.mean * h.totalCount;
}
