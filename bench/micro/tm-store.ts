/**
 * The tm store's costs on one thread: encode+decode of a TxRecord against JSON, the owner
 * thread's writes per call as tm.ts makes them (shm.ts: save, sync, drop), and bytes per
 * transaction in the store. Records: bench/micro/tm-records.ts (a ~1 KB INVITE, one branch; a BYE).
 *
 *   make build && node dist/bench/micro/tm-store.js [calls]
 */
import { decodeTxRecord, TmEncoder } from '../../src/modules/tm/store/codec.js';
import type { TxRecord } from '../../src/modules/tm/record.js';
import { BR_COMPLETED, BR_PROCEEDING, TX_COMPLETED, TX_PROCEEDING } from '../../src/modules/tm/record.js';
import { TmStore } from '../../src/modules/tm/store/store.js';
import { byeRecord, inviteRecord } from './tm-records.js';

const CALLS = Number(process.argv[2] ?? 20_000);
const ROUNDS = 7;

function best(name: string, n: number, op: (i: number) => void, unit = 'ns'): number {
  let b = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) op(i);
    b = Math.min(b, Number(process.hrtime.bigint() - t0) / n);
  }
  const v = unit === 'µs' ? b / 1000 : b;
  console.log(`${name.padEnd(64)} ${v.toFixed(unit === 'µs' ? 2 : 0).padStart(8)} ${unit}`);
  return b;
}

// JSON as the obvious alternative: byte fields as latin1 strings (binary-safe), Maps as entries
const latin1 = (b: Buffer | null) => (b === null ? null : b.toString('latin1'));
const bytes = (s: string | null) => (s === null ? null : Buffer.from(s, 'latin1'));
function toJson(r: TxRecord): Buffer {
  return Buffer.from(JSON.stringify({
    ...r, request: latin1(r.request), lastReply: latin1(r.lastReply), avps: [...(r.avps ?? [])], xavps: [...(r.xavps ?? [])],
    branches: r.branches.map((b) => ({ ...b, request: latin1(b.request), finalReply: latin1(b.finalReply) })),
  }), 'latin1');
}
function fromJson(buf: Buffer): TxRecord {
  const o = JSON.parse(buf.toString('latin1'));
  o.request = bytes(o.request);
  o.lastReply = bytes(o.lastReply);
  o.avps = new Map(o.avps);
  o.xavps = new Map(o.xavps);
  for (const b of o.branches) { b.request = bytes(b.request); b.finalReply = bytes(b.finalReply); }
  return o as TxRecord;
}

const invites = Array.from({ length: 1000 }, (_, i) => inviteRecord(i));
const byes = Array.from({ length: 1000 }, (_, i) => byeRecord(i));
const enc = new TmEncoder();
let sink = 0;

// the machine's speed, to scale the figures below (a Map lookup of an existing string key and a 1 KB copy)
const keys = Array.from({ length: 1000 }, (_, i) => `z9hG4bK776asdhds-${i}\n192.0.2.10:5060\nINVITE`);
const map = new Map(keys.map((k, i) => [k, i]));
const kb = Buffer.alloc(1024);
console.log('calibration');
best('  Map.get (string key, present)', 200_000, (i) => { sink += map.get(keys[i % 1000]!)!; });
best('  Buffer.from(1 KB) copy', 200_000, () => { sink += Buffer.from(kb).length; });

console.log('codec (INVITE record)');
const binary = best('  encode + decode, binary', 20_000, (i) => { const r = invites[i % 1000]!; sink += decodeTxRecord(r.key, enc.encode(r)).uasCode; });
const json = best('  encode + decode, JSON', 20_000, (i) => { sink += fromJson(toJson(invites[i % 1000]!)).uasCode; });
best('  encode only, binary', 20_000, (i) => { sink += enc.encode(invites[i % 1000]!).length; });
console.log(`  binary is ${(json / binary).toFixed(1)}x faster than JSON; sizes ${enc.encode(invites[0]!).length} B vs ${toJson(invites[0]!).length} B (JSON)`);

// a call's transactions as tm.ts writes them (shm.ts), a fresh key each call as on a live server:
// INVITE: save once relayed (100 Trying kept), sync on the 180, save on the 200 (kept), drop;
// BYE: save once relayed, save on the 200, drop
const store = new TmStore(TmStore.create(CALLS * 2, 4096), 2);
const inv = Array.from({ length: CALLS }, (_, i) => inviteRecord(i));
const bye = Array.from({ length: CALLS }, (_, i) => byeRecord(i));
const final = invites[0]!.lastReply!;
function inviteTx(r: TxRecord): void {
  const b = r.branches[0]!;
  r.state = TX_PROCEEDING; r.uasCode = 100; b.state = 0; b.lastCode = 0;
  store.put(r);
  b.state = BR_PROCEEDING; b.lastCode = 180; r.uasCode = 180; b.frAt += 1;
  store.sync(r);
  b.state = BR_COMPLETED; b.lastCode = 200; b.finalReply = final; r.uasCode = 200; r.state = TX_COMPLETED; r.lastReply = final; r.waitAt = 6000;
  store.update(r);
  store.delete(r.key);
  b.finalReply = null;
}
function byeTx(r: TxRecord): void {
  r.state = 0; r.uasCode = 0;
  store.put(r);
  r.state = TX_COMPLETED; r.uasCode = 200;
  store.update(r);
  store.delete(r.key);
}
console.log(`owner-thread writes (${CALLS} calls, table of ${CALLS * 2})`);
best('  put + delete (INVITE)', CALLS, (i) => { store.put(inv[i]!); store.delete(inv[i]!.key); }); // warms up
best('  sync alone (in place)', CALLS, (i) => { sink += store.sync(invites[0]!) ? 1 : 0; });
store.put(invites[0]!);
best('  sync of a stored record (in place)', CALLS, () => { sink += store.sync(invites[0]!) ? 1 : 0; });
store.delete(invites[0]!.key);
const a = best('  INVITE transaction: put, sync (180), update (200), delete', CALLS, (i) => inviteTx(inv[i]!), 'µs');
const c = best('  BYE transaction: put, update (200), delete', CALLS, (i) => byeTx(bye[i]!), 'µs');
console.log(`  per call (INVITE + BYE transactions): ${((a + c) / 1000).toFixed(2)} µs`);
for (const r of inv) store.put(r);
best('  get (copy out + decode)', CALLS, (i) => { sink += store.get(inv[i]!.key)!.uasCode; });
best('  field (state, no decode)', CALLS, (i) => { sink += store.field(inv[i]!.key, 1); });

console.log('bytes per transaction in the store (record + bucket + fields + key + value in its block)');
const keyBytes = (r: TxRecord) => Buffer.byteLength(r.key);
const done = inviteRecord(0);
done.state = TX_COMPLETED; done.uasCode = 200; done.lastReply = final; done.branches[0]!.finalReply = final;
for (const [name, r] of [['INVITE, ~1 KB, one branch, 180 kept', invites[0]!], ['INVITE, 200 kept (and its branch\'s)', done], ['BYE, one branch, 200 kept', byes[0]!]] as const) {
  const value = store.encodedBytes(r);
  console.log(`  ${name.padEnd(40)} request ${r.request.length} B, branch ${r.branches[0]!.request.length} B: ` +
    `value ${value} B, in the store ${TmStore.bytesPerRecord(keyBytes(r), value)} B`);
}
// and measured: the table's used bytes (core.shmmem) before and after 1000 records of each kind
for (const [name, recs] of [['INVITE', invites], ['BYE', byes]] as const) {
  const fresh = new TmStore(TmStore.create(1000, 4096), 2);
  const before = fresh.table.usedBytes();
  for (const r of recs) fresh.put(r);
  console.log(`  measured (core.shmmem used, 1000 records): ${name} ${((fresh.table.usedBytes() - before) / 1000).toFixed(0)} B each, plus its bucket (8 B)`);
}
if (sink === 0) console.log('');
