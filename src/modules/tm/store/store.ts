// The shared-memory transaction store (DESIGN.md "Shared memory"): one ShmTable of encoded
// TxRecords (codec.ts) keyed by the transaction's key (tm.ts txKey), made once by the main
// thread. The worker that owns the Call-ID writes a transaction's record; any thread reads it;
// the main thread lists it (tm.list); a restarted worker adopts its predecessor's
// records (adopt) and re-arms its timers from their deadlines.
//
// Numbers a reader needs without decoding (owner, state, deadlines, reply code) are also kept in
// the table's Float64 fields, times on the shared clock (codec.ts). Per-state counts live in a
// small counters region, one row per thread (the writer's row), summed when read: no atomics on
// the write path. A record adopted by another thread stays counted in its creator's row and is
// uncounted in the adopter's when deleted, so the sums stay right.
import { fnv1aBytes } from '../../../core/hash.js';
import { MAX_HOLDERS, overheadBytesPerRecord, ShmTable, ShmTableFullError } from '../../../core/shm/hashtable.js';
import { tableRegion, wholeRegion, type ShmUse } from '../../../core/shm/regions.js';
import { TX_COMPLETED, type TxRecord } from '../record.js';
import { decodeTxRecord, encodedBranches, TmEncoder, TmRecordDecodeError, toShared, writeFixed } from './codec.js';

/** The Float64 fields of a record (ShmTable fields), readable with getField / fields(). */
export const F = {
  OWNER: 0,
  STATE: 1,
  /** created, lifetime and next deadline: shared clock (epoch ms) */
  CREATED: 2,
  LIFETIME: 3,
  /** earliest armed deadline (branch retransmission, final response, wait, lifetime) */
  NEXT_DEADLINE: 4,
  REPLY_CODE: 5,
} as const;
const FIELDS = 6;

/** tm.list's names of TxRecord.state (TX_TRYING ... TX_TERMINATED). */
export const TX_STATE_NAMES = ['trying', 'proceeding', 'completed', 'terminated'] as const;

// counters region: per row, per state the records written minus deleted, then totals
const C_STATES = 0; // 4 cells
const C_CREATED = 4;
const C_FREED = 5;
const C_FULL = 6;
const ROW_CELLS = 8;

/**
 * Module parameters of tm: capacity of the store. The defaults were sized for 2000 calls/s with
 * every INVITE and BYE transaction kept 32 s (2000 x 2 x 32 = 128 000 records); tm now keeps an
 * INVITE only until its final (longer after a negative one) and a non-INVITE only once it is
 * unanswered after T1, so they leave room for calls ringing minutes at that rate. Arena bytes per record,
 * bench/micro/tm-store.ts: a ~1 KB INVITE with its branch and its 200 kept (once: the branch's
 * final is the reply upstream) takes 3152 bytes, its BYE with the 200 1360: mean 2256, default
 * 2304 (about 300 MB of arena for 131072 records; a SharedArrayBuffer's pages are only backed
 * once written).
 */
export const TM_STORE_PARAMS = {
  shm_transactions: { default: 131072, type: 'int' as const, check: (v: string | number) => positive(v, 1 << 24) },
  shm_transaction_bytes: { default: 2304, type: 'int' as const, check: (v: string | number) => positive(v, 1 << 20) },
};

function positive(v: string | number, max: number): string | undefined {
  const n = Number(v);
  return Number.isInteger(n) && n >= 1 && n <= max ? undefined : `must be an integer in 1..${max}`;
}

/** The earliest armed deadline of the record (this thread's clock), 0 when none. */
export function nextDeadline(r: TxRecord): number {
  let d = r.state >= TX_COMPLETED ? r.waitAt : r.endAt;
  for (const b of r.branches) {
    if (b.retrAt > 0 && (d === 0 || b.retrAt < d)) d = b.retrAt;
    if (b.frAt > 0 && (d === 0 || b.frAt < d)) d = b.frAt;
  }
  return d;
}

/** The store's shared memory, made once (main thread) and handed to every thread. */
export interface TmStoreShm {
  table: SharedArrayBuffer;
  counters: SharedArrayBuffer;
}

/** The store is full. tm checks for room before a new INVITE (a 500 when there is none); a write
 *  that finds it full all the same leaves the transaction in its thread only (shm.ts). Counted in counts().full. */
export class TmStoreFullError extends Error {
  constructor(readonly what: 'records' | 'arena', detail: string) {
    super(`transaction store full: ${detail}`);
    this.name = 'TmStoreFullError';
  }
}

export interface TmStoreCounts {
  /** transactions in the store */
  current: number;
  /** of which completed (Kamailio's "waiting": in the wait timer) */
  waiting: number;
  /** per state (TM_STATE order) */
  byState: number[];
  created: number;
  freed: number;
  /** writes refused because the store was full */
  full: number;
}

/** One transaction as tm.list shows it (Kamailio's fields, then ours). */
export interface TmListEntry {
  cell: string;
  tindex: number;
  tlabel: number;
  method: string;
  from: string;
  to: string;
  callid: string;
  cseq: string;
  uas_request: 'yes' | 'no';
  tflags: number;
  outgoings: number;
  ref_count: number;
  /** lifetime deadline, epoch ms (Kamailio: timer ticks) */
  lifetime: number;
  state: string;
  owner: number;
  reply_code: number;
}

export class TmStore {
  /** Makes the shared memory for `transactions` records of `bytesPerTransaction` mean size. */
  static create(transactions: number, bytesPerTransaction: number): TmStoreShm {
    return {
      table: ShmTable.create({ name: 'tm', capacity: transactions, arenaBytes: transactions * bytesPerTransaction, fields: FIELDS }),
      counters: new SharedArrayBuffer(MAX_HOLDERS * ROW_CELLS * 8),
    };
  }

  readonly table: ShmTable;
  private readonly counters: Float64Array;
  private readonly rowAt: number;
  private readonly encoder = new TmEncoder();
  private readonly fieldScratch = new Float64Array(FIELDS);
  private readonly readBuf = Buffer.allocUnsafe(16384);
  /** The arena as numbers: the in-place writes of writeFixed. */
  private readonly arenaView: DataView;

  /** `row`: this thread's counters row (0..63), also its lock holder number in the table. */
  constructor(readonly shm: TmStoreShm, readonly row: number) {
    this.table = new ShmTable(shm.table, row);
    this.counters = new Float64Array(shm.counters);
    this.rowAt = row * ROW_CELLS;
    const a = this.table.arena;
    this.arenaView = new DataView(a.buffer, a.byteOffset, a.length);
  }

  // ---------------------------------------------------------------------------------------------
  // Writes (the owner thread)

  /** Adds a new transaction, owned by this row: false if the key is already there (nothing changed). */
  put(r: TxRecord): boolean {
    if (!this.write(r, true)) return false;
    this.counters[this.rowAt + C_STATES + r.state]!++;
    this.counters[this.rowAt + C_CREATED]!++;
    return true;
  }

  /** Rewrites a transaction (encoded again): false if absent. */
  update(r: TxRecord): boolean {
    const before = this.table.getField(r.key, F.STATE);
    if (Number.isNaN(before) || !this.write(r, false)) return false;
    this.moved(before, r.state);
    return true;
  }

  /**
   * Writes the numbers of the record (state, codes, deadlines, the stored branches' numbers) in
   * place: no encode, no copy. For changes that keep no new bytes (a provisional relayed, a
   * retransmission, a timeout). Branches added since the last put/update are not written (those
   * re-encode). False if absent. `entry`: the record's index from lastEntry (skips hashing the key).
   */
  sync(r: TxRecord, entry = -1): boolean {
    const t = this.table;
    const e = this.lock(r.key, entry);
    if (e < 0) {
      t.unlockEntry();
      return false;
    }
    const before = t.field(e, F.STATE);
    const at = t.valueOffset(e);
    const v = this.arenaView;
    writeFixed(v, at, r, Math.min(encodedBranches(v, at), r.branches.length));
    t.setField(e, F.STATE, r.state);
    t.setField(e, F.REPLY_CODE, r.uasCode);
    t.setField(e, F.NEXT_DEADLINE, toShared(nextDeadline(r)));
    t.unlockEntry();
    this.moved(before, r.state);
    return true;
  }

  private moved(before: number, state: number): void {
    if (before === state) return;
    this.counters[this.rowAt + C_STATES + before]!--;
    this.counters[this.rowAt + C_STATES + state]!++;
  }

  /** The record index of the last put/update, for sync and delete (valid while the record is there). */
  get lastEntry(): number {
    return this.table.lastRecord;
  }

  /** The key's record locked (lockEntry; the lock held even when absent): by its index when given and still it. */
  private lock(key: string, entry: number): number {
    const e = entry >= 0 ? this.table.lockRecord(entry, key) : -1;
    return e >= 0 ? e : this.table.lockEntry(key);
  }

  /** Removes a transaction: false if absent. `entry`: as for sync. One lookup, under the bucket's lock. */
  delete(key: string, entry = -1): boolean {
    const t = this.table;
    const e = this.lock(key, entry);
    if (e < 0) {
      t.unlockEntry();
      return false;
    }
    const state = t.field(e, F.STATE);
    t.deleteEntry(e);
    this.counters[this.rowAt + C_STATES + state]!--;
    this.counters[this.rowAt + C_FREED]!++;
    return true;
  }

  /**
   * Whether a new record of about `bytes` fits (a free record, arena bytes): checked before a
   * transaction is made, so that a full store refuses it before anything is sent. Counts a
   * refusal. A write can still find the store full when other threads filled it meanwhile.
   */
  hasRoom(bytes: number): boolean {
    if (this.table.hasRoom(bytes)) return true;
    this.counters[this.rowAt + C_FULL]!++;
    return false;
  }

  private write(r: TxRecord, insert: boolean): boolean {
    const f = this.fieldScratch;
    f[F.OWNER] = this.row;
    f[F.STATE] = r.state;
    f[F.CREATED] = toShared(r.createdAt);
    f[F.LIFETIME] = toShared(r.endAt);
    f[F.NEXT_DEADLINE] = toShared(nextDeadline(r));
    f[F.REPLY_CODE] = r.uasCode;
    const value = this.encoder.encode(r);
    try {
      return insert ? this.table.insert(r.key, value, f) : this.table.update(r.key, value, f);
    } catch (e) {
      if (!(e instanceof ShmTableFullError)) throw e;
      this.counters[this.rowAt + C_FULL]!++;
      throw new TmStoreFullError(e.what, `${e.message} (module parameters shm_transactions, shm_transaction_bytes)`);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Reads (any thread)

  get(key: string): TxRecord | undefined {
    let n: number;
    try {
      n = this.table.get(key, this.readBuf, 0);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      const copy = this.table.getCopy(key); // larger than readBuf: rare (many branches)
      return copy === undefined ? undefined : decodeTxRecord(key, copy);
    }
    return n < 0 ? undefined : decodeTxRecord(key, this.readBuf, n);
  }

  /** A field of the record without decoding it (F.STATE ...), NaN when absent. */
  field(key: string, k: number): number {
    return this.table.getField(key, k);
  }

  /**
   * Every record (copies), with its owner row. Records that do not decode (a writer killed
   * mid-write) are left out and their keys returned in `damaged`.
   */
  list(filter?: (fields: Float64Array) => boolean): { records: TxRecord[]; owners: number[]; damaged: string[] } {
    const records: TxRecord[] = [];
    const owners: number[] = [];
    const damaged: string[] = [];
    this.table.forEach((key, value, fields) => {
      if (filter !== undefined && !filter(fields)) return;
      try {
        records.push(decodeTxRecord(key, value));
        owners.push(fields[F.OWNER]!);
      } catch (e) {
        if (!(e instanceof TmRecordDecodeError || e instanceof RangeError)) throw e;
        damaged.push(key);
      }
    });
    return { records, owners, damaged };
  }

  /** The records a thread (counters row) owns. */
  listByOwner(row: number): { records: TxRecord[]; damaged: string[] } {
    const { records, damaged } = this.list((f) => f[F.OWNER] === row);
    return { records, damaged };
  }

  /**
   * What a restarted worker calls for its dead predecessor's row (its own, as the watchdog
   * restarts a thread in its row; another row's when a thread takes over): releases a lock it
   * died holding, takes its records over (owner := this row) and returns them, so that the timers
   * can be re-armed from their deadlines. Damaged records are deleted and their keys returned.
   */
  adopt(fromRow: number): { records: TxRecord[]; damaged: string[]; locksReleased: number } {
    const locksReleased = this.table.releaseLocksOf(fromRow);
    const got = { ...this.listByOwner(fromRow), locksReleased };
    if (fromRow !== this.row) {
      for (const r of got.records) {
        const e = this.table.lockEntry(r.key);
        if (e >= 0) this.table.setField(e, F.OWNER, this.row);
        this.table.unlockEntry();
      }
    }
    for (const key of got.damaged) this.delete(key);
    return got;
  }

  /** The INVITE transaction of a Call-ID and CSeq number, and its owner row (tm.cancel); null if none. */
  findInvite(callId: string, cseq: number): { record: TxRecord; owner: number } | null {
    const { records, owners } = this.list();
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      if (r.method !== 'INVITE' || r.callId !== callId) continue;
      const line = headerLine(headerSection(r.request), 'cseq', '');
      if (Number(/:\s*(\d+)/.exec(line)?.[1]) === cseq) return { record: r, owner: owners[i]! };
    }
    return null;
  }

  /** tm.list: Kamailio's fields per transaction, then state, owner and reply code. */
  listForRpc(): TmListEntry[] {
    const { records, owners } = this.list();
    return records.map((r, i) => {
      const head = headerSection(r.request);
      const cseq = headerLine(head, 'cseq', '');
      return {
        cell: r.key.replace(/\n/g, ' '),
        tindex: fnv1aBytes(Buffer.from(r.key), 0, Buffer.byteLength(r.key)) & 0xffff,
        tlabel: 0,
        method: r.method,
        from: headerLine(head, 'from', 'f'),
        to: headerLine(head, 'to', 't'),
        callid: headerLine(head, 'call-id', 'i'),
        cseq: cseq === '' ? '' : `CSeq: ${/:\s*(\d+)/.exec(cseq)?.[1] ?? ''}`,
        uas_request: r.request.length > 0 ? 'yes' : 'no',
        tflags: r.tFlags,
        outgoings: r.branches.length,
        ref_count: 1,
        lifetime: Math.round(toShared(r.endAt)),
        state: TX_STATE_NAMES[r.state] ?? String(r.state),
        owner: owners[i]!,
        reply_code: r.uasCode,
      };
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Figures

  /** Summed over the threads' rows (tm.stats: current, waiting, created, freed). */
  counts(): TmStoreCounts {
    const c = this.counters;
    const byState = [0, 0, 0, 0];
    let created = 0;
    let freed = 0;
    let full = 0;
    for (let row = 0; row < MAX_HOLDERS; row++) {
      const at = row * ROW_CELLS;
      for (let s = 0; s < byState.length; s++) byState[s]! += c[at + C_STATES + s]!;
      created += c[at + C_CREATED]!;
      freed += c[at + C_FREED]!;
      full += c[at + C_FULL]!;
    }
    const waiting = byState[TX_COMPLETED]!;
    return { current: byState.reduce((a, b) => a + b, 0), waiting, byState, created, freed, full };
  }

  /** For core.shmmem (ModuleSetup.shm). */
  regions(): ShmUse[] {
    return [tableRegion(this.table), wholeRegion('tm counters', this.shm.counters)];
  }

  /** Bytes a record of this value length costs in the table (fixed part, key, value, rounding). */
  static bytesPerRecord(keyBytes: number, valueBytes: number): number {
    const need = keyBytes + valueBytes;
    let size = 16;
    while (size < need) size += Math.max(8, 2 ** Math.floor(Math.log2(size)) / 4);
    return overheadBytesPerRecord(FIELDS) + size;
  }

  /** Encoded size of a record (the value stored). */
  encodedBytes(r: TxRecord): number {
    return this.encoder.encode(r).length;
  }
}

/** The request's header section as latin1 text (listing only). */
function headerSection(request: Uint8Array): string {
  const b = Buffer.from(request.buffer, request.byteOffset, request.length);
  const end = b.indexOf('\r\n\r\n');
  return b.toString('latin1', 0, end < 0 ? b.length : end + 2);
}

/** The whole header line (name, value, CRLF) as Kamailio's tm.list prints it, '' when absent. */
function headerLine(head: string, name: string, compact: string): string {
  for (let at = head.indexOf('\r\n') + 2; at > 1 && at < head.length; ) {
    const eol = head.indexOf('\r\n', at);
    const line = head.slice(at, eol < 0 ? head.length : eol + 2);
    const colon = line.indexOf(':');
    const n = line.slice(0, colon).trim().toLowerCase();
    if (colon > 0 && (n === name || (compact !== '' && n === compact))) return line;
    if (eol < 0) break;
    at = eol + 2;
  }
  return '';
}
