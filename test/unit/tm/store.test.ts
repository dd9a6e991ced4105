import { describe, expect, it } from 'vitest';
import { byeRecord, inviteRecord } from '../../../bench/micro/tm-records.js';
import { decodeTmRecord, TmEncoder, TmRecordDecodeError } from '../../../src/modules/tm/store/codec.js';
import { isRfc3261Branch, nextDeadline, TM_STATE, tmKey, tmKey2543 } from '../../../src/modules/tm/store/record.js';
import { F, TmStore, TmStoreFullError, TM_STORE_PARAMS } from '../../../src/modules/tm/store/store.js';

const store = (transactions = 16, bytes = 4096, row = 2) => new TmStore(TmStore.create(transactions, bytes), row);

describe('tm record codec', () => {
  it('gives back what it was given: bytes, strings, AVPs, branches', () => {
    const r = inviteRecord(7);
    r.avps!.set('ünïcode', ['straße', 0, -1.5, 2 ** 40, '']);
    r.tFlags = 0xffffffff;
    r.branches.push({ ...r.branches[0]!, branchId: 'z9hG4bKd7a1.7.1', state: TM_STATE.TRYING, lastCode: 0, retrNext: r.created + 500, request: Buffer.alloc(0) });
    const enc = new TmEncoder();
    const bytes = Buffer.from(enc.encode(r));
    const back = decodeTmRecord(r.key, bytes);
    expect(back).toEqual({ ...r, request: Buffer.from(r.request), reply: Buffer.from(r.reply),
      branches: r.branches.map((b) => ({ ...b, request: Buffer.from(b.request) })) });
    expect(decodeTmRecord('k', Buffer.from(enc.encode(byeRecord(1))))).toMatchObject({ avps: null, method: 'BYE', replyCode: 200 });
  });

  it('grows its buffer for a record larger than it', () => {
    const r = inviteRecord(1);
    r.request = Buffer.alloc(20_000, 0x41);
    const back = decodeTmRecord(r.key, Buffer.from(new TmEncoder().encode(r)));
    expect(back.request.length).toBe(20_000);
    expect(back.branches[0]!.request).toEqual(r.branches[0]!.request);
  });

  it('refuses a damaged record instead of decoding garbage', () => {
    const bytes = Buffer.from(new TmEncoder().encode(inviteRecord(1)));
    expect(() => decodeTmRecord('k', bytes, bytes.length - 1)).toThrow(TmRecordDecodeError);
    expect(() => decodeTmRecord('k', bytes.subarray(0, 100))).toThrow(/runs past the end/);
    const longer = Buffer.concat([bytes, Buffer.alloc(3)]);
    expect(() => decodeTmRecord('k', longer)).toThrow(/3 bytes left over/);
    expect(() => decodeTmRecord('k', Buffer.alloc(40))).toThrow(/version 0/);
  });

  it('refuses names longer than the format holds', () => {
    const r = inviteRecord(1);
    r.onReply = 'x'.repeat(256);
    expect(() => new TmEncoder().encode(r)).toThrow(/name of 256 bytes/);
  });
});

describe('tm keys (RFC 3261 17.2.3)', () => {
  it('an ACK finds its INVITE; CANCEL and other methods have keys of their own; sent-by case folds', () => {
    expect(tmKey('z9hG4bK1', 'Host.example.com:5060', 'ACK')).toBe(tmKey('z9hG4bK1', 'host.example.com:5060', 'INVITE'));
    expect(tmKey('z9hG4bK1', 'h:5060', 'CANCEL')).not.toBe(tmKey('z9hG4bK1', 'h:5060', 'INVITE'));
    expect(tmKey2543('sip:b@h', 'ft', 'cid', 1, 'SIP/2.0/UDP h', 'ACK')).toBe(tmKey2543('sip:b@h', 'ft', 'cid', 1, 'SIP/2.0/UDP h', 'INVITE'));
    expect(isRfc3261Branch('z9hG4bKabc')).toBe(true);
    expect(isRfc3261Branch('1234')).toBe(false);
  });

  it('the next deadline is the earliest armed one', () => {
    const r = inviteRecord(1, 2, 1000);
    expect(nextDeadline(r)).toBe(1000 + 120_000);
    r.branches[0]!.retrNext = 1500;
    expect(nextDeadline(r)).toBe(1500);
  });
});

describe('TmStore', () => {
  it('puts, updates, reads and deletes, keeping the numbers in fields and the counts by state', () => {
    const s = store();
    const r = inviteRecord(1);
    expect(s.put(r)).toBe(true);
    expect(s.put(r)).toBe(false); // a second put of one key: nothing changed
    expect(s.get(r.key)).toEqual(decodeTmRecord(r.key, Buffer.from(new TmEncoder().encode(r))));
    expect(s.field(r.key, F.STATE)).toBe(TM_STATE.PROCEEDING);
    expect(s.field(r.key, F.OWNER)).toBe(2);
    expect(s.field(r.key, F.NEXT_DEADLINE)).toBe(r.branches[0]!.frDeadline);
    expect(s.counts()).toMatchObject({ current: 1, waiting: 0, created: 1, freed: 0 });
    r.state = TM_STATE.COMPLETED;
    r.replyCode = 486;
    r.reply = Buffer.from('SIP/2.0 486 Busy Here\r\n\r\n');
    expect(s.update(r)).toBe(true);
    expect(s.get(r.key)).toMatchObject({ state: TM_STATE.COMPLETED, replyCode: 486, reply: r.reply });
    expect(s.field(r.key, F.REPLY_CODE)).toBe(486);
    expect(s.counts()).toMatchObject({ current: 1, waiting: 1, byState: [0, 0, 1, 0, 0] });
    expect(s.update(inviteRecord(2))).toBe(false); // absent: not created
    expect(s.delete(r.key)).toBe(true);
    expect(s.delete(r.key)).toBe(false);
    expect(s.get(r.key)).toBeUndefined();
    expect(s.field(r.key, F.STATE)).toBeNaN();
    expect(s.counts()).toEqual({ current: 0, waiting: 0, byState: [0, 0, 0, 0, 0], created: 1, freed: 1, full: 0 });
  });

  it('updateState changes state and reply code in place, the rest of the record as it was', () => {
    const s = store();
    const r = inviteRecord(1);
    s.put(r);
    r.state = TM_STATE.TERMINATED;
    r.replyCode = 603;
    expect(s.updateState(r)).toBe(true);
    expect(s.get(r.key)).toEqual(decodeTmRecord(r.key, Buffer.from(new TmEncoder().encode(r))));
    expect([s.field(r.key, F.STATE), s.field(r.key, F.REPLY_CODE)]).toEqual([TM_STATE.TERMINATED, 603]);
    expect(s.counts().byState).toEqual([0, 0, 0, 0, 1]);
    expect(s.updateState(inviteRecord(2))).toBe(false);
    expect(s.put(inviteRecord(2))).toBe(true); // the entry lock was released
  });

  it('sums the counts of every thread row, also for records another row deletes', () => {
    const shm = TmStore.create(16, 4096);
    const a = new TmStore(shm, 2);
    const b = new TmStore(shm, 3);
    a.put(inviteRecord(1));
    a.put(byeRecord(1));
    b.put(inviteRecord(2, 3));
    expect(b.delete(inviteRecord(1).key)).toBe(true); // adopted and finished by row 3
    expect(new TmStore(shm, 0).counts()).toMatchObject({ current: 2, waiting: 1, created: 3, freed: 1 });
  });

  it('when full, throws TmStoreFullError (records or bytes) and counts it; the store goes on', () => {
    const s = store(2, 8000);
    s.put(inviteRecord(1));
    s.put(byeRecord(1));
    expect(() => s.put(inviteRecord(2))).toThrow(TmStoreFullError);
    let err: unknown;
    try { s.put(inviteRecord(3)); } catch (e) { err = e; }
    expect(err).toMatchObject({ what: 'records', message: expect.stringMatching(/transaction store full: .*all 2 records in use.*shm_transactions/) });
    const big = inviteRecord(1);
    big.request = Buffer.alloc(15_000);
    expect(() => s.update(big)).toThrow(/transaction store full: .*no free block/);
    expect(s.get(big.key)!.request.length).toBe(inviteRecord(1).request.length); // unchanged
    expect(s.counts().full).toBe(3);
    s.delete(byeRecord(1).key);
    expect(s.put(inviteRecord(2))).toBe(true);
  });

  it('lists all records or one owner\'s, and gives tm.list Kamailio\'s fields', () => {
    const s = store();
    s.put(inviteRecord(1, 2));
    s.put(inviteRecord(2, 3));
    s.put(byeRecord(3, 2));
    expect(s.list().records.map((r) => r.key).sort()).toEqual([inviteRecord(1).key, inviteRecord(2).key, byeRecord(3).key].sort());
    expect(s.listByOwner(2).records.map((r) => r.method).sort()).toEqual(['BYE', 'INVITE']);
    expect(s.listByOwner(3).records.map((r) => r.callId)).toEqual([inviteRecord(2).callId]);
    const rpc = s.listForRpc().find((e) => e.method === 'INVITE' && e.owner === 2)!;
    expect(rpc).toMatchObject({
      cell: inviteRecord(1).key,
      from: 'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774-1\r\n',
      to: 'To: <sip:bob@biloxi.example.com>\r\n',
      callid: `Call-ID: ${inviteRecord(1).callId}\r\n`,
      cseq: 'CSeq: 314159',
      uas_request: 'yes', tflags: 0, outgoings: 1, ref_count: 1, lifetime: inviteRecord(1).lifetimeDeadline,
      state: 'proceeding', reply_code: 180,
    });
    expect(rpc.tindex).toBeGreaterThanOrEqual(0);
    expect(rpc.tindex).toBeLessThan(65536);
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
