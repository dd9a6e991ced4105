import { describe, expect, it } from 'vitest';
import { overheadBytesPerRecord, ShmTable, ShmTableFullError } from '../../../src/core/shm/hashtable.js';
import { parseMessage } from '../../../src/core/sip/message.js';

const small = (over: Partial<Parameters<typeof ShmTable.create>[0]> = {}) =>
  new ShmTable(ShmTable.create({ name: 'test', capacity: 16, arenaBytes: 4096, fields: 2, ...over }));

describe('ShmTable', () => {
  it('inserts, updates, reads and deletes by string or byte key', () => {
    const t = small();
    t.set('alice', 'one', [1, 2]);
    expect(t.getString('alice')).toBe('one');
    expect(t.getField('alice', 0)).toBe(1);
    expect(t.getField('alice', 1)).toBe(2);
    expect(t.insert('alice', 'two')).toBe(false); // present: unchanged
    expect(t.getString('alice')).toBe('one');
    expect(t.update('bob', 'x')).toBe(false); // absent: not created
    expect(t.has('bob')).toBe(false);
    expect(t.insert(Buffer.from('bob'), Buffer.from('bytes'))).toBe(true);
    expect(t.getString('bob')).toBe('bytes');
    expect(t.update('alice', 'a much longer value that needs a larger block than before')).toBe(true);
    expect(t.getString('alice')).toBe('a much longer value that needs a larger block than before');
    expect(t.getField('alice', 0)).toBe(1); // fields kept when not given
    expect(t.delete('alice')).toBe(true);
    expect(t.delete('alice')).toBe(false);
    expect(t.has('alice')).toBe(false);
    expect(t.getField('alice', 0)).toBeNaN();
    expect(t.stats().count).toBe(1);
    t.set('', ''); // empty key and value are values too
    expect(t.getString('')).toBe('');
    t.set('ключ', 'значение');
    expect(t.getString('ключ')).toBe('значение');
  });

  it('copies into the caller\'s buffer, and says when it does not fit', () => {
    const t = small({ arenaBytes: 8192 });
    t.set('k', 'hello');
    const out = Buffer.alloc(8);
    expect(t.get('k', out, 2)).toBe(5);
    expect(out.toString('latin1', 2, 7)).toBe('hello');
    expect(t.get('absent', out)).toBe(-1);
    expect(() => t.get('k', Buffer.alloc(4))).toThrow(/value of 5 bytes does not fit in 4/);
    const long = Buffer.alloc(3000, 7);
    t.set('long', long);
    expect(t.getCopy('long')).toEqual(long); // longer than getCopy's first guess
    expect(t.getCopy('absent')).toBeUndefined();
    expect(() => t.getCopy('k'.repeat(2000))).toThrow(/key longer than 1024 bytes/);
  });

  it('keeps colliding keys apart in one bucket', () => {
    const t = small({ buckets: 1 });
    for (let i = 0; i < 16; i++) t.set(`key${i}`, `value${i}`, [i]);
    for (let i = 0; i < 16; i += 2) t.delete(`key${i}`);
    for (let i = 0; i < 16; i++) expect(t.getString(`key${i}`)).toBe(i % 2 ? `value${i}` : undefined);
    const seen: string[] = [];
    t.forEach((k, v, f) => { seen.push(`${k}=${v.toString()}/${f[0]}`); });
    expect(seen.sort()).toEqual([1, 3, 5, 7, 9, 11, 13, 15].map((i) => `key${i}=value${i}/${i}`).sort());
  });

  it('reuses the records and blocks of deleted entries', () => {
    const t = small({ capacity: 4, arenaBytes: 4 * 64 });
    for (let round = 0; round < 100; round++) {
      for (let i = 0; i < 4; i++) t.set(`k${i}`, 'x'.repeat(40 + (round % 3)));
      for (let i = 0; i < 4; i++) expect(t.delete(`k${i}`)).toBe(true);
    }
    expect(t.stats()).toMatchObject({ count: 0, arenaUsed: 0, fullRecords: 0, fullArena: 0 });
  });

  it('when full, throws a named error saying what is full, and counts it', () => {
    const t = small({ capacity: 2, arenaBytes: 256 });
    t.set('a', 'x');
    t.set('b', 'y');
    let err: unknown;
    try { t.set('c', 'z'); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(ShmTableFullError);
    expect(err).toMatchObject({ what: 'records', table: 'test', message: 'shared table test is full: all 2 records in use' });
    expect(() => t.update('a', 'v'.repeat(300))).toThrow(/full: no free block of 301 bytes/);
    expect(t.getString('a')).toBe('x'); // the refused update left the value as it was
    expect(t.stats()).toMatchObject({ count: 2, fullRecords: 1, fullArena: 1 });
    t.delete('b');
    t.set('c', 'z'); // room again
    expect(t.getString('c')).toBe('z');
    // the counters live in shared memory: another attachment sees them
    expect(new ShmTable(t.sab).stats()).toMatchObject({ fullRecords: 1, fullArena: 1, name: 'test' });
  });

  it('a key repeated (encoded once) and byte keys in between find the right records', () => {
    const t = new ShmTable(ShmTable.create({ name: 'keys', capacity: 8, arenaBytes: 1024 }));
    const k = 'z9hG4bK1\n127.0.0.1:5060\nINVITE';
    t.set(k, 'one');
    t.set(Buffer.from('bytes'), 'two');
    expect(t.getString(k)).toBe('one');
    expect(t.getString('bytes')).toBe('two');
    expect(t.getString(k.slice(0, -6) + 'INVITE')).toBe('one'); // another string, same text
    t.set(Buffer.from(k), 'three'); // the same key as bytes, right after it as a string
    expect(t.getString(k)).toBe('three');
    expect(t.delete(k)).toBe(true);
    expect(t.has(k)).toBe(false);
  });

  it('hasRoom: a free record and enough arena bytes, untouched or freed', () => {
    const t = new ShmTable(ShmTable.create({ name: 'room', capacity: 2, arenaBytes: 256 }));
    expect(t.hasRoom(200)).toBe(true);
    t.set('a', 'x'.repeat(190));
    expect(t.hasRoom(200)).toBe(false); // arena
    expect(t.hasRoom(16)).toBe(true);
    t.set('b', 'y');
    expect(t.hasRoom(16)).toBe(false); // records
    t.delete('a');
    expect(t.hasRoom(190)).toBe(true); // its block is free again
  });

  it('refuses bad sizes, long keys and foreign buffers with clear errors', () => {
    expect(() => ShmTable.create({ name: 'x', capacity: 0, arenaBytes: 100 })).toThrow(/capacity must be an integer in 1\.\./);
    expect(() => ShmTable.create({ name: 'x', capacity: 4, arenaBytes: 100, buckets: 3 })).toThrow(/power of two/);
    expect(() => new ShmTable(new SharedArrayBuffer(1024))).toThrow(/not a shared table/);
    const t = small({ maxKeyBytes: 8 });
    t.set('12345678', 'ok');
    expect(() => t.set('123456789', 'no')).toThrow(/key longer than 8 bytes/);
    expect(() => t.set('1234567é', 'no')).toThrow(/key longer than 8 bytes/); // 9 UTF-8 bytes
  });

  it('stores a SIP message and parses it in place, without a copy', () => {
    const t = small({ arenaBytes: 8192 });
    const invite = Buffer.from('INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n' +
      'From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: abc@10.0.0.1\r\nCSeq: 1 INVITE\r\n' +
      'Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n');
    t.set('z9hG4bK1', invite, [1]);
    invite.fill(0); // the table holds its own copy
    const r = t.lockEntry('z9hG4bK1');
    try {
      expect(r).toBeGreaterThanOrEqual(0);
      const view = t.valueView(r);
      expect(view.buffer).toBe(t.sab); // a view of the shared memory
      const msg = parseMessage(view);
      expect(msg.callId()).toBe('abc@10.0.0.1');
      t.setField(r, 0, 2); // changed in place under the lock
      expect(() => t.get('other', Buffer.alloc(8))).toThrow(/only the locked record/);
    } finally {
      t.unlockEntry();
    }
    expect(t.getField('z9hG4bK1', 0)).toBe(2);
    expect(t.lockEntry('absent')).toBe(-1);
    t.unlockEntry();
  });

  it('says how many of its bytes are in use (core.shmmem)', () => {
    const sab = ShmTable.create({ name: 'usage', capacity: 8, arenaBytes: 1024, fields: 2 });
    const t = new ShmTable(sab);
    const empty = t.usedBytes();
    expect(empty).toBeLessThan(sab.byteLength - 1024);
    t.set('key-1', 'x'.repeat(20)); // 5 + 20 bytes: a 32-byte block, plus a record (24) and its fields (16)
    expect(t.usedBytes()).toBe(empty + 32 + 24 + 16);
    t.delete('key-1');
    expect(t.usedBytes()).toBe(empty);
  });

  it('costs a fixed overhead per record', () => {
    expect(overheadBytesPerRecord(0)).toBe(32);
    expect(overheadBytesPerRecord(4)).toBe(64);
  });
});
