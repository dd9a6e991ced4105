/**
 * The tm store's costs on one thread: encode+decode of a record against JSON, the owner
 * thread's writes per call (put, 3 updates, delete), and bytes per transaction in the store.
 * Records: bench/micro/tm-records.ts (a ~1 KB INVITE, one branch, the 180 sent upstream; a BYE).
 *
 *   make build && node dist/bench/micro/tm-store.js [calls]
 */
import { decodeTmRecord, TmEncoder } from '../../src/modules/tm/store/codec.js';
import { TM_STATE, type TmRecord } from '../../src/modules/tm/store/record.js';
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
  console.log(`${name.padEnd(58)} ${v.toFixed(unit === 'µs' ? 2 : 0).padStart(8)} ${unit}`);
  return b;
}

// JSON as the obvious alternative: byte fields as latin1 strings (binary-safe), AVPs as entries
function toJson(r: TmRecord): Buffer {
  return Buffer.from(JSON.stringify({
    ...r, request: Buffer.from(r.request).toString('latin1'), reply: Buffer.from(r.reply).toString('latin1'),
    avps: r.avps === null ? null : [...r.avps],
    branches: r.branches.map((b) => ({ ...b, request: Buffer.from(b.request).toString('latin1') })),
  }), 'latin1');
}
function fromJson(buf: Buffer): TmRecord {
  const o = JSON.parse(buf.toString('latin1'));
  o.request = Buffer.from(o.request, 'latin1');
  o.reply = Buffer.from(o.reply, 'latin1');
  o.avps = o.avps === null ? null : new Map(o.avps);
  for (const b of o.branches) b.request = Buffer.from(b.request, 'latin1');
  return o as TmRecord;
}

const invites = Array.from({ length: 1000 }, (_, i) => inviteRecord(i));
const byes = Array.from({ length: 1000 }, (_, i) => byeRecord(i));
const enc = new TmEncoder();
let sink = 0;

console.log('codec (INVITE record)');
const binary = best('  encode + decode, binary', 20_000, (i) => { const r = invites[i % 1000]!; const b = enc.encode(r); sink += decodeTmRecord(r.key, b).replyCode; });
const json = best('  encode + decode, JSON', 20_000, (i) => { sink += fromJson(toJson(invites[i % 1000]!)).replyCode; });
best('  encode only, binary', 20_000, (i) => { sink += enc.encode(invites[i % 1000]!).length; });
console.log(`  binary is ${(json / binary).toFixed(1)}x faster than JSON; sizes ${enc.encode(invites[0]!).length} B vs ${toJson(invites[0]!).length} B (JSON)`);

// a call's transactions as the owner thread writes them: INVITE put, 100/180/200 updates,
// delete; every record kept until deleted (a fresh key each call, as on a live server)
const store = new TmStore(TmStore.create(CALLS * 2, 4096), 2);
const calls = Array.from({ length: CALLS }, (_, i) => inviteRecord(i));
console.log(`owner-thread writes (${CALLS} calls, table of ${CALLS * 2})`);
best('  put (INVITE)', CALLS, (i) => { store.put(calls[i]!); store.delete(calls[i]!.key); }); // warm with deletes
best('  put + 3 full updates + delete, per call', CALLS, (i) => {
  const r = calls[i]!;
  r.state = TM_STATE.TRYING; r.replyCode = 100;
  store.put(r);
  r.state = TM_STATE.PROCEEDING; r.replyCode = 180;
  store.update(r);
  r.replyCode = 183;
  store.update(r);
  r.state = TM_STATE.TERMINATED; r.replyCode = 200;
  store.update(r);
  store.delete(r.key);
}, 'µs');
// as the tm logic would: bytes rewritten only when they change (the reply kept upstream)
best('  put + updateState + update (reply) + updateState + delete', CALLS, (i) => {
  const r = calls[i]!;
  r.state = TM_STATE.TRYING; r.replyCode = 100;
  store.put(r);
  r.state = TM_STATE.PROCEEDING; r.replyCode = 100;
  store.updateState(r);
  r.replyCode = 180;
  store.update(r);
  r.state = TM_STATE.TERMINATED; r.replyCode = 200;
  store.updateState(r);
  store.delete(r.key);
}, 'µs');
best('  updateState alone', CALLS, (i) => { const r = calls[i]!; store.put(r); store.updateState(r); store.delete(r.key); });
for (const r of calls) store.put(r);
best('  get (copy out + decode)', CALLS, (i) => { sink += store.get(calls[i]!.key)!.replyCode; });
best('  field (state, no decode)', CALLS, (i) => { sink += store.field(calls[i]!.key, 1); });

console.log('bytes per transaction in the store (record + bucket + fields + key + value in its block)');
const keyBytes = (r: TmRecord) => Buffer.byteLength(r.key);
for (const [name, r] of [['INVITE, ~1 KB, one branch, 180 stored', invites[0]!], ['BYE, one branch, 200 stored', byes[0]!]] as const) {
  const value = store.encodedBytes(r);
  console.log(`  ${name.padEnd(40)} request ${r.request.length} B, branch ${r.branches[0]!.request.length} B, reply ${r.reply.length} B: ` +
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
