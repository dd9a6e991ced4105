// A worker that dies mid-run: thread A writes and rewrites its transactions until it is
// terminated (maybe inside a write, holding a lock); thread B, its successor, adopts A's row and
// reads every record back. Each record says what it must contain: its index (in the key and the
// Call-ID) and a version repeated in the reply code, the reply bytes and an AVP.
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TmStore } from '../../../src/modules/tm/store/store.js';
import { compileForWorkers, type WorkerModules } from '../stats/worker-modules.js';

const SOURCES = ['src/core/hash.ts', 'src/core/sip/bytes.ts', 'src/core/shm/layout.ts', 'src/core/shm/seqlock.ts',
  'src/core/shm/hashtable.ts', 'src/core/shm/regions.ts', 'src/core/sip/methods.ts', 'src/modules/tm/record.ts', 'src/modules/tm/store/codec.ts',
  'src/modules/tm/store/store.ts', 'bench/micro/tm-records.ts'];

const WRITER = `
import { workerData, parentPort } from 'node:worker_threads';
import { TmStore } from './store.mjs';
import { inviteRecord } from './tm-records.mjs';
const store = new TmStore(workerData.shm, workerData.row);
const records = [];
for (let i = 0; i < workerData.count; i++) { records.push(inviteRecord(i)); store.put(records[i]); }
parentPort.postMessage('written');
for (let v = 1; ; v++) { // rewrite forever, lengths changing (records move between blocks)
  const r = records[v % records.length];
  r.uasCode = 100 + (v % 100);
  r.lastReply = Buffer.from('SIP/2.0 ' + r.uasCode + ' Version ' + v + '\\r\\n' + 'x'.repeat(v % 900) + '\\r\\n\\r\\n');
  r.avps.set('version', [v]);
  store.update(r);
}
`;

const SUCCESSOR = `
import { workerData, parentPort } from 'node:worker_threads';
import { TmStore } from './store.mjs';
import { inviteRecord } from './tm-records.mjs';
const store = new TmStore(workerData.shm, workerData.row);
const { records, damaged, locksReleased } = store.adopt(workerData.from);
const bad = [];
for (const r of records) {
  const i = Number(/-(\\d+)@/.exec(r.callId)[1]);
  const want = inviteRecord(i);
  const v = r.avps.get('version')?.[0] ?? 0;
  const reply = r.lastReply.toString('latin1');
  const ok = r.key === want.key && Buffer.compare(r.request, want.request) === 0 &&
    Buffer.compare(r.branches[0].request, want.branches[0].request) === 0 &&
    (v === 0 ? r.uasCode === 180 : r.uasCode === 100 + (v % 100) && reply === 'SIP/2.0 ' + r.uasCode + ' Version ' + v + '\\r\\n' + 'x'.repeat(v % 900) + '\\r\\n\\r\\n');
  if (!ok) bad.push(r.key);
}
parentPort.postMessage({ adopted: records.length, damaged, locksReleased, bad,
  mine: store.listByOwner(workerData.row).records.length, left: store.listByOwner(workerData.from).records.length });
`;

describe('tm store across a worker restart', () => {
  let mods: WorkerModules;
  beforeAll(async () => { mods = await compileForWorkers(SOURCES, { writer: WRITER, successor: SUCCESSOR }); });
  afterAll(() => mods.cleanup());

  it('thread B adopts the records of thread A, terminated mid-write, and reads them back intact', async () => {
    const COUNT = 300;
    const shm = TmStore.create(1024, 8192);
    const a = new Worker(mods.url('writer'), { workerData: { shm, row: 2, count: COUNT } });
    await new Promise((resolve, reject) => { a.once('message', resolve); a.once('error', reject); });
    await new Promise((resolve) => setTimeout(resolve, 300)); // rewriting meanwhile
    await a.terminate();
    const b = new Worker(mods.url('successor'), { workerData: { shm, row: 3, from: 2 } });
    const got = await new Promise<any>((resolve, reject) => { b.once('message', resolve); b.once('error', reject); }); // eslint-disable-line @typescript-eslint/no-explicit-any
    await b.terminate();
    console.log(`adopted ${got.adopted}, damaged ${got.damaged.length}, locks released ${got.locksReleased}`);
    expect(got.bad).toEqual([]);
    // a write cut short can leave at most the one record it was writing undecodable, and only
    // if A died holding its lock
    expect(got.damaged.length).toBeLessThanOrEqual(got.locksReleased);
    expect(got.adopted + got.damaged.length).toBe(COUNT);
    expect(got.mine).toBe(got.adopted);
    expect(got.left).toBe(0);
    const store = new TmStore(shm, 0);
    expect(store.counts()).toMatchObject({ current: got.adopted, created: COUNT });
    const versions = store.list().records.map((r) => Number(r.avps!.get('version')?.[0] ?? 0));
    expect(Math.max(...versions)).toBeGreaterThan(COUNT); // A did rewrite records before it died
  }, 30_000);
});
