/**
 * Cost of the shared hash table's operations on one thread (no contention): the figures a
 * transaction or location table pays per message. Keys are Call-ID-like strings, values a
 * 900-byte SIP message; the best of several rounds is printed, ns per operation.
 *
 *   make build && node dist/bench/micro/shm.js [keys]
 */
import { overheadBytesPerRecord, ShmTable } from '../../src/core/shm/hashtable.js';

const KEYS = Number(process.argv[2] ?? 10_000);
const ROUNDS = 7;
const keys = Array.from({ length: KEYS }, (_, i) => `${(i * 2654435761 >>> 0).toString(16)}-a84b4c76e66710@pc33.atlanta.com`);
const message = Buffer.alloc(900, 'x');
const sab = ShmTable.create({ name: 'bench', capacity: KEYS, arenaBytes: KEYS * 1200, fields: 4 });
const t = new ShmTable(sab, 0); // a holder, as a SIP thread would be
const out = Buffer.alloc(2048);
const fields = [1, 2, 3, 4];

function time(name: string, op: (key: string) => void): void {
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < KEYS; i++) op(keys[i]!);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / KEYS);
  }
  console.log(`${name.padEnd(44)} ${best.toFixed(0).padStart(6)} ns`);
}

let sink = 0;
for (const k of keys) t.set(k, message, fields);
time('set (update in place, 900 B, 4 fields)', (k) => t.set(k, message, fields));
time('get (copy 900 B into a caller buffer)', (k) => { sink += t.get(k, out); });
time('getField', (k) => { sink += t.getField(k, 0); });
time('has', (k) => { sink += t.has(k) ? 1 : 0; });
time('lockEntry + valueLength + setField + unlock', (k) => {
  const r = t.lockEntry(k);
  sink += t.valueLength(r);
  t.setField(r, 1, sink);
  t.unlockEntry();
});
time('delete + insert (free lists)', (k) => { t.delete(k); t.insert(k, message, fields); });
if (sink === 0) console.log('');
const s = t.stats();
console.log(`${s.count} records, arena ${s.arenaUsed}/${s.arenaBytes} bytes used; overhead per record ` +
  `${overheadBytesPerRecord(4)} bytes with 4 fields (${overheadBytesPerRecord(0)} without) + block rounding (at most 1/5 above 32 bytes)`);
