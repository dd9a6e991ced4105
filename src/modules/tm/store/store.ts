// The shared-memory transaction store (DESIGN.md "Shared memory"): one ShmTable of encoded
// TmRecords keyed by tmKey(), made once by the main thread. The worker that owns the Call-ID
// writes a transaction's record; any thread reads it; the main thread lists it (tm.list,
// tm.stats); a restarted worker adopts its predecessor's records (adopt) and re-arms its timers
// from their deadlines.
//
// Numbers a reader needs without decoding (owner, state, deadlines, reply code) are also kept in
// the table's Float64 fields. Per-state counts live in a small counters region, one row per
// thread (the writer's row), summed when read: no atomics on the write path. A record adopted
// by another thread stays counted in its creator's row and is uncounted in the adopter's when
// deleted, so the sums stay right.
import { fnv1aBytes } from '../../../core/hash.js';
import { MAX_HOLDERS, overheadBytesPerRecord, ShmTable, ShmTableFullError } from '../../../core/shm/hashtable.js';
import { tableRegion, wholeRegion, type ShmUse } from '../../../core/shm/regions.js';
import { decodeTmRecord, OFF_REPLY_CODE, OFF_STATE, TmEncoder, TmRecordDecodeError } from './codec.js';
import { nextDeadline, TM_STATE, TM_STATE_NAMES, type TmRecord } from './record.js';

/** The Float64 fields of a record (ShmTable fields), readable with getField / fields(). */
export const F = {
  OWNER: 0,
  STATE: 1,
  CREATED: 2,
  LIFETIME: 3,
  /** earliest armed deadline (branch retransmission, final response, lifetime) */
  NEXT_DEADLINE: 4,
  REPLY_CODE: 5,
} as const;
const FIELDS = 6;

// counters region: per row, per state the records written minus deleted, then totals
const C_STATES = 0; // 5 cells
const C_CREATED = 5;
const C_FREED = 6;
const C_FULL = 7;
const ROW_CELLS = 8;

/**
 * Module parameters (tm's, see docs in tm/README when wired): capacity of the store.
 * Defaults fit 2000 calls/s with every INVITE and BYE transaction kept 32 s after it completes
 * (timers D and J): 2000 x 2 x 32 = 128 000 records. Arena bytes per record, measured by
 * bench/micro/tm-store.ts: a ~1 KB INVITE with its branch and its 180 takes a 3072-byte block,
 * a BYE with its 200 a 1280-byte one: mean 2176, default 2304 (about 300 MB of arena for
 * 131072 records; a SharedArrayBuffer's pages are only backed once written).
 */
export const TM_STORE_PARAMS = {
  shm_transactions: { default: 131072, type: 'int' as const, check: (v: string | number) => positive(v, 1 << 24) },
  shm_transaction_bytes: { default: 2304, type: 'int' as const, check: (v: string | number) => positive(v, 1 << 20) },
};

function positive(v: string | number, max: number): string | undefined {
  return Number.isInteger(v) && (v as number) >= 1 && (v as number) <= max ? undefined : `must be an integer in 1..${max}`;
}

/** The store's shared memory, made once (main thread) and handed to every thread. */
export interface TmStoreShm {
  table: SharedArrayBuffer;
  counters: SharedArrayBuffer;
}

/** The store is full: the tm logic answers 500. Counted in counts().full. */
export class TmStoreFullError extends Error {
  constructor(readonly what: 'records' | 'arena', detail: string) {
    super(`transaction store full: ${detail}`);
    this.name = 'TmStoreFullError';
  }
}

export interface TmStoreCounts {
  /** transactions in the store */
  current: number;
  /** of which completed, confirmed or terminated (Kamailio's "waiting": in the wait timer) */
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
  /** lifetime deadline, Date.now() ms (Kamailio: timer ticks) */
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

  /** `row`: this thread's counters row (0..63), also its lock holder number in the table. */
  constructor(readonly shm: TmStoreShm, readonly row: number) {
    this.table = new ShmTable(shm.table, row);
    this.counters = new Float64Array(shm.counters);
    this.rowAt = row * ROW_CELLS;
  }

  // ---------------------------------------------------------------------------------------------
  // Writes (the owner thread)

  /** Adds a new transaction: false if the key is already there (nothing changed). */
  put(r: TmRecord): boolean {
    if (!this.write(r, true)) return false;
    this.counters[this.rowAt + C_STATES + r.state]!++;
    this.counters[this.rowAt + C_CREATED]!++;
    return true;
  }

  /** Rewrites a transaction: false if absent. */
  update(r: TmRecord): boolean {
    const before = this.table.getField(r.key, F.STATE);
    if (Number.isNaN(before) || !this.write(r, false)) return false;
    if (before !== r.state) {
      this.counters[this.rowAt + C_STATES + before]!--;
      this.counters[this.rowAt + C_STATES + r.state]!++;
    }
    return true;
  }

  /**
   * Changes only the state and reply code, in place (no encode, no copy): for transitions that
   * store no new bytes (a 100 or 180 relayed while the reply kept is unchanged, a final state).
   * The record must have been put; false if absent. Keep `r` in step: this writes what r says.
   */
  updateState(r: TmRecord): boolean {
    const t = this.table;
    const e = t.lockEntry(r.key);
    if (e < 0) {
      t.unlockEntry();
      return false;
    }
    const before = t.field(e, F.STATE);
    const at = t.valueOffset(e);
    t.arena[at + OFF_STATE] = r.state;
    t.arena[at + OFF_REPLY_CODE] = r.replyCode & 0xff;
    t.arena[at + OFF_REPLY_CODE + 1] = r.replyCode >>> 8;
    t.setField(e, F.STATE, r.state);
    t.setField(e, F.REPLY_CODE, r.replyCode);
    t.unlockEntry();
    if (before !== r.state) {
      this.counters[this.rowAt + C_STATES + before]!--;
      this.counters[this.rowAt + C_STATES + r.state]!++;
    }
    return true;
  }

  /** Removes a transaction: false if absent. */
  delete(key: string): boolean {
    const state = this.table.getField(key, F.STATE);
    if (Number.isNaN(state) || !this.table.delete(key)) return false;
    this.counters[this.rowAt + C_STATES + state]!--;
    this.counters[this.rowAt + C_FREED]!++;
    return true;
  }

  private write(r: TmRecord, insert: boolean): boolean {
    const f = this.fieldScratch;
    f[F.OWNER] = r.owner;
    f[F.STATE] = r.state;
    f[F.CREATED] = r.created;
    f[F.LIFETIME] = r.lifetimeDeadline;
    f[F.NEXT_DEADLINE] = nextDeadline(r);
    f[F.REPLY_CODE] = r.replyCode;
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

  get(key: string): TmRecord | undefined {
    let n: number;
    try {
      n = this.table.get(key, this.readBuf, 0);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      const copy = this.table.getCopy(key); // larger than readBuf: rare (many branches)
      return copy === undefined ? undefined : decodeTmRecord(key, copy);
    }
    return n < 0 ? undefined : decodeTmRecord(key, this.readBuf, n);
  }

  has(key: string): boolean {
    return this.table.has(key);
  }

  /** A field of the record without decoding it (F.STATE ...), NaN when absent. */
  field(key: string, k: number): number {
    return this.table.getField(key, k);
  }

  /**
   * Every record (copies). Records that do not decode (a writer killed mid-write) are left out
   * and their keys returned in `damaged`.
   */
  list(filter?: (fields: Float64Array) => boolean): { records: TmRecord[]; damaged: string[] } {
    const records: TmRecord[] = [];
    const damaged: string[] = [];
    this.table.forEach((key, value, fields) => {
      if (filter !== undefined && !filter(fields)) return;
      try {
        records.push(decodeTmRecord(key, value));
      } catch (e) {
        if (!(e instanceof TmRecordDecodeError || e instanceof RangeError)) throw e;
        damaged.push(key);
      }
    });
    return { records, damaged };
  }

  /** The records a thread (counters row) owns. */
  listByOwner(row: number): { records: TmRecord[]; damaged: string[] } {
    return this.list((f) => f[F.OWNER] === row);
  }

  /**
   * What a restarted worker calls for its dead predecessor's row: releases a lock it died
   * holding, takes its records over (owner := this row) and returns them, so that the timers can
   * be re-armed from their deadlines. Damaged records are deleted and their keys returned.
   */
  adopt(fromRow: number): { records: TmRecord[]; damaged: string[]; locksReleased: number } {
    const locksReleased = this.table.releaseLocksOf(fromRow);
    const got = { ...this.listByOwner(fromRow), locksReleased };
    for (const r of got.records) {
      r.owner = this.row;
      this.update(r);
    }
    for (const key of got.damaged) this.delete(key);
    return got;
  }

  /** tm.list: Kamailio's fields per transaction, then state, owner and reply code. */
  listForRpc(): TmListEntry[] {
    return this.list().records.map((r) => {
      const head = headerSection(r.request);
      const cseq = headerLine(head, 'cseq', '');
      return {
        cell: r.key,
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
        lifetime: r.lifetimeDeadline,
        state: TM_STATE_NAMES[r.state] ?? String(r.state),
        owner: r.owner,
        reply_code: r.replyCode,
      };
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Figures

  /** Summed over the threads' rows (tm.stats: current, waiting, created, freed). */
  counts(): TmStoreCounts {
    const c = this.counters;
    const byState = [0, 0, 0, 0, 0];
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
    const waiting = byState[TM_STATE.COMPLETED]! + byState[TM_STATE.CONFIRMED]! + byState[TM_STATE.TERMINATED]!;
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
  encodedBytes(r: TmRecord): number {
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
