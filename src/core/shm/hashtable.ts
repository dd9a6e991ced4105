// A hash table in one SharedArrayBuffer, usable from every thread at once: string (or byte)
// keys, variable-length byte values, and a few Float64 fields per record for numbers a user
// wants without decoding the value (a transaction's state and deadlines, a contact's expiry).
// Capacity is fixed when the buffer is made: a number of records and bytes of arena. When either
// runs out, the write throws ShmTableFullError saying which, and a counter in the header counts
// it. Deleted records and their arena blocks are reused.
//
// Region, in order (each part described by a layout below):
//   header        sizes, counts, the allocator's state, the table's name
//   buckets       per bucket: a sequence lock (see seqlock.ts) and the first record of its chain
//   records       per record: next in chain, key hash, arena block, size class, key and value length
//   fields        per record: `fields` Float64 cells
//   arena         blocks of key bytes followed by value bytes
//
// Locking: a write takes its bucket's sequence lock; readers of that bucket retry while it is
// odd or moved, so they never see a torn record. Arena blocks and free records are handed out
// under one allocator lock, taken inside a bucket lock (always in that order: no deadlock).
// A block freed by a write in one bucket can be reused by another bucket only after that write
// bumped the first bucket's sequence, so a reader that was looking at it retries.
// A thread that says who it is (the constructor's `holder`) records the lock it holds in the
// header, so that when it dies mid-write the supervisor can release it (releaseLocksOf).
//
// Arena blocks come in size classes a quarter of a power of two apart (16, 24, 32, 40, 48, 56,
// 64, 80, 96 ...), so a block above 32 bytes wastes at most a fifth of itself; each class has a
// free list.
// When the arena's untouched end is used up, a request takes a free block of a larger class.
//
// Hot path: lookups encode the key into a per-instance scratch buffer and hash its bytes, and
// allocate nothing (has, getField, set, lockEntry: no scavenge in 2 million calls). get() copies
// into a buffer the caller owns with a memcpy, for which Node makes one short-lived view of the
// arena. For no copy at all, lock the record (lockEntry), read it through `arena` at
// valueOffset/valueLength (or a Buffer from valueView), unlock.
import { fnv1aBytes } from '../hash.js';
import { decodeBytes, writeUtf8, writeUtf8Short } from '../sip/bytes.js';
import { defineLayout } from './layout.js';
import { seqReadBegin, seqReadRetry, seqWriteLock, seqWriteUnlock } from './seqlock.js';

// Buffer.prototype.copy through a constant (see sip/bytes.ts): a memcpy (Node makes a view of
// the source when copying part of it). It copies from any Uint8Array when called on one.
const bufferCopy = Buffer.prototype.copy as (this: Uint8Array, target: Uint8Array, at: number, start: number, end: number) => number;

const MAGIC = 0x76647368; // "vdsh"
const NAME_BYTES = 48;
const MAX_CLASSES = 128;
/** Threads that can say who they are (ShmTable's `holder`), so that a dead one's lock can be released. */
export const MAX_HOLDERS = 64;
const NONE = -1;

const HEADER = defineLayout({
  magic: 'i32',
  capacity: 'i32',         // records
  buckets: 'i32',          // a power of two
  fields: 'i32',           // Float64 cells per record
  arenaBytes: 'i32',
  maxKeyBytes: 'i32',
  count: 'i32',            // records in use
  fullRecords: 'i32',      // writes refused: no free record
  fullArena: 'i32',        // writes refused: no arena block large enough
  allocLock: 'i32',        // sequence lock of the allocator (records, blocks)
  freeRecord: 'i32',       // first free record, NONE when empty
  recordTop: 'i32',        // records never used start here
  arenaTop: 'i32',         // the untouched arena starts here
  arenaFree: 'i32',        // bytes in the blocks of the free lists
  nameLength: 'i32',
  allocHolder: 'i32',      // holder of the allocator lock, NONE
  holders: ['i32', MAX_HOLDERS], // per holder (thread): the bucket it has locked, NONE
  name: ['u8', NAME_BYTES],
  freeBlock: ['i32', MAX_CLASSES], // per size class: first free block (arena offset), NONE when empty
}, { align: 64 });

const BUCKET = defineLayout({ seq: 'i32', head: 'i32' });
const BUCKET_STRIDE = BUCKET.BYTES >> 2;

const RECORD = defineLayout({
  next: 'i32',        // next record in the chain (or in the free list), NONE at the end
  hash: 'i32',
  block: 'i32',       // arena offset of the block: key bytes, then value bytes
  sizeClass: 'i32',
  keyLength: 'i32',
  valueLength: 'i32',
}, { align: 4 });
const RECORD_STRIDE = RECORD.BYTES >> 2;

/** Bytes one record costs besides its key and value (bucket share at one bucket per record). */
export function overheadBytesPerRecord(fields: number): number {
  return RECORD.BYTES + BUCKET.BYTES + fields * 8;
}

/** The block sizes: 16, 24, then four classes per power of two, every size a multiple of 8. */
function sizeClasses(arenaBytes: number): Int32Array {
  const sizes: number[] = [];
  for (let size = 16; size <= arenaBytes && sizes.length < MAX_CLASSES; ) {
    sizes.push(size);
    size += Math.max(8, 2 ** Math.floor(Math.log2(size)) / 4);
  }
  return Int32Array.from(sizes);
}

export interface ShmTableOptions {
  /** For error messages and listings (at most 48 bytes of it are kept). */
  name: string;
  /** Records the table can hold. */
  capacity: number;
  /** Bytes for keys and values together (blocks are rounded up to their size class). */
  arenaBytes: number;
  /** Float64 cells per record; 0 by default. */
  fields?: number;
  /** Chains; a power of two, by default the one at or above capacity. */
  buckets?: number;
  /** Longest key in bytes (UTF-8); 1024 by default. */
  maxKeyBytes?: number;
}

/** A write found no room: `what` says whether records or arena bytes ran out. */
export class ShmTableFullError extends Error {
  constructor(readonly table: string, readonly what: 'records' | 'arena', detail: string) {
    super(`shared table ${table} is full: ${detail}`);
    this.name = 'ShmTableFullError';
  }
}

export interface ShmTableStats {
  name: string;
  count: number;
  capacity: number;
  arenaBytes: number;
  /** arena bytes in blocks that hold a record (block sizes, not only key + value) */
  arenaUsed: number;
  fullRecords: number;
  fullArena: number;
}

function checkInt(v: number, what: string, min: number, max = 0x7fffffff): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${what} must be an integer in ${min}..${max}: ${v}`);
  return v;
}

function regionOffsets(capacity: number, buckets: number, fields: number) {
  const buckets0 = HEADER.BYTES;
  const records0 = buckets0 + buckets * BUCKET.BYTES;
  const fields0 = Math.ceil((records0 + capacity * RECORD.BYTES) / 8) * 8;
  const arena0 = Math.ceil((fields0 + capacity * fields * 8) / 8) * 8;
  return { buckets0, records0, fields0, arena0 };
}

const SET = 0;      // insert or update
const INSERT = 1;   // only if absent
const UPDATE = 2;   // only if present

export class ShmTable {
  /** Makes the shared memory of an empty table; every thread attaches with `new ShmTable(sab)`. */
  static create(opts: ShmTableOptions): SharedArrayBuffer {
    const capacity = checkInt(opts.capacity, 'capacity', 1, 1 << 26);
    const arenaBytes = checkInt(opts.arenaBytes, 'arenaBytes', 16, 0x7ffffff0);
    const fields = checkInt(opts.fields ?? 0, 'fields', 0, 64);
    const buckets = checkInt(opts.buckets ?? 2 ** Math.ceil(Math.log2(capacity)), 'buckets', 1, 1 << 26);
    if ((buckets & (buckets - 1)) !== 0) throw new RangeError(`buckets must be a power of two: ${buckets}`);
    const maxKeyBytes = checkInt(opts.maxKeyBytes ?? 1024, 'maxKeyBytes', 1, 65536);
    const { arena0 } = regionOffsets(capacity, buckets, fields);
    const total = arena0 + Math.ceil(arenaBytes / 8) * 8;
    if (total > 0x7fffffff) throw new RangeError(`table ${opts.name} would take ${total} bytes (2 GiB at most)`);
    const sab = new SharedArrayBuffer(total);
    const h = new Int32Array(sab, 0, HEADER.BYTES >> 2);
    h[HEADER.capacity] = capacity;
    h[HEADER.buckets] = buckets;
    h[HEADER.fields] = fields;
    h[HEADER.arenaBytes] = Math.ceil(arenaBytes / 8) * 8;
    h[HEADER.maxKeyBytes] = maxKeyBytes;
    h[HEADER.freeRecord] = NONE;
    h[HEADER.nameLength] = writeUtf8(Buffer.from(sab, HEADER.name, NAME_BYTES), opts.name, 0);
    h.fill(NONE, HEADER.freeBlock, HEADER.freeBlock + MAX_CLASSES);
    h.fill(NONE, HEADER.holders, HEADER.holders + MAX_HOLDERS);
    h[HEADER.allocHolder] = NONE;
    const bucketCells = new Int32Array(sab, regionOffsets(capacity, buckets, fields).buckets0, buckets * BUCKET_STRIDE);
    for (let b = 0; b < buckets; b++) bucketCells[b * BUCKET_STRIDE + BUCKET.head] = NONE; // sequences start at 0
    Atomics.store(h, HEADER.magic, MAGIC);
    return sab;
  }

  readonly name: string;
  readonly capacity: number;
  readonly fieldCount: number;
  /** The arena's bytes: with valueOffset/valueLength, a record's value without a copy. */
  readonly arena: Buffer;
  private readonly header: Int32Array;
  private readonly bucketCells: Int32Array;   // BUCKET_STRIDE per bucket
  private readonly recordCells: Int32Array;   // RECORD_STRIDE per record
  private readonly fieldCells: Float64Array;  // fieldCount per record
  private readonly arenaInts: Int32Array;     // free-list links inside free blocks
  private readonly bucketMask: number;
  private readonly classSizes: Int32Array;
  private readonly maxKeyBytes: number;
  // the key of the current call, encoded once: [0, keyLength)
  private readonly keyScratch: Buffer;
  private keyLength = 0;
  private keyHash = 0;
  /** The string key in keyScratch (its hash in keyHash), null after a byte key. */
  private lastKey: string | null = null;
  /** The record the last successful insert/update/set wrote (for lockRecord). */
  lastRecord = NONE;
  /** bucket locked by lockEntry, or NONE */
  private heldBucket = NONE;

  /** This thread's slot in the holders list, or NONE (its locks are not recorded). */
  private readonly holderAt: number;

  /**
   * `holder`: a number for this thread (its row, 0..MAX_HOLDERS-1), unique among the threads
   * using the table. Its locks are then recorded, so that if the thread dies holding one, the
   * supervisor can release it with releaseLocksOf(holder). Without it nothing is recorded.
   */
  constructor(readonly sab: SharedArrayBuffer, holder = NONE) {
    if (holder !== NONE) checkInt(holder, 'holder', 0, MAX_HOLDERS - 1);
    this.header = new Int32Array(sab, 0, HEADER.BYTES >> 2);
    this.holderAt = holder === NONE ? NONE : HEADER.holders + holder;
    if (sab.byteLength < HEADER.BYTES || Atomics.load(this.header, HEADER.magic) !== MAGIC) {
      throw new TypeError('not a shared table (make it with ShmTable.create)');
    }
    const h = this.header;
    this.capacity = h[HEADER.capacity]!;
    this.fieldCount = h[HEADER.fields]!;
    const buckets = h[HEADER.buckets]!;
    this.bucketMask = buckets - 1;
    this.maxKeyBytes = h[HEADER.maxKeyBytes]!;
    this.name = decodeBytes(Buffer.from(sab, HEADER.name, NAME_BYTES), 'utf8', 0, h[HEADER.nameLength]!);
    const o = regionOffsets(this.capacity, buckets, this.fieldCount);
    this.bucketCells = new Int32Array(sab, o.buckets0, buckets * BUCKET_STRIDE);
    this.recordCells = new Int32Array(sab, o.records0, this.capacity * RECORD_STRIDE);
    this.fieldCells = new Float64Array(sab, o.fields0, this.capacity * this.fieldCount);
    const arenaBytes = h[HEADER.arenaBytes]!;
    this.arena = Buffer.from(sab, o.arena0, arenaBytes);
    this.arenaInts = new Int32Array(sab, o.arena0, arenaBytes >> 2);
    this.classSizes = sizeClasses(arenaBytes);
    // room for a key one UTF-8 character longer than allowed, so that too long shows
    this.keyScratch = Buffer.alloc(this.maxKeyBytes + 4);
  }

  // ---------------------------------------------------------------------------------------------
  // Writes

  /** Inserts or replaces; `fields` (optional) sets the record's numbers, others are kept (0 when new). */
  set(key: string | Uint8Array, value: Uint8Array | string, fields?: ArrayLike<number>): void {
    this.write(key, value, fields, SET);
  }

  /** Inserts only if absent: false when the key exists (nothing changed). */
  insert(key: string | Uint8Array, value: Uint8Array | string, fields?: ArrayLike<number>): boolean {
    return this.write(key, value, fields, INSERT);
  }

  /** Replaces only if present: false when the key is absent (nothing changed). */
  update(key: string | Uint8Array, value: Uint8Array | string, fields?: ArrayLike<number>): boolean {
    return this.write(key, value, fields, UPDATE);
  }

  /** Removes the record: false when absent. */
  delete(key: string | Uint8Array): boolean {
    const b = this.bucketOf(key);
    const seqAt = b * BUCKET_STRIDE + BUCKET.seq;
    this.lockBucket(seqAt);
    try {
      const r = this.findInChain(b);
      if (r === NONE) return false;
      this.remove(b, r);
      return true;
    } finally {
      this.unlockBucket(seqAt);
    }
  }

  private write(key: string | Uint8Array, value: Uint8Array | string, fields: ArrayLike<number> | undefined, mode: number): boolean {
    const b = this.bucketOf(key);
    const valueLength = typeof value === 'string' ? Buffer.byteLength(value, 'utf8') : value.length;
    const need = this.keyLength + valueLength;
    const cells = this.bucketCells;
    const seqAt = b * BUCKET_STRIDE + BUCKET.seq;
    const rc = this.recordCells;
    this.lockBucket(seqAt);
    try {
      let r = this.findInChain(b);
      if (r === NONE ? mode === UPDATE : mode === INSERT) return false;
      if (r === NONE) {
        this.allocLock();
        r = this.takeRecord();
        const cls = r === NONE ? NONE : this.takeBlock(need);
        if (cls === NONE && r !== NONE) this.freeRecord(r);
        this.allocUnlock();
        if (r === NONE) this.full('records', `all ${this.capacity} records in use`);
        if (cls === NONE) this.full('arena', `no free block of ${need} bytes (key + value)`);
        const at = r * RECORD_STRIDE;
        rc[at + RECORD.block] = this.takenBlock;
        rc[at + RECORD.sizeClass] = cls;
        rc[at + RECORD.hash] = this.keyHash;
        rc[at + RECORD.keyLength] = this.keyLength;
        bufferCopy.call(this.keyScratch, this.arena, this.takenBlock, 0, this.keyLength);
        this.fieldCells.fill(0, r * this.fieldCount, (r + 1) * this.fieldCount);
        rc[at + RECORD.next] = cells[b * BUCKET_STRIDE + BUCKET.head]!;
        cells[b * BUCKET_STRIDE + BUCKET.head] = r;
        Atomics.add(this.header, HEADER.count, 1);
      } else if (this.classSizes[rc[r * RECORD_STRIDE + RECORD.sizeClass]!]! < need) {
        // the value outgrew its block: move the record to a larger one
        const at = r * RECORD_STRIDE;
        this.allocLock();
        const cls = this.takeBlock(need);
        if (cls !== NONE) this.freeBlock(rc[at + RECORD.block]!, rc[at + RECORD.sizeClass]!);
        this.allocUnlock();
        if (cls === NONE) this.full('arena', `no free block of ${need} bytes (key + value)`);
        rc[at + RECORD.block] = this.takenBlock;
        rc[at + RECORD.sizeClass] = cls;
        bufferCopy.call(this.keyScratch, this.arena, this.takenBlock, 0, this.keyLength);
      }
      const at = r * RECORD_STRIDE;
      const valueAt = rc[at + RECORD.block]! + this.keyLength;
      if (typeof value === 'string') writeUtf8(this.arena, value, valueAt);
      else this.arena.set(value, valueAt); // the whole array: a memcpy without Buffer.copy's view
      rc[at + RECORD.valueLength] = valueLength;
      if (fields !== undefined) this.writeFields(r, fields);
      this.lastRecord = r;
      return true;
    } finally {
      this.unlockBucket(seqAt);
    }
  }

  private writeFields(r: number, fields: ArrayLike<number>): void {
    const n = Math.min(fields.length, this.fieldCount);
    const f0 = r * this.fieldCount;
    for (let k = 0; k < n; k++) this.fieldCells[f0 + k] = fields[k]!;
  }

  private full(what: 'records' | 'arena', detail: string): never {
    Atomics.add(this.header, what === 'records' ? HEADER.fullRecords : HEADER.fullArena, 1);
    throw new ShmTableFullError(this.name, what, detail);
  }

  // ---------------------------------------------------------------------------------------------
  // Reads: consistent copies, no lock taken

  /** Whether the key is present. */
  has(key: string | Uint8Array): boolean {
    const b = this.bucketOf(key);
    const seqAt = b * BUCKET_STRIDE + BUCKET.seq;
    for (;;) {
      const s = seqReadBegin(this.bucketCells, seqAt);
      const r = this.findInChain(b);
      if (!seqReadRetry(this.bucketCells, seqAt, s)) return r !== NONE;
    }
  }

  /**
   * Copies the value into out[at...]: its length, or -1 when absent. `fieldsOut` (optional)
   * receives the record's fields from the same instant. A value longer than the room in `out`
   * is a RangeError (nothing usable was copied).
   */
  get(key: string | Uint8Array, out: Uint8Array, at = 0, fieldsOut?: Float64Array): number {
    const length = this.readInto(this.bucketOf(key), out, at, fieldsOut);
    if (length > out.length - at) throw new RangeError(`value of ${length} bytes does not fit in ${out.length - at}`);
    return length;
  }

  /** A copy of the value in a new Buffer (allocates: not for the per-message path), or undefined. */
  getCopy(key: string | Uint8Array, fieldsOut?: Float64Array): Buffer | undefined {
    const b = this.bucketOf(key);
    for (let out = Buffer.allocUnsafe(256); ; ) {
      const length = this.readInto(b, out, 0, fieldsOut);
      if (length < 0) return undefined;
      if (length <= out.length) return out.subarray(0, length);
      out = Buffer.allocUnsafe(length); // longer than guessed (or it grew meanwhile): again
    }
  }

  /** The value of the scratch key in bucket b copied to out[at...] if it fits: its length, -1 if absent. */
  private readInto(b: number, out: Uint8Array, at: number, fieldsOut: Float64Array | undefined): number {
    const seqAt = b * BUCKET_STRIDE + BUCKET.seq;
    const rc = this.recordCells;
    for (;;) {
      const s = seqReadBegin(this.bucketCells, seqAt);
      const r = this.findInChain(b);
      let length = -1;
      if (r !== NONE) {
        length = rc[r * RECORD_STRIDE + RECORD.valueLength]!;
        const from = rc[r * RECORD_STRIDE + RECORD.block]! + rc[r * RECORD_STRIDE + RECORD.keyLength]!;
        // torn figures are caught by the retry below; only keep the copy in bounds meanwhile
        if (length <= out.length - at && from >= 0 && from + length <= this.arena.length) {
          bufferCopy.call(this.arena, out, at, from, from + length);
        }
        if (fieldsOut !== undefined) this.readFields(r, fieldsOut);
      }
      if (!seqReadRetry(this.bucketCells, seqAt, s)) return length;
    }
  }

  /** The value as a UTF-8 string, or undefined. */
  getString(key: string | Uint8Array): string | undefined {
    return this.getCopy(key)?.toString('utf8');
  }

  /** Field k of the record, or NaN when absent. */
  getField(key: string | Uint8Array, k: number): number {
    const b = this.bucketOf(key);
    const seqAt = b * BUCKET_STRIDE + BUCKET.seq;
    for (;;) {
      const s = seqReadBegin(this.bucketCells, seqAt);
      const r = this.findInChain(b);
      const v = r === NONE || k < 0 || k >= this.fieldCount ? NaN : this.fieldCells[r * this.fieldCount + k]!;
      if (!seqReadRetry(this.bucketCells, seqAt, s)) return v;
    }
  }

  private readFields(r: number, out: Float64Array): void {
    const n = Math.min(out.length, this.fieldCount);
    const f0 = r * this.fieldCount;
    for (let k = 0; k < n; k++) out[k] = this.fieldCells[f0 + k]!;
  }

  // ---------------------------------------------------------------------------------------------
  // A record under its bucket's lock: read and change it in place, no copy

  /**
   * Locks the key's bucket and returns its record (-1 when absent, the lock still held). Until
   * unlockEntry(), the record is this thread's: read its value in `arena` at valueOffset(r) for
   * valueLength(r) bytes (or a view from valueView(r)), read and write its fields. Other
   * threads' reads and writes of that bucket wait: keep it short. One lock at a time per instance.
   */
  lockEntry(key: string | Uint8Array): number {
    if (this.heldBucket !== NONE) throw new Error(`shared table ${this.name}: lockEntry while holding a lock`);
    const b = this.bucketOf(key);
    this.lockBucket(b * BUCKET_STRIDE + BUCKET.seq);
    this.heldBucket = b;
    return this.findInChain(b);
  }

  /**
   * lockEntry for a record whose index the caller remembers (r, from lockEntry or lastRecord):
   * locks its bucket without encoding and hashing the key. Returns r when it still holds `key`
   * (a string key, compared byte by byte in place), else -1 with no lock held (then use
   * lockEntry: a key that is not ASCII always ends here).
   */
  lockRecord(r: number, key: string): number {
    if (this.heldBucket !== NONE) throw new Error(`shared table ${this.name}: lockRecord while holding a lock`);
    if (r < 0 || r >= this.capacity) return NONE;
    const rc = this.recordCells;
    const at = r * RECORD_STRIDE;
    const b = rc[at + RECORD.hash]! & this.bucketMask;
    this.lockBucket(b * BUCKET_STRIDE + BUCKET.seq);
    // under the lock: still in that bucket's chain, with this key
    const kl = key.length;
    let p = this.bucketCells[b * BUCKET_STRIDE + BUCKET.head]!;
    while (p !== NONE && p !== r) p = rc[p * RECORD_STRIDE + RECORD.next]!;
    const block = rc[at + RECORD.block]!;
    if (p === r && rc[at + RECORD.keyLength] === kl && (rc[at + RECORD.hash]! & this.bucketMask) === b) {
      const arena = this.arena;
      let i = 0;
      while (i < kl && arena[block + i] === key.charCodeAt(i)) i++;
      if (i === kl) {
        this.heldBucket = b;
        return r;
      }
    }
    this.unlockBucket(b * BUCKET_STRIDE + BUCKET.seq);
    return NONE;
  }

  /** Removes the record locked by lockEntry/lockRecord, and unlocks. */
  deleteEntry(r: number): void {
    const b = this.heldBucket;
    if (b === NONE) throw new Error(`shared table ${this.name}: deleteEntry without a lock`);
    this.remove(b, r);
    this.unlockEntry();
  }

  /** Record r of bucket b (locked by the caller) out of its chain, its record and block freed. */
  private remove(b: number, r: number): void {
    this.unlink(b, r);
    this.allocLock();
    this.freeBlock(this.recordCells[r * RECORD_STRIDE + RECORD.block]!, this.recordCells[r * RECORD_STRIDE + RECORD.sizeClass]!);
    this.freeRecord(r);
    this.allocUnlock();
    Atomics.sub(this.header, HEADER.count, 1);
  }

  unlockEntry(): void {
    if (this.heldBucket === NONE) return;
    this.unlockBucket(this.heldBucket * BUCKET_STRIDE + BUCKET.seq);
    this.heldBucket = NONE;
  }

  valueOffset(r: number): number {
    return this.recordCells[r * RECORD_STRIDE + RECORD.block]! + this.recordCells[r * RECORD_STRIDE + RECORD.keyLength]!;
  }

  valueLength(r: number): number {
    return this.recordCells[r * RECORD_STRIDE + RECORD.valueLength]!;
  }

  /** The value as a Buffer over the shared memory (no copy; valid while the lock is held). */
  valueView(r: number): Buffer {
    return Buffer.from(this.sab, this.arena.byteOffset + this.valueOffset(r), this.valueLength(r));
  }

  field(r: number, k: number): number {
    return this.fieldCells[r * this.fieldCount + k]!;
  }

  setField(r: number, k: number, v: number): void {
    if (k < 0 || k >= this.fieldCount) throw new RangeError(`field ${k} outside 0..${this.fieldCount - 1}`);
    this.fieldCells[r * this.fieldCount + k] = v;
  }

  // ---------------------------------------------------------------------------------------------
  // Listing and figures

  /**
   * Calls fn for every record with copies of its key, value and fields. Each bucket is locked
   * while its records are copied, not while fn runs; a record changed meanwhile is seen either
   * before or after the change, never torn. Allocates: for listings, not for the message path.
   */
  forEach(fn: (key: string, value: Buffer, fields: Float64Array) => void): void {
    const cells = this.bucketCells;
    const rc = this.recordCells;
    const copies: [string, Buffer, Float64Array][] = [];
    for (let b = 0; b <= this.bucketMask; b++) {
      if (cells[b * BUCKET_STRIDE + BUCKET.head] === NONE) continue; // a racy peek: skips most buckets
      const seqAt = b * BUCKET_STRIDE + BUCKET.seq;
      this.lockBucket(seqAt);
      try {
        for (let r = cells[b * BUCKET_STRIDE + BUCKET.head]!; r !== NONE; r = rc[r * RECORD_STRIDE + RECORD.next]!) {
          const block = rc[r * RECORD_STRIDE + RECORD.block]!;
          const kl = rc[r * RECORD_STRIDE + RECORD.keyLength]!;
          const fields = new Float64Array(this.fieldCount);
          this.readFields(r, fields);
          copies.push([
            decodeBytes(this.arena, 'utf8', block, block + kl),
            Buffer.from(this.arena.subarray(block + kl, block + kl + rc[r * RECORD_STRIDE + RECORD.valueLength]!)),
            fields,
          ]);
        }
      } finally {
        this.unlockBucket(seqAt);
      }
      for (const [k, v, f] of copies) fn(k, v, f);
      copies.length = 0;
    }
  }

  stats(): ShmTableStats {
    const h = this.header;
    return {
      name: this.name,
      count: Atomics.load(h, HEADER.count),
      capacity: this.capacity,
      arenaBytes: this.arena.length,
      arenaUsed: Atomics.load(h, HEADER.arenaTop) - Atomics.load(h, HEADER.arenaFree),
      fullRecords: Atomics.load(h, HEADER.fullRecords),
      fullArena: Atomics.load(h, HEADER.fullArena),
    };
  }

  /**
   * Whether a record of `bytes` (key and value) would likely fit now: a free record, and as many
   * arena bytes untouched or in free blocks. A cheap check without the locks (a writer may take
   * the room meanwhile; free blocks may be too small), to refuse work before it starts.
   */
  hasRoom(bytes: number): boolean {
    const h = this.header;
    if (Atomics.load(h, HEADER.count) >= this.capacity) return false;
    return this.arena.length - Atomics.load(h, HEADER.arenaTop) >= bytes || Atomics.load(h, HEADER.arenaFree) >= bytes;
  }

  /** Bytes in use (core.shmmem): all but the free records and the arena not held by a record. */
  usedBytes(): number {
    const s = this.stats();
    const perRecord = RECORD.BYTES + this.fieldCount * 8;
    return this.sab.byteLength - (s.capacity - s.count) * perRecord - (s.arenaBytes - s.arenaUsed);
  }

  /**
   * Releases the locks a dead thread held (see the constructor's `holder`): what the
   * supervisor calls once the thread has exited, before its successor starts. The write it was
   * doing may be half done (a torn value in that one record, a leaked record or block), but no
   * other thread waits forever. Returns how many locks it released.
   */
  releaseLocksOf(holder: number): number {
    checkInt(holder, 'holder', 0, MAX_HOLDERS - 1);
    const h = this.header;
    let released = 0;
    const seqAt = Atomics.exchange(h, HEADER.holders + holder, NONE);
    if (seqAt !== NONE && (Atomics.load(this.bucketCells, seqAt) & 1) === 1) {
      seqWriteUnlock(this.bucketCells, seqAt);
      released++;
    }
    if (Atomics.compareExchange(h, HEADER.allocHolder, HEADER.holders + holder, NONE) === HEADER.holders + holder) {
      seqWriteUnlock(h, HEADER.allocLock);
      released++;
    }
    return released;
  }

  // ---------------------------------------------------------------------------------------------
  // Keys and chains

  /** Takes a bucket's lock (`seqAt`: its sequence cell), recording it as this thread's. */
  private lockBucket(seqAt: number): void {
    seqWriteLock(this.bucketCells, seqAt);
    if (this.holderAt !== NONE) this.header[this.holderAt] = seqAt;
  }

  private unlockBucket(seqAt: number): void {
    if (this.holderAt !== NONE) this.header[this.holderAt] = NONE;
    seqWriteUnlock(this.bucketCells, seqAt);
  }

  /** Encodes the key into the scratch buffer, hashes it: its bucket. */
  private bucketOf(key: string | Uint8Array): number {
    // its own bucket would wait for itself forever; another could deadlock with another thread
    if (this.heldBucket !== NONE) throw new Error(`shared table ${this.name}: only the locked record's methods until unlockEntry()`);
    const scratch = this.keyScratch;
    let n: number;
    if (typeof key === 'string') {
      // the same key as the previous call (an owner's read-then-write of one record): encoded already
      if (key === this.lastKey) return this.keyHash & this.bucketMask;
      this.lastKey = null;
      n = writeUtf8Short(scratch, key, 0);
    } else {
      this.lastKey = null;
      n = key.length;
      if (n <= this.maxKeyBytes) bufferCopy.call(key, scratch, 0, 0, n);
    }
    if (n > this.maxKeyBytes) throw new RangeError(`shared table ${this.name}: key longer than ${this.maxKeyBytes} bytes`);
    this.keyLength = n;
    this.keyHash = fnv1aBytes(scratch, 0, n) | 0;
    if (typeof key === 'string') this.lastKey = key;
    return this.keyHash & this.bucketMask;
  }

  /**
   * The record of the scratch key in bucket b, or NONE. Safe on a chain a writer is changing
   * (a reader's case: the caller retries): every index is checked and the walk is bounded.
   */
  private findInChain(b: number): number {
    const rc = this.recordCells;
    const arena = this.arena;
    const scratch = this.keyScratch;
    const kl = this.keyLength;
    const hash = this.keyHash;
    let r = this.bucketCells[b * BUCKET_STRIDE + BUCKET.head]!;
    for (let steps = 0; r >= 0 && r < this.capacity && steps < this.capacity; steps++) {
      const at = r * RECORD_STRIDE;
      if (rc[at + RECORD.hash] === hash && rc[at + RECORD.keyLength] === kl) {
        const block = rc[at + RECORD.block]!;
        if (block >= 0 && block + kl <= arena.length) {
          let i = 0;
          while (i < kl && arena[block + i] === scratch[i]) i++;
          if (i === kl) return r;
        }
      }
      r = rc[at + RECORD.next]!;
    }
    return NONE;
  }

  private unlink(b: number, r: number): void {
    const rc = this.recordCells;
    const headAt = b * BUCKET_STRIDE + BUCKET.head;
    const next = rc[r * RECORD_STRIDE + RECORD.next]!;
    if (this.bucketCells[headAt] === r) {
      this.bucketCells[headAt] = next;
      return;
    }
    let p = this.bucketCells[headAt]!;
    while (rc[p * RECORD_STRIDE + RECORD.next] !== r) p = rc[p * RECORD_STRIDE + RECORD.next]!;
    rc[p * RECORD_STRIDE + RECORD.next] = next;
  }

  // ---------------------------------------------------------------------------------------------
  // The allocator (records and arena blocks), under the allocator lock

  private allocLock(): void {
    seqWriteLock(this.header, HEADER.allocLock);
    this.header[HEADER.allocHolder] = this.holderAt;
  }

  private allocUnlock(): void {
    this.header[HEADER.allocHolder] = NONE;
    seqWriteUnlock(this.header, HEADER.allocLock);
  }

  private takeRecord(): number {
    const h = this.header;
    const free = h[HEADER.freeRecord]!;
    if (free !== NONE) {
      h[HEADER.freeRecord] = this.recordCells[free * RECORD_STRIDE + RECORD.next]!;
      return free;
    }
    const top = h[HEADER.recordTop]!;
    if (top >= this.capacity) return NONE;
    h[HEADER.recordTop] = top + 1;
    return top;
  }

  private freeRecord(r: number): void {
    this.recordCells[r * RECORD_STRIDE + RECORD.next] = this.header[HEADER.freeRecord]!;
    this.recordCells[r * RECORD_STRIDE + RECORD.block] = NONE;
    this.header[HEADER.freeRecord] = r;
  }

  /** arena offset of the block takeBlock found */
  private takenBlock = 0;

  /** A block of at least `bytes`: its size class (offset in takenBlock), or NONE. */
  private takeBlock(bytes: number): number {
    const h = this.header;
    const sizes = this.classSizes;
    let cls = 0;
    let hi = sizes.length - 1;
    if (bytes > sizes[hi]!) return NONE;
    while (cls < hi) { // the smallest class that fits
      const mid = (cls + hi) >> 1;
      if (sizes[mid]! >= bytes) hi = mid; else cls = mid + 1;
    }
    const block = h[HEADER.freeBlock + cls]!;
    if (block !== NONE) return this.popFree(cls, block);
    const top = h[HEADER.arenaTop]!;
    if (top + sizes[cls]! <= this.arena.length) {
      h[HEADER.arenaTop] = top + sizes[cls]!;
      this.takenBlock = top;
      return cls;
    }
    for (let c = cls + 1; c < sizes.length; c++) { // the untouched end is used up: a larger free block
      const b = h[HEADER.freeBlock + c]!;
      if (b !== NONE) return this.popFree(c, b);
    }
    return NONE;
  }

  private popFree(cls: number, block: number): number {
    this.header[HEADER.freeBlock + cls] = this.arenaInts[block >> 2]!;
    this.header[HEADER.arenaFree] -= this.classSizes[cls]!;
    this.takenBlock = block;
    return cls;
  }

  private freeBlock(block: number, cls: number): void {
    this.arenaInts[block >> 2] = this.header[HEADER.freeBlock + cls]!;
    this.header[HEADER.freeBlock + cls] = block;
    this.header[HEADER.arenaFree] += this.classSizes[cls]!;
  }
}
