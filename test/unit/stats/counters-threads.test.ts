import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { C, COUNTERS, createStatsBuffer, sumStats } from '../../../src/core/stats/counters.js';
import { compileForWorkers, type WorkerModules } from './worker-modules.js';

// Each worker increments its own row with the real ThreadCounters, no atomics.
const WORKER = `
import { workerData, parentPort } from 'node:worker_threads';
import { ThreadCounters, RCV_REQUESTS, FWD_REQUESTS, replyCounters } from './counters.mjs';
import { METHOD_INVITE } from './methods.mjs';
const { sab, row, n } = workerData;
const t = new ThreadCounters(sab, row);
for (let i = 0; i < n; i++) {
  t.inc(RCV_REQUESTS);
  t.add(FWD_REQUESTS, 2);
  if (i % 10 === 0) t.incAll(replyCounters(180, METHOD_INVITE));
}
parentPort.postMessage('done');
`;

describe('counters written by real worker threads', () => {
  let mods: WorkerModules;
  beforeAll(async () => {
    mods = await compileForWorkers(['src/core/sip/methods.ts', 'src/core/shm/layout.ts', 'src/core/stats/counters.ts'], { worker: WORKER });
  });
  afterAll(() => mods.cleanup());

  it('sums exactly over the rows once the threads are done, and never goes backwards meanwhile', async () => {
    const THREADS = 4;
    const N = 300_000;
    const sab = createStatsBuffer(THREADS + 1); // row 0: this thread, as the dispatcher would be
    const workers = Array.from({ length: THREADS }, (_, k) =>
      new Worker(mods.url('worker'), { workerData: { sab, row: k + 1, n: N } }));
    const finished = workers.map((w) => new Promise<void>((resolve, reject) => {
      w.once('message', () => resolve());
      w.once('error', reject);
    }));

    let last = 0;
    let done = false;
    void Promise.all(finished).then(() => { done = true; });
    while (!done) { // scrape while the threads write
      const now = sumStats(sab).get('core:rcv_requests')!;
      expect(now).toBeGreaterThanOrEqual(last);
      last = now;
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(finished);
    await Promise.all(workers.map((w) => w.terminate()));

    const totals = sumStats(sab);
    expect(totals.get('core:rcv_requests')).toBe(THREADS * N);
    expect(totals.get('core:fwd_requests')).toBe(THREADS * N * 2);
    expect(totals.get('core:rcv_replies_18x')).toBe(THREADS * N / 10);
    expect(totals.get('core:rcv_replies_1xx_invite')).toBe(THREADS * N / 10);
    // row 0 untouched
    expect(new Float64Array(sab, 0, COUNTERS.length)[C.rcv_requests]).toBe(0);
  });
});
