// Real worker threads against one shared table and one sequence-locked record. Each writer owns
// its keys; every thread reads every key while the others write, and checks what it read by
// its contents: the value names its key and version and ends with a checksum, and the record's
// fields repeat the version. At the end every key must hold what its writer last did.
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShmTable } from '../../../src/core/shm/hashtable.js';
import { compileForWorkers, type WorkerModules } from '../stats/worker-modules.js';

const SOURCES = ['src/core/hash.ts', 'src/core/sip/bytes.ts', 'src/core/shm/layout.ts', 'src/core/shm/seqlock.ts', 'src/core/shm/hashtable.ts'];

const TABLE_WORKER = `
import { workerData, parentPort } from 'node:worker_threads';
import { ShmTable } from './hashtable.mjs';
import { fnv1aBytes } from './hash.mjs';
const { sab, id, writers, keysPerWriter, ms } = workerData;
const t = new ShmTable(sab, id); // holder: its locks are recorded
const keyOf = (w, k) => 'w' + w + ':key' + k;
// value: "<key>|<version>|" + filler to a length that varies with the version, then 4 checksum bytes
function valueOf(key, version) {
  const head = key + '|' + version + '|';
  const len = head.length + ((version * 37 + key.length * 11) % 700);
  const b = Buffer.alloc(len + 4);
  b.write(head, 0, 'latin1');
  for (let i = head.length; i < len; i++) b[i] = (version + i) & 255;
  b.writeUInt32LE(fnv1aBytes(b, 0, len), len);
  return b;
}
const model = new Array(keysPerWriter).fill(-1); // version, -1 absent
let version = 0, ops = 0, reads = 0, found = 0;
const bad = [];
const out = Buffer.alloc(4096);
const fields = new Float64Array(2);
let seed = id * 7919 + 1;
const rnd = (n) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return (seed >>> 8) % n; };
const end = Date.now() + ms;
while (Date.now() < end) {
  for (let n = 0; n < 200; n++) {
    const k = rnd(keysPerWriter);
    const key = keyOf(id, k);
    const op = rnd(10);
    ops++;
    if (op < 4) { version++; t.set(key, valueOf(key, version), [version, id]); model[k] = version; }
    else if (op < 5) { version++; const ok = t.insert(key, valueOf(key, version), [version, id]); if (ok !== (model[k] < 0)) bad.push('insert ' + key + ' said ' + ok); if (ok) model[k] = version; }
    else if (op < 6) { version++; const ok = t.update(key, valueOf(key, version), [version, id]); if (ok !== (model[k] >= 0)) bad.push('update ' + key + ' said ' + ok); if (ok) model[k] = version; }
    else if (op < 7) { const ok = t.delete(key); if (ok !== (model[k] >= 0)) bad.push('delete ' + key + ' said ' + ok); model[k] = -1; }
    else {
      // read anybody's key (mostly the others', being written right now)
      const w = rnd(writers), rk = keyOf(w, rnd(keysPerWriter));
      reads++;
      const len = t.get(rk, out, 0, fields);
      if (len < 0) continue;
      found++;
      const sum = len >= 4 ? out.readUInt32LE(len - 4) : -1;
      const text = out.toString('latin1', 0, Math.min(len, 64));
      const [rkey, rver] = text.split('|');
      if (sum !== fnv1aBytes(out, 0, len - 4)) bad.push('checksum of ' + rk + ' (' + text.slice(0, 30) + ')');
      else if (rkey !== rk) bad.push('key ' + rk + ' holds ' + rkey);
      else if (Number(rver) !== fields[0] || fields[1] !== w) bad.push('fields ' + fields[0] + '/' + fields[1] + ' with value version ' + rver + ' of ' + rk);
      if (w === id && Number(rver) !== model[rk.split(':key')[1] | 0]) bad.push('own key ' + rk + ' reads ' + rver);
    }
    if (bad.length > 20) break;
  }
  if (bad.length > 20) break;
}
parentPort.postMessage({ model, ops, reads, found, bad });
`;

// A record of 8 Float64 cells, all equal, rewritten under the sequence lock; readers must never see them differ.
const SEQ_WORKER = `
import { workerData, parentPort } from 'node:worker_threads';
import { seqReadBegin, seqReadRetry, seqWriteLock, seqWriteUnlock } from './seqlock.mjs';
const { sab, id, ms } = workerData;
const lock = new Int32Array(sab, 0, 2);
const cells = new Float64Array(sab, 8, 8);
let writes = 0, reads = 0, torn = 0, lost = 0;
const end = Date.now() + ms;
while (Date.now() < end) {
  for (let n = 0; n < 1000; n++) {
    if ((n & 3) === 0) {
      seqWriteLock(lock, 0);
      const v = cells[0] + 1; // a read-modify-write: lost updates show if writers overlap
      for (let i = 0; i < 8; i++) cells[i] = v;
      seqWriteUnlock(lock, 0);
      writes++;
    } else {
      let s, a, b;
      do { s = seqReadBegin(lock, 0); a = cells[0]; b = cells[7]; for (let i = 1; i < 7; i++) if (cells[i] !== a) b = -1; } while (seqReadRetry(lock, 0, s));
      if (a !== b) torn++;
      reads++;
    }
  }
}
parentPort.postMessage({ writes, reads, torn });
`;

// Dies (exits) while holding a record's lock, as a worker killed by the watchdog mid-write would.
const DYING_WORKER = `
import { workerData } from 'node:worker_threads';
import { ShmTable } from './hashtable.mjs';
const t = new ShmTable(workerData.sab, workerData.holder);
t.set('call-1', 'state');
t.lockEntry('call-1');
process.exit(0);
`;

function run(url: URL, data: object[]): Promise<any[]> {
  return Promise.all(data.map((workerData) => new Promise((resolve, reject) => {
    const w = new Worker(url, { workerData });
    w.once('message', resolve);
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
  })));
}

describe('shared memory from four threads at once', () => {
  let mods: WorkerModules;
  beforeAll(async () => {
    mods = await compileForWorkers(SOURCES, { table: TABLE_WORKER, seq: SEQ_WORKER, dying: DYING_WORKER });
  });
  afterAll(() => mods.cleanup());

  it('the table loses nothing and tears nothing', async () => {
    const WRITERS = 4;
    const KEYS = 300;
    // few buckets: the writers' keys share chains; values move between blocks as they grow
    const sab = ShmTable.create({ name: 'hammer', capacity: WRITERS * KEYS, arenaBytes: 8 << 20, fields: 2, buckets: 64 });
    const results = await run(mods.url('table'), Array.from({ length: WRITERS }, (_, id) =>
      ({ sab, id, writers: WRITERS, keysPerWriter: KEYS, ms: 2500 })));
    const ops = results.reduce((n, r) => n + r.ops, 0);
    console.log(`${WRITERS} threads, 2.5 s: ${ops} operations (${results.reduce((n, r) => n + r.reads, 0)} reads), ` +
      `${Math.round(ops / 2.5 / WRITERS)} per thread per second (building and checking the values included; not a benchmark)`);
    const t = new ShmTable(sab);
    const out = Buffer.alloc(4096);
    const fields = new Float64Array(2);
    let live = 0;
    results.forEach((r, w) => {
      expect(r.bad).toEqual([]);
      expect(r.ops).toBeGreaterThan(1000);
      expect(r.found).toBeGreaterThan(100);
      r.model.forEach((version: number, k: number) => {
        const key = `w${w}:key${k}`;
        const len = t.get(key, out, 0, fields);
        if (version < 0) return expect(len, key).toBe(-1);
        live++;
        expect(out.toString('latin1', 0, key.length + String(version).length + 2), key).toBe(`${key}|${version}|`);
        expect([...fields]).toEqual([version, w]);
      });
    });
    expect(t.stats()).toMatchObject({ count: live, fullRecords: 0, fullArena: 0 });
    let listed = 0;
    t.forEach(() => { listed++; });
    expect(listed).toBe(live);
  }, 30_000);

  it('the lock of a thread that died holding it is released by its holder number', async () => {
    const sab = ShmTable.create({ name: 'calls', capacity: 8, arenaBytes: 1024 });
    await new Promise((resolve, reject) => {
      const w = new Worker(mods.url('dying'), { workerData: { sab, holder: 5 } });
      w.once('exit', resolve);
      w.once('error', reject);
    });
    const t = new ShmTable(sab, 0);
    expect(t.releaseLocksOf(4)).toBe(0); // another thread: nothing held
    expect(t.releaseLocksOf(5)).toBe(1); // without this, the next line would wait forever
    expect(t.getString('call-1')).toBe('state');
    expect(t.releaseLocksOf(5)).toBe(0);
    expect(() => new ShmTable(sab, 64)).toThrow(/holder must be an integer in 0\.\.63/);
  });

  it('the sequence lock: no torn read, no lost write', async () => {
    const sab = new SharedArrayBuffer(8 + 64);
    const results = await run(mods.url('seq'), Array.from({ length: 4 }, (_, id) => ({ sab, id, ms: 1500 })));
    const writes = results.reduce((a, r) => a + r.writes, 0);
    for (const r of results) expect(r.torn).toBe(0);
    expect(new Float64Array(sab, 8, 8)[0]).toBe(writes);
    expect(new Int32Array(sab, 0, 1)[0]).toBe(2 * writes); // even: released as often as taken
  }, 30_000);
});
