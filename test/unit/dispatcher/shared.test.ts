// The dispatcher's table is one SharedArrayBuffer: a thread given only that buffer reads every
// destination (URI, attributes, flags) from it, and state changed on either side is seen by the other.
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DS_INACTIVE, parseListText } from '../../../src/modules/dispatcher/list.js';
import { buildTable, DsTable } from '../../../src/modules/dispatcher/table.js';
import { compileForWorkers, type WorkerModules } from '../stats/worker-modules.js';

const WORKER = `
import { workerData, parentPort } from 'node:worker_threads';
import { DsTable } from './table.mjs';
const t = new DsTable(workerData);
const seen = t.dests.map((d, i) => ({ uri: d.uri, host: d.host, port: d.port, weight: d.attrs.weight ?? null, duid: d.attrs.duid ?? null, letters: t.flagLetters(i) }));
const sets = t.sets.map((s) => ({ setid: s.setid, members: s.members }));
const b = t.findUri(1, 'sip:10.0.0.2:5070');
t.setState(b, 1 /* inactive */);
t.addLoad(b, 3);
t.countSelection(1, b);
parentPort.postMessage({ seen, sets, position: t.nextPosition(1) });
`;

// round-robin from several threads at once, counting which destination each call got first
const ROUND_ROBIN_WORKER = `
import { workerData, parentPort } from 'node:worker_threads';
import { DsTable } from './table.mjs';
import { selectOrder } from './select.mjs';
const t = new DsTable(workerData.sab);
const got = new Map();
const go = new Int32Array(workerData.go);
Atomics.wait(go, 0, 0); // start together, so the threads really interleave
for (let k = 0; k < workerData.calls; k++) {
  const first = selectOrder(t, 1, 4, 0)[0];
  got.set(first, (got.get(first) ?? 0) + 1);
}
parentPort.postMessage(Object.fromEntries(got));
`;

const LIST = `
1 sip:10.0.0.1:5060 8 0 duid=a;weight=30
1 sip:10.0.0.2:5070 0 5 duid=b;weight=70
2 sip:[2001:db8::1]:5080;transport=udp 4 0 socket=udp:127.0.0.1:5060
`;

describe('dispatcher table in shared memory', () => {
  let mods: WorkerModules;
  beforeAll(async () => {
    mods = await compileForWorkers(['src/core/sip/bytes.ts', 'src/core/sip/chars.ts', 'src/core/sip/errors.ts', 'src/core/sip/uri.ts', 'src/core/shm/layout.ts',
      'src/modules/dispatcher/list.ts', 'src/modules/dispatcher/table.ts', 'src/core/hash.ts', 'src/modules/dispatcher/select.ts'],
      { worker: WORKER, roundRobin: ROUND_ROBIN_WORKER });
  });
  afterAll(() => mods.cleanup());

  it('a worker given only the buffer reads the destinations and shares their state', async () => {
    const sab = buildTable(parseListText(LIST, 'test.list'), 2, 1);
    expect(sab).toBeInstanceOf(SharedArrayBuffer);
    expect(Buffer.from(sab).includes('sip:[2001:db8::1]:5080;transport=udp')).toBe(true); // the text lives in it
    const t = new DsTable(sab);
    t.nextPosition(1);
    const got = await new Promise<any>((resolve, reject) => {
      const w = new Worker(mods.url('worker'), { workerData: sab });
      w.once('message', resolve);
      w.once('error', reject);
    });
    expect(got.seen).toEqual([
      { uri: 'sip:10.0.0.1:5060', host: '10.0.0.1', port: 5060, weight: 30, duid: 'a', letters: 'AP' },
      { uri: 'sip:10.0.0.2:5070', host: '10.0.0.2', port: 5070, weight: 70, duid: 'b', letters: 'AX' },
      { uri: 'sip:[2001:db8::1]:5080;transport=udp', host: '2001:db8::1', port: 5080, weight: null, duid: null, letters: 'DX' },
    ]);
    expect(got.sets).toEqual([{ setid: 1, members: [1, 0] }, { setid: 2, members: [2] }]);
    expect(got.position).toBe(1); // the main thread's step was seen
    const b = t.findUri(1, 'sip:10.0.0.2:5070')!;
    expect(t.flags(b) & DS_INACTIVE).toBe(DS_INACTIVE);
    expect(t.load(b)).toBe(3);
    expect(t.selectionsOf(b)).toBe(1);
    expect(t.dest(2).attrs.socket).toBe('udp:127.0.0.1:5060');
  });

  it('round-robin past an inactive destination shares evenly when threads pick at the same time', async () => {
    // a skip and the turn it takes are one atomic step: taking the position and then moving it
    // past the dead one as two steps let another thread's turn land in between (47/53 in CI)
    const sab = buildTable(parseListText('1 sip:10.0.0.1\n1 sip:10.0.0.2\n1 sip:10.0.0.3\n', 'rr.list'), 2, 1);
    const t = new DsTable(sab);
    const dead = t.findUri(1, 'sip:10.0.0.1')!;
    t.setState(dead, DS_INACTIVE);
    const go = new SharedArrayBuffer(4);
    const calls = 200_000;
    const runs = [0, 1].map(() => new Promise<Record<string, number>>((resolve, reject) => {
      const w = new Worker(mods.url('roundRobin'), { workerData: { sab, go, calls } });
      w.once('message', (m) => { resolve(m); void w.terminate(); });
      w.once('error', reject);
    }));
    await new Promise((r) => setTimeout(r, 300)); // both threads waiting
    Atomics.store(new Int32Array(go), 0, 1);
    Atomics.notify(new Int32Array(go), 0);
    const counts = new Map<number, number>();
    for (const m of await Promise.all(runs)) for (const [i, n] of Object.entries(m)) counts.set(Number(i), (counts.get(Number(i)) ?? 0) + n);
    expect(counts.has(dead)).toBe(false);
    const shares = [...counts.values()];
    expect(shares.length).toBe(2);
    expect(shares[0]! + shares[1]!).toBe(2 * calls);
    expect(Math.abs(shares[0]! - shares[1]!)).toBeLessThanOrEqual(1);
  });

  it('refuses a buffer that is not a dispatcher table', () => {
    expect(() => new DsTable(new SharedArrayBuffer(64))).toThrow(/not a dispatcher table/);
  });
});
