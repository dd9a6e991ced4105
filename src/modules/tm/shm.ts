// The durable copy of this thread's transactions (DESIGN.md "Shared memory"): tm.ts keeps the
// live Tx objects in its Maps (the fast lookup) and tells this file at its milestones; the
// shared-memory store (store/store.ts) keeps the record, so that a replacement thread adopts
// them (tm.ts adoptTransactions) and the main thread lists them (tm.list; tm.stats counts from
// the counters). An INVITE is written once relayed and leaves at its 2xx; a non-INVITE is written
// only once unanswered after T1 (tm.ts keepTx).
//
// Writes, cheapest first: sync (the numbers in place: a provisional relayed, a retransmission, a
// timeout), save (encoded again: the branches sent, a final kept for retransmission), drop (the
// transaction freed). Without a store (the main thread's script instance, a unit test) each is
// one null check.
import { L_ERR } from '../../core/log.js';
import type { SipCore } from '../../core/core.js';
import type { Tx } from './tm.js';
import { TmStoreFullError, type TmStore } from './store/store.js';

let store: TmStore | null = null;
let core: SipCore | null = null;
let fullId = 0;

/** This thread's store (null: transactions are kept in the thread only) and the tm:shm_full counter id. */
export function attachStore(s: TmStore | null, c: SipCore, shmFullCounter: number): void {
  store = s;
  core = c;
  fullId = shmFullCounter;
}

/** Bytes a new transaction of this request is expected to take (the request twice: received and sent). */
const expectedBytes = (requestBytes: number): number => 2 * requestBytes + 512;

/**
 * Whether a new transaction fits in the store; when not, it is counted (tm:shm_full) and logged
 * (rate-limited), and the caller answers 500 without making it.
 */
export function roomForTx(requestBytes: number): boolean {
  if (store === null || store.hasRoom(expectedBytes(requestBytes))) return true;
  full('no room for a new transaction');
  return false;
}

function full(detail: string): void {
  core!.counters.inc(fullId);
  core!.log.limited(L_ERR, 'tm:shm_full', `tm: transaction store full: ${detail} (module parameters shm_transactions, shm_transaction_bytes)`);
}

/** The whole record, encoded (put the first time, rewritten after). */
export function saveTx(tx: Tx): void {
  if (store === null) return;
  try {
    if (tx.saved) store.update(tx.rec);
    else tx.saved = store.put(tx.rec) || store.update(tx.rec);
    if (tx.saved) tx.entry = store.lastEntry; // the record's index: sync and drop skip hashing the key
  } catch (e) {
    if (!(e instanceof TmStoreFullError)) throw e;
    // filled by other threads since roomForTx: the transaction goes on, in this thread only
    full(e.message);
  }
}

/** The numbers of the record in place (state, codes, deadlines). */
export function syncTx(tx: Tx): void {
  if (store !== null && tx.saved) store.sync(tx.rec, tx.entry);
}

/** The transaction is freed. */
export function dropTx(tx: Tx): void {
  if (store !== null && tx.saved) {
    tx.saved = false;
    store.delete(tx.rec.key, tx.entry);
  }
}
