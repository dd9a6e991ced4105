import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { byeRecord, inviteRecord } from '../../../bench/micro/tm-records.js';
import { BR_COMPLETED, CANCEL_SENT, TX_COMPLETED, TX_PROCEEDING, TX_TERMINATED, TX_TRYING, type TxRecord } from '../../../src/modules/tm/record.js';
import { decodeTxRecord, fromShared, TmEncoder, TmRecordDecodeError, toShared } from '../../../src/modules/tm/store/codec.js';
import { F, nextDeadline, TmStore, TmStoreFullError, TM_STORE_PARAMS } from '../../../src/modules/tm/store/store.js';

const store = (transactions = 16, bytes = 4096, row = 2) => new TmStore(TmStore.create(transactions, bytes), row);
const TIMES = ['uasRetrAt', 'uasRetrEndAt', 'endAt', 'waitAt', 'createdAt', 'retrAt', 'frAt', 'cancelRetrAt', 'cancelEndAt'];

/** A record as plain data with its times left out (they are compared by sameRecord, to a microsecond). */
function plain(r: unknown, times: number[] = []): unknown {
  return JSON.parse(JSON.stringify(r, (k, v) => (TIMES.includes(k) ? (times.push(v), 0)
    : v instanceof Map ? { map: [...v] } : v?.type === 'Buffer' ? { bytes: Buffer.from(v.data).toString('latin1') } : v)));
}

/** Times go through the shared clock (timeOrigin + t and back): equal to a microsecond, not bit for bit. */
function sameRecord(got: unknown, want: unknown): void {
  const a: number[] = [];
  const b: number[] = [];
  expect(plain(got, a)).toEqual(plain(want, b));
  expect(a.length).toBe(b.length);
  a.forEach((t, i) => expect(Math.abs(t - b[i]!)).toBeLessThan(0.001));
}

/** A record with every field of TxRecord and BranchRecord set to something other than its default. */
function everyField(): TxRecord {
  const r = inviteRecord(7, performance.now());
  const final = Buffer.from('SIP/2.0 486 Busy Here\r\nContent-Length: 0\r\n\r\n');
  Object.assign(r, {
    state: TX_COMPLETED, sock: 1, srcPort: 5070, replyPort: 5071, ruri: 'sip:bob@ünïcode.example.com', rrParams: ';ftag=1',
    uasCode: 486, lastReply: final, onBranch: 'BR', onBranchFailure: 'BF', flags: -2147483648 | 5, tFlags: 7,
    xavps: new Map([['_dsdst_', [{ uri: 'sip:gw1', flags: 0, grp: 1.5 }, { uri: 'sip:gw2', attrs: '' }]]]),
    frTimer: 1234, frInvTimer: 5678, retr1: 250, retr2: 2000, uasRetrAt: r.createdAt + 250.25, uasRetrInterval: 250,
    waitAt: r.createdAt + 5000, canceled: true,
    lumps: [{ start: 10, end: 12, seq: 1, text: 'X-Req: ünï\r\n' }, { start: 40, end: 40, seq: 2, text: '' }],
    maxfwdDone: true, uasRetrEndAt: r.createdAt + 32_000,
  });
  r.avps!.set('ünïcode', ['straße', 0, -1.5, 2 ** 40, '']);
  r.branches.push({
    branch: 'z9hG4bKd7a1.7.1', sock: 1, host: '::1', port: 5090, uri: 'sip:alt@192.0.2.30', state: BR_COMPLETED,
    lastCode: 408, lastReason: 'Request Timeout', finalReply: final, request: Buffer.from('INVITE sip:alt SIP/2.0\r\n\r\n'),
    retrAt: r.createdAt + 2000.5, retrInterval: 2000, frAt: r.createdAt + 30_000, cancel: CANCEL_SENT, timedOut: true, dropped: true,
    cancelRequest: Buffer.from('CANCEL sip:alt SIP/2.0\r\n\r\n'), cancelRetrAt: r.createdAt + 1000.5, cancelRetrInterval: 1000,
    cancelEndAt: r.createdAt + 30_000,
  });
  return r;
}

/** Fields left at a default (0, '', null, false, empty) would not show that the codec keeps them. */
function defaults(o: object): string[] {
  return Object.entries(o).filter(([, v]) => !v || (v instanceof Map && v.size === 0) || (Array.isArray(v) && v.length === 0)).map(([k]) => k);
}

describe('tm record codec (TxRecord)', () => {
  it('gives back every field of TxRecord and BranchRecord', () => {
    const r = everyField();
    // a field added to TxRecord or BranchRecord must be set here (and so be round-tripped below)
    expect(defaults(r)).toEqual([]);
    expect(defaults(r.branches[1]!)).toEqual([]);
    const back = decodeTxRecord(r.key, Buffer.from(new TmEncoder().encode(r)));
    expect(Object.keys(back).sort()).toEqual(Object.keys(r).sort());
    for (let i = 0; i < r.branches.length; i++) expect(Object.keys(back.branches[i]!).sort()).toEqual(Object.keys(r.branches[i]!).sort());
    sameRecord(back, r);
    expect(back.branches[0]!.finalReply).toBeNull();
    expect(back.branches[1]!.finalReply).toBe(back.lastReply); // the relayed final is kept once
    expect(back.ruri).not.toBeNull();
    expect(decodeTxRecord('k', Buffer.from(new TmEncoder().encode(byeRecord(1))))).toMatchObject({ rr: null, ruri: null, method: 'BYE', uasCode: 200 });
  });

  it('keeps times on the shared clock: another thread reads them on its own', () => {
    const t = performance.now() + 500;
    expect(toShared(t)).toBeCloseTo(Date.now() + 500, -2);
    expect(fromShared(toShared(t))).toBeCloseTo(t, 2);
    expect(toShared(0)).toBe(0); // not armed stays not armed
    expect(fromShared(0)).toBe(0);
  });

  it('grows its buffer for a record larger than it', () => {
    const r = inviteRecord(1);
    r.request = Buffer.alloc(20_000, 0x41);
    const back = decodeTxRecord(r.key, Buffer.from(new TmEncoder().encode(r)));
    expect(back.request.length).toBe(20_000);
    expect(back.branches[0]!.request).toEqual(r.branches[0]!.request);
  });

  it('refuses a damaged record instead of decoding garbage', () => {
    const bytes = Buffer.from(new TmEncoder().encode(inviteRecord(1)));
    expect(() => decodeTxRecord('k', bytes, bytes.length - 1)).toThrow(TmRecordDecodeError);
    expect(() => decodeTxRecord('k', bytes.subarray(0, 200))).toThrow(/runs past the end/);
    expect(() => decodeTxRecord('k', Buffer.concat([bytes, Buffer.alloc(3)]))).toThrow(/3 bytes left over/);
    expect(() => decodeTxRecord('k', Buffer.alloc(100))).toThrow(/version 0/);
  });

  it('refuses names longer than the format holds', () => {
    const r = inviteRecord(1);
    r.onReply = 'x'.repeat(256);
    expect(() => new TmEncoder().encode(r)).toThrow(/name of 256 bytes/);
  });
});

describe('TmStore', () => {
  it('puts, updates, syncs in place, reads and deletes, with the numbers in fields and counts by state', () => {
    const s = store();
    const r = inviteRecord(1, performance.now());
    expect(s.put(r)).toBe(true);
    expect(s.put(r)).toBe(false); // a second put of one key: nothing changed
    sameRecord(s.get(r.key), r);
    expect(s.field(r.key, F.STATE)).toBe(TX_PROCEEDING);
    expect(s.field(r.key, F.OWNER)).toBe(2);
    expect(fromShared(s.field(r.key, F.NEXT_DEADLINE))).toBeCloseTo(r.branches[0]!.retrAt, 2);
    expect(s.counts()).toMatchObject({ current: 1, waiting: 0, created: 1, freed: 0 });
    // in place: the numbers change, the bytes stay as they were
    r.branches[0]!.state = BR_COMPLETED;
    r.branches[0]!.lastCode = 486;
    r.branches[0]!.retrAt = 0;
    r.branches[0]!.frAt = 0;
    r.state = TX_COMPLETED;
    r.uasCode = 486;
    r.waitAt = r.createdAt + 5000;
    const kept = r.lastReply;
    r.lastReply = Buffer.from('SIP/2.0 486 Busy Here\r\n\r\n');
    expect(s.sync(r)).toBe(true);
    const synced = s.get(r.key)!;
    expect(synced).toMatchObject({ state: TX_COMPLETED, uasCode: 486, lastReply: kept });
    expect(synced.branches[0]).toMatchObject({ state: BR_COMPLETED, lastCode: 486, retrAt: 0, frAt: 0 });
    expect(fromShared(s.field(r.key, F.NEXT_DEADLINE))).toBeCloseTo(r.waitAt, 2);
    expect(s.counts()).toMatchObject({ current: 1, waiting: 1, byState: [0, 0, 1, 0] });
    expect(s.update(r)).toBe(true); // encoded again: the new reply kept
    expect(s.get(r.key)!.lastReply).toEqual(r.lastReply);
    // a branch added since the last encode is not written in place (it needs an update)
    r.branches.push({ ...r.branches[0]!, branch: 'z9hG4bKnew' });
    expect(s.sync(r)).toBe(true);
    expect(s.get(r.key)!.branches.length).toBe(1);
    expect(s.update(inviteRecord(2))).toBe(false); // absent: not created
    expect(s.sync(inviteRecord(2))).toBe(false);
    expect(s.put(inviteRecord(2))).toBe(true); // the entry lock was released
    expect(s.delete(r.key)).toBe(true);
    expect(s.delete(r.key)).toBe(false);
    expect(s.get(r.key)).toBeUndefined();
    expect(s.field(r.key, F.STATE)).toBeNaN();
    expect(s.counts()).toEqual({ current: 1, waiting: 0, byState: [0, 1, 0, 0], created: 2, freed: 1, full: 0 });
  });

  it('sync and delete by a remembered record index, falling back to the key when it no longer holds it', () => {
    const s = store();
    const a = inviteRecord(1);
    const b = inviteRecord(2);
    expect(s.put(a)).toBe(true);
    const ea = s.lastEntry;
    expect(s.put(b)).toBe(true);
    const eb = s.lastEntry;
    expect(eb).not.toBe(ea);
    a.uasCode = 183;
    expect(s.sync(a, ea)).toBe(true);
    expect(s.field(a.key, F.REPLY_CODE)).toBe(183);
    // an index that holds another key (or none): the key decides, the other record is untouched
    b.uasCode = 181;
    expect(s.sync(b, ea)).toBe(true);
    expect(s.field(b.key, F.REPLY_CODE)).toBe(181);
    expect(s.field(a.key, F.REPLY_CODE)).toBe(183);
    expect(s.sync(b, 10_000)).toBe(true);
    expect(s.delete(b.key, ea)).toBe(true);
    expect(s.field(b.key, F.STATE)).toBeNaN();
    expect(s.field(a.key, F.REPLY_CODE)).toBe(183);
    expect(s.delete(b.key, eb)).toBe(false); // gone, and its index is free
    expect(s.sync(b, eb)).toBe(false);
    expect(s.delete(a.key, ea)).toBe(true);
    expect(s.counts()).toMatchObject({ current: 0, created: 2, freed: 2 });
    // a key that is not ASCII is never taken for the record by its index alone
    const c = inviteRecord(3);
    c.key = 'z9hG4bK-é\n192.0.2.10:5060\nINVITE';
    expect(s.put(c)).toBe(true);
    const ec = s.lastEntry;
    expect(s.table.lockRecord(ec, c.key)).toBe(-1);
    expect(s.delete(c.key, ec)).toBe(true);
    expect(s.counts().current).toBe(0);
  });

  it('the next deadline: the earliest armed one, the wait timer once completed', () => {
    const r = inviteRecord(1, 1000);
    expect(nextDeadline(r)).toBe(1500);
    r.branches[0]!.retrAt = 0;
    expect(nextDeadline(r)).toBe(1000 + 120_000);
    r.branches[0]!.frAt = 0;
    r.state = TX_COMPLETED;
    r.waitAt = 6000;
    expect(nextDeadline(r)).toBe(6000);
  });

  it('sums the counts of every thread row, also for records another row deletes', () => {
    const shm = TmStore.create(16, 4096);
    const a = new TmStore(shm, 2);
    const b = new TmStore(shm, 3);
    a.put(inviteRecord(1));
    a.put(byeRecord(1));
    b.put(inviteRecord(2));
    expect(b.delete(inviteRecord(1).key)).toBe(true); // adopted and finished by row 3
    expect(new TmStore(shm, 0).counts()).toMatchObject({ current: 2, waiting: 1, created: 3, freed: 1 });
  });

  it('when full: hasRoom says no (counted), a write throws TmStoreFullError; the store goes on', () => {
    const s = store(2, 8000);
    expect(s.hasRoom(1000)).toBe(true);
    s.put(inviteRecord(1));
    s.put(byeRecord(1));
    expect(s.hasRoom(100)).toBe(false);
    let err: unknown;
    try { s.put(inviteRecord(3)); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(TmStoreFullError);
    expect(err).toMatchObject({ what: 'records', message: expect.stringMatching(/transaction store full: .*all 2 records in use.*shm_transactions/) });
    const big = inviteRecord(1);
    big.request = Buffer.alloc(15_000);
    expect(() => s.update(big)).toThrow(/transaction store full: .*no free block/);
    expect(s.get(big.key)!.request.length).toBe(inviteRecord(1).request.length); // unchanged
    expect(s.counts().full).toBe(3);
    s.delete(byeRecord(1).key);
    expect(s.hasRoom(100)).toBe(true);
    expect(s.put(inviteRecord(2))).toBe(true);
  });

  it('adopts a row: locks released, records handed over with their owner changed', () => {
    const shm = TmStore.create(16, 8192);
    const dead = new TmStore(shm, 2);
    dead.put(inviteRecord(1));
    dead.put(byeRecord(1));
    const same = new TmStore(shm, 2).adopt(2); // a thread restarted in its row
    expect(same.records.map((r) => r.method).sort()).toEqual(['BYE', 'INVITE']);
    const other = new TmStore(shm, 3);
    expect(other.adopt(2).records.length).toBe(2);
    expect(other.listByOwner(3).records.length).toBe(2);
    expect(other.listByOwner(2).records.length).toBe(0);
  });

  it('lists the records, and gives tm.list Kamailio\'s fields', () => {
    const s = store();
    s.put(inviteRecord(1));
    new TmStore(s.shm, 3).put(inviteRecord(2));
    s.put(byeRecord(3));
    expect(s.list().records.map((r) => r.key).sort()).toEqual([inviteRecord(1).key, inviteRecord(2).key, byeRecord(3).key].sort());
    expect(s.listByOwner(2).records.map((r) => r.method).sort()).toEqual(['BYE', 'INVITE']);
    expect(s.listByOwner(3).records.map((r) => r.callId)).toEqual([inviteRecord(2).callId]);
    const rpc = s.listForRpc().find((e) => e.method === 'INVITE' && e.owner === 2)!;
    expect(rpc).toMatchObject({
      cell: inviteRecord(1).key.replace(/\n/g, ' '),
      from: 'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774-1\r\n',
      to: 'To: <sip:bob@biloxi.example.com>\r\n',
      callid: `Call-ID: ${inviteRecord(1).callId}\r\n`,
      cseq: 'CSeq: 314159',
      uas_request: 'yes', tflags: 0, outgoings: 1, ref_count: 1, lifetime: Math.round(toShared(inviteRecord(1).endAt)),
      state: 'proceeding', reply_code: 180,
    });
    expect(rpc.tindex).toBeGreaterThanOrEqual(0);
    expect(rpc.tindex).toBeLessThan(65536);
    expect([TX_TRYING, TX_TERMINATED]).toEqual([0, 3]);
  });

  it('shows in core.shmmem: the table and the counters, used growing with records', () => {
    const s = store(64, 4096);
    const before = s.regions();
    expect(before.map((r) => r.name)).toEqual(['tm', 'tm counters']);
    s.put(inviteRecord(1));
    const after = s.regions();
    expect(after[0]!.total).toBe(before[0]!.total);
    const keyAndValue = Buffer.byteLength(inviteRecord(1).key) + s.encodedBytes(inviteRecord(1));
    const grew = after[0]!.used - before[0]!.used;
    expect(grew).toBeGreaterThan(keyAndValue);
    expect(grew).toBeLessThanOrEqual(TmStore.bytesPerRecord(Buffer.byteLength(inviteRecord(1).key), s.encodedBytes(inviteRecord(1))));
  });

  it('module parameters: defaults, and a check that refuses bad values', () => {
    expect(TM_STORE_PARAMS.shm_transactions.default).toBe(131072);
    expect(TM_STORE_PARAMS.shm_transaction_bytes.check(0)).toMatch(/integer in 1\.\./);
    expect(TM_STORE_PARAMS.shm_transactions.check(1000)).toBeUndefined();
  });
});
