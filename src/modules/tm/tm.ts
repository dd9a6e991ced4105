// tm's engine: the server transactions of this SIP thread and their client branches (RFC 3261
// 16 and 17). The receiver shards by Call-ID, so every message of a transaction (requests,
// replies, CANCEL, ACK) reaches the thread that owns it: plain Maps, no locks. The record of a
// transaction is record.ts's TxRecord; what only this thread needs (timer handles, the parsed
// stored request) sits beside it in Tx.
import { performance } from 'node:perf_hooks';
import { MsgContext } from '../../core/context.js';
import type { SipCore } from '../../core/core.js';
import { fnv1aRange } from '../../core/hash.js';
import { errorLine, L_ERR } from '../../core/log.js';
import type { Lump } from '../../core/lumps.js';
import { HDR } from '../../core/sip/headers.js';
import type { SipMessage } from '../../core/sip/message.js';
import { METHOD_ACK, METHOD_CANCEL, METHOD_INVITE } from '../../core/sip/methods.js';
import { ownString } from '../../core/sip/bytes.js';
import { parseMessage } from '../../core/sip/parser.js';
import { C } from '../../core/stats/counters.js';
import type { TimerHandle, TimerWheel } from '../../core/timer/wheel.js';
import { replyPort } from '../../core/via.js';
import { ROUTE } from '../module.js';
import { buildReply, sendStatelessReply } from '../sl/reply.js';
import {
  BR_CALLING, BR_COMPLETED, BR_PROCEEDING, CANCEL_NONE, CANCEL_PENDING, CANCEL_SENT,
  TX_COMPLETED, TX_PROCEEDING, TX_TERMINATED, TX_TRYING, T_AUTO_100, T_DISABLE_INTERNAL_REPLY, T_NO_AUTO_100,
  type BranchRecord, type TxRecord,
} from './record.js';
import { dropTx, roomForTx, saveTx, syncTx } from './shm.js';
import { keptCopy, keptLumps } from './slab.js';

/** Module parameters, as numbers (ms for the timers). */
export interface TmParams {
  fr_timer: number;
  fr_inv_timer: number;
  max_inv_lifetime: number;
  max_noninv_lifetime: number;
  wt_timer: number;
  retr_timer1: number;
  retr_timer2: number;
  restart_fr_on_each_reply: number;
  auto_inv_100: number;
  failure_reply_mode: number;
  cancel_b_method: number;
}

/** t_relay_to_flags bits (Kamailio's). */
export const F_NO_100 = 1;
export const F_NO_ERROR_REPLY = 2;

/** Counter ids of tm's statistics (index.ts registers them). */
export interface TmCounters {
  created: number; freed: number; waiting: number; rpl_received: number; rpl_generated: number; rpl_sent: number;
  c2xx: number; c3xx: number; c4xx: number; c5xx: number; c6xx: number;
  /** requests a branch resent on timer A/E; retransmitted requests absorbed; branches ended by fr_timer */
  retr_sent: number; retr_received: number; timeouts: number;
  /** local replies by class: 1xx ... 6xx */
  local: readonly number[];
}

/** A client branch at run time: its record, its transaction and its timers (the timers' argument). */
export interface Branch {
  tx: Tx;
  idx: number;
  rec: BranchRecord;
  /** Its place in `slots` (named in its Via branch), -1 for an adopted one (in `adopted`). */
  slot: number;
  retr: TimerHandle;
  fr: TimerHandle;
  /** Timer E of the CANCEL sent to this branch. */
  cancelRetr: TimerHandle;
}

export interface Tx {
  rec: TxRecord;
  branches: Branch[];
  wait: TimerHandle;
  /** Timer G of a negative final sent upstream, and H at its deadline (RFC 3261 17.2.1). */
  uasRetr: TimerHandle;
  /** The stored request as a message context (failure routes, local replies), made on first use. */
  stored: MsgContext | null;
  /** Whether the shared-memory store holds its record (shm.ts). */
  saved: boolean;
  /** Its record's index in the store once saved, -1 when not known (shm.ts: checked before use). */
  entry: number;
  /** Its count in keyFilter (-1: an RFC 2543 key, not counted). */
  kb: number;
}

/**
 * Armed routes, timers and switches set before the transaction exists (t_on_reply, t_set_retr,
 * t_set_auto_inv_100 ... before t_relay); the same names as TxRecord's. lifeInv/lifeNoninv:
 * t_set_max_lifetime's values (0: the module's), TxRecord.endAt once the transaction exists.
 */
interface Pending {
  onReply: string; onFailure: string; onBranch: string; onBranchFailure: string;
  frTimer: number; frInvTimer: number; tFlags: number; retr1: number; retr2: number;
  lifeInv: number; lifeNoninv: number;
}

// ---------------------------------------------------------------- thread state

let core: SipCore;
let wheel: TimerWheel;
let P: TmParams;
let K: TmCounters;
const byKey = new Map<string, Tx>();

// Most requests requestHook looks up are new (an INVITE, the ACK of a 2xx, a BYE): a miss, which
// in a Map of 20-40k keys costs the key's concatenation and hashing and several cache misses.
// A counting filter on the Via branch answers most of them with one read; a non-zero count still
// asks the Map. Counts saturate (never wrong, only slower).
const KF_BITS = 18;
const KF_MASK = (1 << KF_BITS) - 1;
const keyFilter = new Uint16Array(1 << KF_BITS);

/**
 * The filter bucket of a RFC 3261 branch s[0, end) (after the magic cookie): all of it, or its
 * first and last 32 characters when longer (UAs vary the start or the end: a counter, a random part).
 */
function kfBucket(s: string, end: number): number {
  const mid = end > 71 ? 39 : end;
  const h = fnv1aRange(s, mid > end - 32 ? mid : end - 32, end, fnv1aRange(s, 7, mid, 0x811c9dc5 ^ end));
  return (h ^ (h >>> KF_BITS)) & KF_MASK;
}

/** The bucket of a transaction key (its branch is the part before the first newline), -1 for a RFC 2543 one. */
function kfOfKey(key: string): number {
  return key.startsWith('z9hG4bK') ? kfBucket(key, key.indexOf('\n')) : -1;
}

function kfAdd(kb: number): void {
  if (kb >= 0 && keyFilter[kb] !== 0xffff) keyFilter[kb]++;
}

function kfRemove(kb: number): void {
  if (kb >= 0 && keyFilter[kb] !== 0xffff) keyFilter[kb]--;
}
// Our client branches: the Via branch we send names a slot (branchSlotOf), so a reply finds its
// branch with one array read and a string compare instead of a lookup in a Map of 20-40k entries
// (every transaction waits wt_timer) that misses the cache. Branches adopted after a restart carry
// their predecessor's slot numbers: a Map of their own.
const slots: (Branch | undefined)[] = [];
/** Each slot's branch string, beside it: a reply for another branch is told without touching the Branch. */
const slotBranch: string[] = [];
const freeSlots: number[] = [];
let branchCount = 0;
const adopted = new Map<string, Branch>();

/** The transaction of the message being routed (t_newtran/t_relay made it, or the route runs for it). */
let curMsg: SipMessage | null = null;
let curTx: Tx | null = null;
let pending: Pending | null = null;
/** What $T_reply_code, $T_branch_idx and friends read in the route running now. */
export const current = { code: 0, reason: '', branch: -1 };

export function initThread(c: SipCore, w: TimerWheel, params: TmParams, counters: TmCounters): void {
  core = c;
  wheel = w;
  P = params;
  K = counters;
}

export function txCount(): number {
  return byKey.size;
}

// ---------------------------------------------------------------- keys

const INVITE_KEY = 'INVITE';

/** RFC 3261 17.2.3 (and the RFC 2543 fallback): the server transaction a request belongs to. */
export function txKey(msg: SipMessage, method: string): string {
  if (msg === keyMsg && method === keyMethodOf) return lastKey;
  const v = msg.topVia();
  const b = v.branch;
  const key = b !== undefined && b.startsWith('z9hG4bK') ? `${b}\n${v.host}:${v.port || 5060}\n${method}`
    : `2543\n${msg.callId()}\n${msg.from().tag ?? ''}\n${msg.cseq().num}\n${v.host}:${v.port || 5060}\n${b ?? ''}\n${method}`;
  keyMsg = msg;
  keyMethodOf = method;
  lastKey = key;
  return key;
}

// requestHook, txOf and newTransaction ask for the same message's key: made once, and the Maps
// find it hashed already. A message that requestHook looked up in vain (a new request) is not
// looked up again by txOf until a transaction is added (lookups in a large Map miss the cache).
let keyMsg: SipMessage | null = null;
let keyMethodOf = '';
let lastKey = '';
let missMsg: SipMessage | null = null;

const keyMethod = (msg: SipMessage): string => (msg.methodId === METHOD_ACK ? INVITE_KEY : msg.method);

/** The transaction of the current message, if t_newtran/t_relay made one or a route runs for it. */
export function txOf(ctx: MsgContext): Tx | null {
  if (curMsg === ctx.msg) return curTx;
  if (!ctx.msg.isRequest || byKey.size === 0 || ctx.msg === missMsg) return null;
  const tx = byKey.get(txKey(ctx.msg, keyMethod(ctx.msg))) ?? null;
  if (tx) setCurrent(ctx.msg, tx);
  return tx;
}

function setCurrent(msg: SipMessage, tx: Tx | null): void {
  if (curMsg !== msg) pending = null;
  curMsg = msg;
  curTx = tx;
}

/** The armed routes of the current message: its transaction's, else the ones waiting for it. */
export function armed(ctx: MsgContext): Pending | TxRecord {
  const tx = txOf(ctx);
  if (tx) return tx.rec;
  if (curMsg !== ctx.msg) setCurrent(ctx.msg, null);
  return (pending ??= {
    onReply: '', onFailure: '', onBranch: '', onBranchFailure: '', frTimer: P.fr_timer, frInvTimer: P.fr_inv_timer,
    tFlags: 0, retr1: P.retr_timer1, retr2: P.retr_timer2, lifeInv: 0, lifeNoninv: 0,
  });
}

// ---------------------------------------------------------------- core hooks

/**
 * Before the script: a retransmitted request gets the last reply again, an ACK for a negative
 * final of ours ends here (RFC 3261 17.2.1), and neither reaches the script. Kamailio leaves
 * this to t_check_trans()/t_relay() in the script; viaduct absorbs them before it (DESIGN.md).
 */
export function requestHook(ctx: MsgContext): boolean {
  if (byKey.size === 0) return false;
  const msg = ctx.msg;
  const b = msg.topVia().branch;
  if (b !== undefined && b.startsWith('z9hG4bK') && keyFilter[kfBucket(b, b.length)] === 0) {
    missMsg = msg;
    return false;
  }
  const tx = byKey.get(txKey(msg, keyMethod(msg)));
  if (tx === undefined) {
    missMsg = msg;
    return false;
  }
  if (msg.methodId === METHOD_ACK) {
    if (tx.rec.uasCode < 300) return false; // the ACK of a 2xx has a branch of its own: not seen here
    if (tx.rec.uasRetrEndAt !== 0) endTimerG(tx); // the ACK ends timer G
    return true;
  }
  core.counters.inc(K.retr_received);
  if (tx.rec.lastReply !== null) sendUpstream(tx, tx.rec.lastReply);
  return true;
}

/** A reply to one of our branches: run its routes, relay, ACK, pick the best final. */
export function replyHook(ctx: MsgContext): boolean {
  if (branchCount === 0) return false;
  const msg = ctx.msg;
  const br = branchByVia(msg.topVia().branch);
  if (br === undefined) return false;
  const cseq = msg.cseq();
  if (cseq.methodId === METHOD_CANCEL) {
    // the reply to our CANCEL (hop by hop) ends its retransmissions; Kamailio stops them on a 1xx too
    wheel.cancel(br.cancelRetr);
    br.rec.cancelRetrAt = 0;
    return true;
  }
  if (cseq.method !== br.tx.rec.method) return false;
  onBranchReply(ctx, br);
  return true;
}

// ---------------------------------------------------------------- transactions

/** t_newtran: the transaction of the current request, made if it is new. */
export function newTransaction(ctx: MsgContext): Tx | null {
  const msg = ctx.msg;
  if (!msg.isRequest || msg.methodId === METHOD_ACK) return null;
  const have = txOf(ctx);
  if (have) return have;
  // kept for the transaction's life (seconds): copies that do not hold the message's text
  const key = ownString(txKey(msg, msg.method));
  if (msg.methodId === METHOD_INVITE && !roomForTx(msg.bodyStart + msg.bodyLength)) {
    // the store is full: no transaction, an error reply without one (counted in tm:shm_full);
    // a non-INVITE is written only after T1 (keepTx), when saveTx counts a full store itself
    sendStatelessReply(ctx, 500, 'Server Internal Error');
    return null;
  }
  const now = performance.now();
  const pend = curMsg === msg ? pending : null;
  const rec: TxRecord = {
    key,
    method: msg.method,
    methodId: msg.methodId,
    callId: ownString(msg.callId()),
    state: TX_TRYING,
    request: keptCopy(msg.buf, msg.bodyStart + msg.bodyLength),
    srcIp: ctx.srcIp,
    srcPort: ctx.srcPort,
    sock: ctx.sock.index,
    replyHost: ctx.srcIp,
    replyPort: replyPort(ctx),
    ruri: ctx.ruri,
    rr: ctx.rr,
    rrParams: ctx.rrParams,
    lumps: NO_LUMPS,
    maxfwdDone: false,
    uasCode: 0,
    lastReply: null,
    branches: [],
    onReply: pend?.onReply ?? '',
    onFailure: pend?.onFailure ?? '',
    onBranch: pend?.onBranch ?? '',
    onBranchFailure: pend?.onBranchFailure ?? '',
    flags: ctx.flags,
    tFlags: pend?.tFlags ?? 0,
    avps: ctx.avps,
    xavps: ctx.xavps,
    frTimer: pend?.frTimer ?? P.fr_timer,
    frInvTimer: pend?.frInvTimer ?? P.fr_inv_timer,
    retr1: pend?.retr1 ?? P.retr_timer1,
    retr2: pend?.retr2 ?? P.retr_timer2,
    uasRetrAt: 0,
    uasRetrInterval: 0,
    uasRetrEndAt: 0,
    endAt: now + (msg.methodId === METHOD_INVITE ? (pend?.lifeInv || P.max_inv_lifetime) : (pend?.lifeNoninv || P.max_noninv_lifetime)),
    waitAt: 0,
    canceled: false,
    createdAt: now,
  };
  const tx: Tx = { rec, branches: [], wait: 0, uasRetr: 0, stored: null, saved: false, entry: -1, kb: kfOfKey(key) };
  kfAdd(tx.kb);
  ctx.avpHolder = rec; // an AVP set later in the route still belongs to the transaction
  byKey.set(key, tx);
  missMsg = null;
  setCurrent(msg, tx);
  core.counters.inc(K.created);
  return tx;
}

const NO_LUMPS: Lump[] = [];

/**
 * Kamailio's save_msg_lumps at the first t_relay of the request route: the header edits made so
 * far go with the stored request, and every failure route starts from them.
 */
function saveRequestEdits(r: TxRecord, ctx: MsgContext): void {
  const list = ctx.lumps.list;
  r.lumps = list.length === 0 ? NO_LUMPS : list.slice();
  r.maxfwdDone = ctx.maxfwdDone;
}

/** The stored request as the current message of a route or a local reply. */
function storedCtx(tx: Tx): MsgContext {
  if (tx.stored) return tx.stored;
  const r = tx.rec;
  const ctx = withRecord(requestCtx(r), r);
  ctx.rr = r.rr;
  ctx.rrParams = r.rrParams;
  tx.stored = ctx;
  return ctx;
}

/** The transaction's request as received, parsed into a context of its own. */
function requestCtx(r: TxRecord): MsgContext {
  const ctx = new MsgContext(core);
  ctx.reset(parseMessage(r.request), r.srcIp, r.srcPort, core.sockets[r.sock]!);
  return ctx;
}

/** What the request route recorded in the transaction: R-URI, flags, AVPs, XAVPs. */
function withRecord(ctx: MsgContext, r: TxRecord): MsgContext {
  ctx.ruri = r.ruri;
  ctx.ruriParsed = null;
  ctx.flags = r.flags;
  ctx.avps = r.avps;
  ctx.xavps = r.xavps;
  ctx.avpHolder = r;
  return ctx;
}

/** Sends bytes upstream (to the request's sender, RFC 3261 18.2.2). */
function sendUpstream(tx: Tx, bytes: Buffer): void {
  core.transport.send(tx.rec.sock, bytes, tx.rec.replyPort, tx.rec.replyHost);
  core.counters.inc(K.rpl_sent);
}

function countFinal(code: number): void {
  const k = K;
  const id = code < 300 ? k.c2xx : code < 400 ? k.c3xx : code < 500 ? k.c4xx : code < 600 ? k.c5xx : k.c6xx;
  core.counters.inc(id);
}

/** A reply we make ourselves (100 Trying, t_reply, the 408 of a timeout), sent upstream and kept. */
export function localReply(tx: Tx, code: number, reason: string, ctx?: MsgContext): number {
  const r = tx.rec;
  if (r.uasCode >= 200) return -1; // a final went upstream already
  const out = buildReply(ctx ?? storedCtx(tx), code, reason, null);
  if (out === null) return -1;
  core.counters.inc(K.rpl_generated);
  core.counters.inc(K.local[((code / 100) | 0) - 1]!); // buildReply took 100-699 only
  uasSent(tx, code, out);
  return 1;
}

/** A reply went (or goes) upstream: the transaction's state follows. */
function uasSent(tx: Tx, code: number, out: Buffer): void {
  const r = tx.rec;
  r.uasCode = code;
  r.lastReply = out;
  sendUpstream(tx, out);
  if (code < 200) {
    r.state = TX_PROCEEDING;
    syncTx(tx);
    return;
  }
  countFinal(code);
  completeTx(tx);
  // A negative or non-INVITE final is kept for retransmitted requests (re-encoded). After a 2xx
  // an INVITE server transaction is over (RFC 3261 17.2.1: the UAS retransmits its 2xx, end to
  // end): its record leaves the store now rather than after wt_timer, so the store holds the calls
  // in progress only and its blocks stay warm in the cache (relay bench: ~40 µs per call less).
  if (code < 300 && r.methodId === METHOD_INVITE) dropTx(tx);
  else keepTx(tx);
}

/**
 * Told once when a transaction ends: its final went upstream (rec.uasCode), or it was freed
 * without one (uasCode < 200). For modules that hold something per call until the INVITE's
 * outcome is known (dispatcher's call load, as Kamailio's dialog DLGCB_FAILED); a listener
 * must not throw nor touch the transaction.
 */
export type TxEndListener = (rec: TxRecord) => void;
const txEndListeners: TxEndListener[] = [];

export function onTxEnd(fn: TxEndListener): void {
  if (!txEndListeners.includes(fn)) txEndListeners.push(fn);
}

function txEnded(r: TxRecord): void {
  for (let i = 0; i < txEndListeners.length; i++) txEndListeners[i]!(r);
}

/** A final went upstream: pending branches are cancelled, the record waits wt_timer, then goes. */
function completeTx(tx: Tx): void {
  const r = tx.rec;
  if (r.state >= TX_COMPLETED) return;
  r.state = TX_COMPLETED;
  txEnded(r);
  for (const b of tx.branches) if (b.rec.state !== BR_COMPLETED) cancelBranch(b);
  if (startTimerG(tx)) return; // a negative final to an INVITE waits for its ACK first
  putOnWait(tx);
}

/** The wait timer (wt_timer): retransmissions are still absorbed, then the record goes. */
function putOnWait(tx: Tx): void {
  tx.rec.waitAt = performance.now() + P.wt_timer;
  tx.wait = wheel.schedule(onWaitTimer, tx, P.wt_timer);
  core.counters.inc(K.waiting);
}

/**
 * Timer G (RFC 3261 17.2.1): a negative final to an INVITE (ours or relayed, as Kamailio's
 * start_final_repl_retr) goes upstream again from T1, doubling up to T2, until the ACK (UDP: the
 * only transport). Timer H (64*T1) gives up. Kamailio 5.6 puts the transaction on wait as the
 * final goes out (set_final_timer), so its copies end with wt_timer (5 s: three of them; measured);
 * the RFC's 64*T1 is kept here. A 2xx is the UAS's to retransmit, end to end.
 */
function startTimerG(tx: Tx): boolean {
  const r = tx.rec;
  if (r.methodId !== METHOD_INVITE || r.uasCode < 300 || r.lastReply === null) return false;
  const now = performance.now();
  r.uasRetrInterval = r.retr1;
  r.uasRetrAt = now + r.retr1;
  r.uasRetrEndAt = now + 64 * r.retr1;
  tx.uasRetr = wheel.schedule(onTimerG, tx, r.retr1);
  return true;
}

/** Timer G, and H when its deadline has come (one wheel entry for both: half the cost). */
function onTimerG(tx: Tx): void {
  const r = tx.rec;
  if (r.uasRetrAt === 0 || r.lastReply === null) return;
  const now = performance.now();
  if (now >= r.uasRetrEndAt) {
    endTimerG(tx);
    return;
  }
  // a retransmission, not a reply sent: rpl_sent is not counted (Kamailio's t_retransmit_reply)
  core.transport.send(r.sock, r.lastReply, r.replyPort, r.replyHost);
  core.counters.inc(K.retr_sent);
  const next = Math.min(r.uasRetrInterval * 2, r.retr2);
  r.uasRetrInterval = next;
  r.uasRetrAt = now + next;
  tx.uasRetr = wheel.schedule(onTimerG, tx, Math.min(next, r.uasRetrEndAt - now));
}

/** Timer H (no ACK), or the ACK came: no more retransmissions, the wait timer. */
function endTimerG(tx: Tx): void {
  stopTimerG(tx);
  putOnWait(tx);
  syncTx(tx); // a thread adopting it must not start timer G again
}

function stopTimerG(tx: Tx): void {
  wheel.cancel(tx.uasRetr);
  tx.rec.uasRetrAt = 0;
  tx.rec.uasRetrEndAt = 0;
}

function onWaitTimer(tx: Tx): void {
  freeTx(tx);
}

function freeTx(tx: Tx): void {
  const r = tx.rec;
  if (r.state === TX_TERMINATED) return;
  if (r.state !== TX_COMPLETED) {
    core.counters.inc(K.waiting); // freed without waiting (t_release)
    txEnded(r);
  }
  r.state = TX_TERMINATED;
  wheel.cancel(tx.wait);
  stopTimerG(tx);
  for (const b of tx.branches) {
    wheel.cancel(b.retr);
    wheel.cancel(b.fr);
    wheel.cancel(b.cancelRetr);
    freeBranch(b);
  }
  byKey.delete(r.key);
  kfRemove(tx.kb); // freed once (TX_TERMINATED above), as it was added once
  dropTx(tx);
  if (curTx === tx) curTx = null;
  core.counters.inc(K.freed);
}

/** t_release: the transaction goes to the wait timer now (no more replies from the script). */
export function releaseTx(tx: Tx): void {
  if (tx.rec.state < TX_COMPLETED) completeTx(tx);
  syncTx(tx);
}

// ---------------------------------------------------------------- relaying

/**
 * t_relay and friends: the current request statefully to `uri` (else $du, a loose Route, the
 * R-URI). 1 when sent (or absorbed), negative on failure after an error reply (unless flag 2).
 */
export function relay(ctx: MsgContext, uri: string | undefined, flags: number): number {
  const msg = ctx.msg;
  if (!msg.isRequest) return -1;
  // the ACK of a 2xx is a transaction of its own, forwarded statelessly (Kamailio does the same)
  if (msg.methodId === METHOD_ACK) return core.forwardRequestIn(ctx, uri);
  // a branch-failure route may add branches too (Kamailio's t_next_contact_flow + t_relay)
  const inFailure = (core.routeKind & (ROUTE.FAILURE | ROUTE.BRANCH_FAILURE)) !== 0;
  if (msg.methodId === METHOD_CANCEL && !inFailure && byKey.size > 0) {
    const inv = inviteOf(ctx);
    if (inv) return cancelTx(ctx, inv);
  }
  const tx = newTransaction(ctx);
  if (!tx) return -1;
  const r = tx.rec;
  if (r.state >= TX_COMPLETED) return inFailure ? -1 : 1; // replied already: a retransmission
  if (!inFailure) {
    // the request route's changes belong to the stored request (a failure route starts from them)
    r.ruri = ctx.ruri;
    r.rr = ctx.rr;
    r.rrParams = ctx.rrParams;
    r.flags = ctx.flags;
    if (tx.branches.length === 0) saveRequestEdits(r, ctx);
    if (r.methodId === METHOD_INVITE && autoInv100(r) && !(flags & F_NO_100) && r.uasCode === 0) {
      localReply(tx, 100, 'Trying', ctx);
    }
  } else if (P.failure_reply_mode === 3 && core.routeKind === ROUTE.FAILURE) {
    // a new serial leg: the earlier branches' replies do not compete any more
    for (const b of tx.branches) b.rec.dropped = true;
  }
  const sent = forkBranches(ctx, tx, uri);
  if (sent > 0) {
    keepTx(tx); // the durable copy, once it has its branches
    return 1;
  }
  if (inFailure) return sent;
  if (ctx.replied) {
    // a forward hook answered (maxfwd's 483) statelessly: nothing to keep
    freeTx(tx);
    return -1;
  }
  // t_set_disable_internal_reply(1): -4 and the transaction lives on (the script replies)
  if (!(flags & F_NO_ERROR_REPLY) && !(r.tFlags & T_DISABLE_INTERNAL_REPLY) && tx.branches.length === 0) {
    localReply(tx, 500, 'Server Internal Error', ctx);
    return -1;
  }
  return -4;
}

/**
 * Parallel forking: the R-URI's branch, then every branch appended to the destination set
 * (corex append_branch), which t_relay consumes. 1 when any branch went out, else -1.
 */
function forkBranches(ctx: MsgContext, tx: Tx, uri: string | undefined): number {
  const appended = ctx.branches;
  ctx.branches = null;
  // Kamailio: the branch route belongs to this t_relay (re-armed for a later leg, or from the branch route)
  const name = tx.rec.onBranch;
  tx.rec.onBranch = '';
  const fn = name ? core.routes.named(name) : undefined;
  let ret = sendBranch(ctx, tx, uri, fn);
  if (appended === null) return ret;
  const ruri = ctx.ruri, du = ctx.du;
  try {
    for (const d of appended) {
      ctx.ruri = d.uri;
      ctx.ruriParsed = null;
      ctx.du = d.du;
      if (sendBranch(ctx, tx, uri, fn) > 0) ret = 1;
    }
  } finally {
    ctx.ruri = ruri;
    ctx.ruriParsed = null;
    ctx.du = du;
  }
  return ret;
}

/**
 * One branch: the armed branch route first (the branch's R-URI as $ru; what it changes is this
 * branch's only; KSR.x.drop() there drops the branch), then the send. 1, or -1 when not sent.
 */
function sendBranch(ctx: MsgContext, tx: Tx, uri: string | undefined, fn: (() => unknown) | undefined): number {
  if (fn === undefined) return addBranch(ctx, tx, uri);
  const ruri = ctx.ruri, du = ctx.du, lumps = ctx.lumps.list.slice();
  const prevBranch = current.branch;
  current.branch = tx.branches.length;
  // the route sees the next hop as $du (t_relay_to_proxy's too) and may change it
  if (uri !== undefined) ctx.du = uri;
  try {
    core.withContext(ctx, () => core.runRoute(fn, ROUTE.BRANCH));
    if (ctx.dropped) return -1;
    return addBranch(ctx, tx, undefined);
  } finally {
    ctx.dropped = false;
    ctx.ruri = ruri;
    ctx.ruriParsed = null;
    ctx.du = du;
    ctx.lumps.list = lumps;
    current.branch = prevBranch;
  }
}

const BRANCH_MARKS = Array.from({ length: 16 }, (_, i) => `t${i}`);
/** What buildForward puts in a branch's Via branch: "s", the slot, "t" and the branch index. */
const branchMark = (slot: number, idx: number): string => `s${slot}${BRANCH_MARKS[idx] ?? `t${idx}`}`;

/** The slot a Via branch of ours names ("z9hG4bKvd" hash hex "s" slot "t" ...), else -1. */
function branchSlotOf(branch: string): number {
  const n = branch.length;
  let i = 9;
  // the hash is hex: the first "s" ends it
  while (i < n && i < 19 && branch.charCodeAt(i) !== 0x73) i++;
  if (++i >= n) return -1;
  let slot = 0;
  for (let c = branch.charCodeAt(i); c !== 0x74; c = branch.charCodeAt(++i)) {
    if (c < 0x30 || c > 0x39 || i >= n || slot > 0x3fffffff) return -1;
    slot = slot * 10 + (c - 0x30);
  }
  return slot;
}

/** The branch a reply's top Via branch names. */
function branchByVia(branch: string | undefined): Branch | undefined {
  if (branch === undefined) return undefined;
  const slot = branchSlotOf(branch);
  if (slot >= 0 && slot < slotBranch.length && slotBranch[slot] === branch) return slots[slot];
  return adopted.size === 0 ? undefined : adopted.get(branch);
}

/** The slot the next branch gets (taken by putSlot once it is sent). */
function nextSlot(): number {
  return freeSlots.length > 0 ? freeSlots[freeSlots.length - 1]! : slots.length;
}

function putSlot(b: Branch): void {
  if (b.slot === slots.length) {
    slots.push(b);
    slotBranch.push(b.rec.branch);
  } else {
    freeSlots.pop();
    slots[b.slot] = b;
    slotBranch[b.slot] = b.rec.branch;
  }
  branchCount++;
}

function freeBranch(b: Branch): void {
  if (b.slot < 0) {
    if (adopted.get(b.rec.branch) === b) adopted.delete(b.rec.branch);
  } else if (slots[b.slot] === b) {
    slots[b.slot] = undefined;
    slotBranch[b.slot] = '';
    freeSlots.push(b.slot);
  } else return;
  branchCount--;
}

/** Sends the current request as a new branch of tx; 1 or -1. */
function addBranch(ctx: MsgContext, tx: Tx, uri: string | undefined): number {
  const r = tx.rec;
  const idx = tx.branches.length;
  const slot = nextSlot();
  const out = core.buildForwardIn(ctx, uri, branchMark(slot, idx));
  if (out === null) return -1;
  const now = performance.now();
  const invite = r.methodId === METHOD_INVITE;
  const rec: BranchRecord = {
    branch: ownString(core.fwdBranch), // flat: compared with each reply's branch
    sock: core.fwdSock,
    host: core.fwdHost,
    port: core.fwdPort,
    uri: uri ?? '',
    state: BR_CALLING,
    lastCode: 0,
    lastReason: '',
    finalReply: null,
    request: out,
    retrAt: now + r.retr1,
    retrInterval: r.retr1,
    frAt: now + Math.min(r.frTimer, r.endAt - now),
    cancel: CANCEL_NONE,
    cancelRequest: null,
    cancelRetrAt: 0,
    cancelRetrInterval: 0,
    cancelEndAt: 0,
    timedOut: false,
    dropped: false,
  };
  const b: Branch = { tx, idx, rec, slot, retr: 0, fr: 0, cancelRetr: 0 };
  r.branches.push(rec);
  tx.branches.push(b);
  putSlot(b);
  core.transport.send(rec.sock, out, rec.port, rec.host);
  core.counters.inc(C.fwd_requests);
  // UDP: timer A (INVITE) / E (non-INVITE) from T1; fr_timer until a reply (timer B / F)
  b.retr = wheel.schedule(onRetrTimer, b, rec.retrInterval);
  b.fr = wheel.schedule(onFrTimer, b, rec.frAt - now);
  if (invite && r.canceled) cancelBranch(b);
  return 1;
}

function onRetrTimer(b: Branch): void {
  const rec = b.rec;
  if (rec.state === BR_COMPLETED) return;
  if (rec.state === BR_PROCEEDING && b.tx.rec.methodId === METHOD_INVITE) return; // a 1xx ends timer A
  core.transport.send(rec.sock, rec.request, rec.port, rec.host);
  core.counters.inc(K.retr_sent);
  // INVITE: doubling (timer A); non-INVITE: doubling up to T2, T2 once proceeding (timer E)
  const t2 = b.tx.rec.retr2;
  const next = b.tx.rec.methodId === METHOD_INVITE ? rec.retrInterval * 2
    : rec.state === BR_PROCEEDING ? t2 : Math.min(rec.retrInterval * 2, t2);
  rec.retrInterval = next;
  rec.retrAt = performance.now() + next;
  b.retr = wheel.schedule(onRetrTimer, b, next);
  if (b.tx.saved) syncTx(b.tx);
  // a non-INVITE unanswered after T1 is kept from now on (an INVITE out of the store has its 2xx)
  else if (b.tx.rec.methodId !== METHOD_INVITE) saveTx(b.tx);
}

/**
 * Writes the transaction to the shared-memory store (shm.ts), or leaves it in this thread only.
 * INVITEs are written once relayed: after our 100 Trying the caller stops retransmitting, so a
 * worker that dies would otherwise lose the call's failure routes and timers. A non-INVITE is
 * written only once it has gone T1 without a final (its first timer E): the caller retransmits
 * it until a final (RFC 3261 17.1.2.2), so one answered sooner (a BYE, nearly always) is started
 * again by that retransmission on the replacement thread and need not be stored. Measured: the
 * writes of the BYE's transaction were about half of the store's cost per call.
 */
function keepTx(tx: Tx): void {
  if (tx.saved || tx.rec.methodId === METHOD_INVITE) saveTx(tx);
}

/** fr_timer / fr_inv_timer: the branch ends with a local 408 (a ringing INVITE branch is cancelled). */
function onFrTimer(b: Branch): void {
  const rec = b.rec;
  if (rec.state === BR_COMPLETED) return;
  wheel.cancel(b.retr);
  if (rec.state === BR_PROCEEDING) cancelBranch(b);
  rec.state = BR_COMPLETED;
  rec.lastCode = 408;
  rec.lastReason = 'Request Timeout';
  rec.timedOut = true;
  core.counters.inc(K.timeouts);
  guarded(() => {
    branchFailed(b);
    branchCompleted(b.tx);
  });
  if (b.tx.rec.state < TX_COMPLETED) syncTx(b.tx); // else the final's write (keepTx) kept it
}

/** Runs `fn` from a timer: what a script route throws there is counted and logged as in core.receive. */
function guarded(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    core.counters.inc(C['viaduct:script_errors']);
    if (core.rethrowScriptErrors) throw e;
    const line = errorLine(e);
    core.log.limited(L_ERR, `script:${line}`, `error processing message from tm timer: ${line}`);
  }
}

function onBranchReply(ctx: MsgContext, b: Branch): void {
  const tx = b.tx;
  const r = tx.rec;
  const rec = b.rec;
  const msg = ctx.msg;
  const code = msg.status;
  core.counters.inc(K.rpl_received);
  if (rec.state === BR_COMPLETED) {
    // a retransmitted final: the ACK again for a negative one, a 2xx goes on end to end
    if (code >= 300 && r.methodId === METHOD_INVITE && rec.lastCode === code) sendAck(b, msg);
    else if (code >= 200 && code < 300) relayReply(ctx, tx, null);
    return;
  }
  if (code < 200) {
    if (rec.state === BR_CALLING || (P.restart_fr_on_each_reply && r.methodId === METHOD_INVITE)) {
      // after a 1xx an INVITE branch waits fr_inv_timer (capped by max_inv_lifetime)
      const now = performance.now();
      const ms = r.methodId === METHOD_INVITE ? Math.min(r.frInvTimer, r.endAt - now) : rec.frAt - now;
      wheel.cancel(b.fr);
      rec.frAt = now + ms;
      b.fr = wheel.schedule(onFrTimer, b, ms);
    }
    rec.state = BR_PROCEEDING;
    rec.lastCode = code;
    rec.lastReason = msg.reason;
    if (rec.cancel === CANCEL_PENDING) sendCancel(b);
    else if (rec.cancelRetrAt !== 0) resendCancel(b); // Kamailio: a 1xx after our CANCEL gets it again
  } else {
    wheel.cancel(b.retr);
    wheel.cancel(b.fr);
    rec.state = BR_COMPLETED;
    rec.lastCode = code;
    rec.lastReason = msg.reason;
    if (code >= 300 && r.methodId === METHOD_INVITE) sendAck(b, msg);
  }
  // the onreply route sees the transaction's AVPs, XAVPs and flags
  ctx.avps = r.avps;
  ctx.xavps = r.xavps;
  ctx.avpHolder = r;
  ctx.flags = r.flags;
  const top = msg.topVia();
  ctx.lumps.remove(top.removeStart, top.removeEnd);
  const prevCode = current.code, prevReason = current.reason, prevBranch = current.branch; // no object per reply
  const prevMsg = curMsg, prevTx = curTx;
  setCurrent(msg, tx);
  current.code = code;
  current.reason = msg.reason;
  current.branch = b.idx;
  try {
    if (core.routes.reply) core.runRoute(core.routes.reply, ROUTE.CORE_ONREPLY);
    const fn = r.onReply ? core.routes.named(r.onReply) : undefined;
    if (fn && !ctx.dropped) core.runRoute(fn, ROUTE.TM_ONREPLY);
  } finally {
    current.code = prevCode;
    current.reason = prevReason;
    current.branch = prevBranch;
    curMsg = prevMsg;
    curTx = prevTx;
  }
  r.flags = ctx.flags;
  if (code < 200) {
    // 100 is hop by hop; a dropped provisional is not relayed
    if (code > 100 && !ctx.dropped && r.uasCode < 200) relayReply(ctx, tx, null);
    else syncTx(tx);
    return;
  }
  rec.finalReply = replyBytes(ctx);
  if (code < 300) {
    // 2xx: first one wins, relayed at once; the other branches are cancelled
    relayReply(ctx, tx, rec.finalReply);
    return;
  }
  if (code >= 600) for (const o of tx.branches) if (o !== b && o.rec.state !== BR_COMPLETED) cancelBranch(o);
  branchFailed(b);
  branchCompleted(tx);
  if (r.state < TX_COMPLETED) keepTx(tx); // the branch's final is kept (the best reply may be it)
}

function replyBytes(ctx: MsgContext): Buffer {
  const msg = ctx.msg;
  return keptLumps(msg.buf, msg.bodyStart + msg.bodyLength, ctx.lumps.list);
}

/** Sends the current reply upstream (bytes: already built) and updates the transaction. */
function relayReply(ctx: MsgContext, tx: Tx, bytes: Buffer | null): void {
  const code = ctx.msg.status;
  const out = bytes ?? replyBytes(ctx);
  if (tx.rec.uasCode >= 200) {
    // a 2xx after the final (another branch's, or a retransmission): end to end all the same
    if (code < 300) sendUpstream(tx, out);
    return;
  }
  uasSent(tx, code, out);
}

/** A branch completed: when none is pending, the failure route or the best reply upstream. */
function branchCompleted(tx: Tx): void {
  const r = tx.rec;
  if (r.uasCode >= 200) return;
  for (const b of tx.branches) if (b.rec.state !== BR_COMPLETED) return;
  const best = pickBest(tx);
  if (best < 0) return;
  const b = tx.branches[best]!;
  if (r.onFailure && b.rec.lastCode >= 300) {
    const name = r.onFailure;
    r.onFailure = ''; // armed once: the failure route re-arms it for the next leg
    const fn = core.routes.named(name);
    if (fn) {
      runFailureRoute(tx, b, fn);
      if (r.uasCode >= 200) return; // replied from the failure route
      for (const o of tx.branches) if (o.rec.state !== BR_COMPLETED) return; // a new leg is under way
    }
  }
  sendBest(tx, b);
}

function runFailureRoute(tx: Tx, b: Branch, fn: () => unknown, kind: number = ROUTE.FAILURE): void {
  const ctx = storedCtx(tx);
  ctx.dropped = false;
  ctx.replied = false;
  ctx.branches = null;
  // the request route's edits, without an earlier failure route's (Kamailio frees those)
  ctx.lumps.restore(tx.rec.lumps);
  ctx.maxfwdDone = tx.rec.maxfwdDone;
  const prev = { ...current };
  const prevMsg = curMsg, prevTx = curTx;
  setCurrent(ctx.msg, tx);
  current.code = b.rec.lastCode;
  current.reason = b.rec.lastReason;
  current.branch = b.idx;
  try {
    core.withContext(ctx, () => core.runRoute(fn, kind));
  } finally {
    Object.assign(current, prev);
    curMsg = prevMsg;
    curTx = prevTx;
    tx.rec.flags = ctx.flags;
  }
}

/**
 * RFC 3261 16.7 step 6: a 6xx, else the lowest class (a 2xx never waits here), among the branches
 * of the current leg; -1 when there is none.
 */
function pickBest(tx: Tx): number {
  let best = -1;
  let bestPrio = Infinity;
  for (const b of tx.branches) {
    const rec = b.rec;
    if (rec.dropped || rec.state !== BR_COMPLETED) continue;
    const c = rec.lastCode;
    const prio = c >= 600 ? 0 : c < 300 ? 1 : Math.floor(c / 100) * 1000 + (c === 408 && rec.timedOut ? 999 : 0);
    if (prio < bestPrio) {
      bestPrio = prio;
      best = b.idx;
    }
  }
  return best;
}

/** The chosen final upstream: the branch's reply, or a local one (timeout; 503 becomes 500, RFC 3261 16.7 step 6). */
function sendBest(tx: Tx, b: Branch): void {
  const rec = b.rec;
  // Kamailio relay_reply: a local final (a timeout) of a cancelled transaction goes up as 487
  if (tx.rec.canceled && rec.finalReply === null) {
    localReply(tx, 487, 'Request Terminated');
    return;
  }
  if (rec.finalReply !== null && rec.lastCode !== 503) {
    uasSent(tx, rec.lastCode, rec.finalReply);
    return;
  }
  localReply(tx, rec.lastCode === 503 ? 500 : rec.lastCode, rec.lastCode === 503 ? 'Server Internal Error' : rec.lastReason);
}

// ---------------------------------------------------------------- CANCEL and ACK

/** A CANCEL for tx: answered 200 at once, every pending branch cancelled (RFC 3261 16.10). */
function cancelTx(ctx: MsgContext, inv: Tx): number {
  const ctx2 = newTransaction(ctx);
  if (ctx2) localReply(ctx2, 200, 'canceling', ctx);
  cancelInvite(inv);
  return 1;
}

/** The INVITE is cancelled: every pending branch (cancel_b_method 1: once it has a provisional). */
function cancelInvite(inv: Tx): void {
  inv.rec.canceled = true;
  for (const b of inv.branches) if (b.rec.state !== BR_COMPLETED) cancelBranch(b);
  syncTx(inv);
}

/** tm.cancel (RPC, sent to the owner thread): the INVITE transaction `key` is cancelled; false if not here or answered. */
export function cancelByKey(key: string): boolean {
  const inv = byKey.get(key);
  if (inv === undefined || inv.rec.methodId !== METHOD_INVITE || inv.rec.uasCode >= 200) return false;
  cancelInvite(inv);
  return true;
}

/** cancel_b_method 1: a branch without a provisional gets its CANCEL when the provisional comes. */
function cancelBranch(b: Branch): void {
  const rec = b.rec;
  if (rec.cancel !== CANCEL_NONE || b.tx.rec.methodId !== METHOD_INVITE) return;
  if (rec.state === BR_PROCEEDING) sendCancel(b);
  else rec.cancel = CANCEL_PENDING;
}

/** The lines of the branch's request a CANCEL or ACK copies (RFC 3261 9.1, 17.1.1.3). */
function hopRequest(b: Branch, method: string, to: string | null): Buffer {
  const req = parseMessage(b.rec.request);
  const buf = req.buf;
  const line = (id: number) => {
    const h = req.getHeader(id);
    return h ? buf.toString('latin1', h.lineStart, h.lineEnd) : '';
  };
  const via = req.getHeaders(HDR.VIA)[0]!;
  let out = `${method} ${buf.toString('latin1', req.ruriStart, req.ruriEnd)} SIP/2.0\r\n${buf.toString('latin1', via.lineStart, via.lineEnd)}`;
  out += line(HDR.FROM) + (to ?? line(HDR.TO)) + line(HDR.CALL_ID) + `CSeq: ${req.cseq().num} ${method}\r\n`;
  for (const h of req.getHeaders(HDR.ROUTE)) out += buf.toString('latin1', h.lineStart, h.lineEnd);
  out += `Max-Forwards: 70\r\n${core.serverHeader.replace(/^Server:/, 'User-Agent:')}Content-Length: 0\r\n\r\n`;
  return Buffer.from(out, 'latin1');
}

function sendCancel(b: Branch): void {
  const rec = b.rec;
  const r = b.tx.rec;
  rec.cancel = CANCEL_SENT;
  const out = hopRequest(b, 'CANCEL', null);
  core.transport.send(rec.sock, out, rec.port, rec.host);
  // a non-INVITE client transaction of its own (RFC 3261 9.1): timer E until its reply; Kamailio
  // stops retransmitting it after fr_timer, and the INVITE branch still ends on its fr_inv_timer
  const now = performance.now();
  rec.cancelRequest = out;
  rec.cancelRetrInterval = r.retr1;
  rec.cancelRetrAt = now + r.retr1;
  rec.cancelEndAt = now + r.frTimer;
  b.cancelRetr = wheel.schedule(onCancelRetrTimer, b, r.retr1);
}

function resendCancel(b: Branch): void {
  const rec = b.rec;
  if (rec.cancelRequest !== null) core.transport.send(rec.sock, rec.cancelRequest, rec.port, rec.host);
}

function onCancelRetrTimer(b: Branch): void {
  const rec = b.rec;
  if (rec.cancelRetrAt === 0) return;
  resendCancel(b);
  core.counters.inc(K.retr_sent);
  const now = performance.now();
  const next = Math.min(rec.cancelRetrInterval * 2, b.tx.rec.retr2);
  if (now + next >= rec.cancelEndAt) {
    rec.cancelRetrAt = 0; // fr_timer: no more copies
    return;
  }
  rec.cancelRetrInterval = next;
  rec.cancelRetrAt = now + next;
  b.cancelRetr = wheel.schedule(onCancelRetrTimer, b, next);
}

/** The ACK of a negative final, hop by hop to the branch (To with the reply's tag). */
function sendAck(b: Branch, reply: SipMessage): void {
  const to = reply.getHeader(HDR.TO)!;
  const out = hopRequest(b, 'ACK', reply.buf.toString('latin1', to.lineStart, to.lineEnd));
  core.transport.send(b.rec.sock, out, b.rec.port, b.rec.host);
}

// ---------------------------------------------------------------- script queries

/** The INVITE transaction a CANCEL cancels. */
export function inviteOf(ctx: MsgContext): Tx | null {
  return byKey.size === 0 ? null : byKey.get(txKey(ctx.msg, INVITE_KEY)) ?? null;
}

export function branchOf(ctx: MsgContext): Branch | null {
  const tx = txOf(ctx);
  return tx && current.branch >= 0 ? tx.branches[current.branch] ?? null : null;
}

/** The reply code the route running now sees ($T_reply_code, t_check_status). */
export function statusOf(ctx: MsgContext): number {
  if (!ctx.msg.isRequest) return ctx.msg.status;
  if ((core.routeKind & (ROUTE.FAILURE | ROUTE.BRANCH_FAILURE)) !== 0) return current.code;
  return txOf(ctx)?.rec.uasCode ?? 0;
}

export function reasonOf(ctx: MsgContext): string {
  if (!ctx.msg.isRequest) return ctx.msg.reason;
  if ((core.routeKind & (ROUTE.FAILURE | ROUTE.BRANCH_FAILURE)) !== 0) return current.reason;
  return '';
}

/** A local reply to the current request, statefully (t_reply, t_send_reply). */
export function replyCurrent(ctx: MsgContext, tx: Tx, code: number, reason: string): number {
  const inFailure = (core.routeKind & ROUTE.FAILURE) !== 0;
  const r = localReply(tx, code, reason, inFailure ? storedCtx(tx) : ctx);
  if (r > 0) ctx.replied = true;
  return r;
}

/**
 * tmx t_cancel_branches from an onreply route: mode 0 "all" (all but this branch on a final),
 * 1 "others", 2 "this" (not on a final). 1 when a branch was (or will be) cancelled, else -1.
 */
export function cancelBranches(ctx: MsgContext, mode: number): number {
  const tx = txOf(ctx);
  if (tx === null || tx.rec.methodId !== METHOD_INVITE) return -1;
  const idx = current.branch < 0 ? 0 : current.branch;
  const final = !ctx.msg.isRequest && ctx.msg.status >= 200;
  if (mode === 2 && final) return -1;
  const skip = mode === 1 || (mode === 0 && final) ? idx : -1;
  let n = 0;
  for (const b of tx.branches) {
    if (b.idx === skip || (mode === 2 && b.idx !== idx)) continue;
    if (b.rec.state === BR_COMPLETED || b.rec.cancel !== CANCEL_NONE) continue;
    cancelBranch(b);
    n++;
  }
  return n > 0 ? 1 : -1;
}

/** tmx t_precheck_trans: 1 when a transaction another message made already holds this request. */
export function precheckTrans(ctx: MsgContext): number {
  const msg = ctx.msg;
  if (!msg.isRequest || msg.methodId === METHOD_ACK || msg.methodId === METHOD_CANCEL || byKey.size === 0) return -1;
  if (curMsg === msg && curTx !== null) return -1; // this message's own transaction
  return byKey.has(txKey(msg, msg.method)) ? 1 : -1;
}

// ---------------------------------------------------------------- per-transaction switches

/** 100 Trying for an INVITE: t_set_auto_inv_100 overrides the module's auto_inv_100. */
function autoInv100(r: TxRecord): boolean {
  return (r.tFlags & T_NO_AUTO_100) !== 0 ? false : (r.tFlags & T_AUTO_100) !== 0 ? true : P.auto_inv_100 !== 0;
}

/** t_set_auto_inv_100 / t_set_disable_internal_reply: `on` sets `bit` (and clears `opposite`). */
export function setTFlag(ctx: MsgContext, bit: number, on: boolean, opposite = 0): number {
  const a = armed(ctx);
  a.tFlags = on ? (a.tFlags | bit) & ~opposite : a.tFlags & ~bit;
  return 1;
}

/** t_set_auto_inv_100(0|1): both bits, so the switch beats the module parameter either way. */
export function setAutoInv100(ctx: MsgContext, on: boolean): number {
  return on ? setTFlag(ctx, T_AUTO_100, true, T_NO_AUTO_100) : setTFlag(ctx, T_NO_AUTO_100, true, T_AUTO_100);
}

/** t_set_retr(t1, t2): T1/T2 of the transaction's branches added from now on; 0 keeps the module's. */
export function setRetr(ctx: MsgContext, t1: number, t2: number): number {
  const a = armed(ctx);
  a.retr1 = t1 > 0 ? t1 : P.retr_timer1;
  a.retr2 = t2 > 0 ? t2 : P.retr_timer2;
  return 1;
}

/** t_set_max_lifetime(inv, noninv), ms from now; 0 keeps the module's max_(non)inv_lifetime. */
export function setMaxLifetime(ctx: MsgContext, inv: number, noninv: number): number {
  const tx = txOf(ctx);
  if (tx === null) {
    const p = armed(ctx) as Pending;
    p.lifeInv = inv > 0 ? inv : 0;
    p.lifeNoninv = noninv > 0 ? noninv : 0;
    return 1;
  }
  const r = tx.rec;
  const ms = r.methodId === METHOD_INVITE ? inv || P.max_inv_lifetime : noninv || P.max_noninv_lifetime;
  r.endAt = performance.now() + ms;
  return 1;
}

/** t_on_branch_failure(name): the route (a script function) run for each branch's negative final. */
export function armBranchFailure(ctx: MsgContext, name: string): number {
  armed(ctx).onBranchFailure = name;
  return 1;
}

/**
 * A branch ended negatively (a reply >= 300, or its timeout): Kamailio's
 * event_route[tm:branch-failure:NAME], here the script function t_on_branch_failure named,
 * run on the stored request while no final went upstream. It may add branches (t_relay).
 */
function branchFailed(b: Branch): void {
  const r = b.tx.rec;
  if (r.onBranchFailure === '' || r.uasCode >= 200) return;
  const fn = core.routes.named(r.onBranchFailure);
  if (fn) runFailureRoute(b.tx, b, fn, ROUTE.BRANCH_FAILURE);
}

// ---------------------------------------------------------------- lookups

/** t_lookup_request(): 1 when the request (an ACK: its INVITE) has a transaction. */
export function lookupRequest(ctx: MsgContext): number {
  return ctx.msg.isRequest && txOf(ctx) !== null ? 1 : -1;
}

/** t_lookup_cancel([1]): 1 when the CANCEL's INVITE transaction exists; 1 also copies its flags. */
export function lookupCancel(ctx: MsgContext, copyFlags: boolean): number {
  if (!ctx.msg.isRequest || ctx.msg.methodId !== METHOD_CANCEL) return -1;
  const inv = inviteOf(ctx);
  if (inv === null) return -1;
  if (copyFlags) ctx.flags |= inv.rec.flags;
  return 1;
}

/**
 * t_drop_replies([mode]) in a failure route: the replies received so far do not compete for the
 * final any more. "a" (default) all, "l" the last leg's (the branches not dropped already),
 * "n" none. viaduct drops at once; Kamailio marks and drops when the route adds a branch.
 */
export function dropReplies(ctx: MsgContext, mode: string): number {
  const tx = txOf(ctx);
  if (tx === null) return -1;
  if (mode === 'n') return 1;
  for (const b of tx.branches) if (b.rec.state === BR_COMPLETED) b.rec.dropped = true;
  return 1;
}

// ---------------------------------------------------------------- serial forking (t_serial.c)

/** The q_flag of a contacts_avp record: the last contact of its q group. */
const Q_FLAG = 4;

/**
 * t_load_contacts(): the R-URI and the appended branches, grouped by q, into the xavp named by
 * contacts_avp (highest q first, [0] next), the branches cleared. As Kamailio: a contact without
 * q (the R-URI unless something set one) ranks below q=0; among equal q the later one is first.
 */
export function loadContacts(ctx: MsgContext, xavpName: string): number {
  if (xavpName === '') {
    core.log.limited(L_ERR, 'tm:contacts_avp', 'tm: t_load_contacts: feature has been disabled - to enable define contacts_avp module parameter');
    return -1;
  }
  const branches = ctx.branches;
  if (branches === null || branches.length === 0) return 1; // only one contact: nothing to do
  // increasing q, stable (Kamailio inserts after the equal ones), the R-URI first
  const all = [{ uri: ctx.currentRuri(), du: ctx.du, q: -1, flags: ctx.bflags }, ...branches.map((b) => ({ ...b, flags: 0 }))];
  const asc = all.map((c, i) => ({ c, i })).sort((x, y) => x.c.q - y.c.q || x.i - y.i).map((x) => x.c);
  const list: Record<string, string | number>[] = [];
  for (let i = asc.length - 1; i >= 0; i--) {
    const c = asc[i]!;
    const rec: Record<string, string | number> = { uri: c.uri };
    if (c.du) rec.dst_uri = c.du;
    rec.flags = c.flags;
    rec.q_flag = i > 0 && asc[i - 1]!.q < c.q ? Q_FLAG : 0;
    list.push(rec);
  }
  const xavps = ctx.xavpList();
  const old = xavps.get(xavpName);
  xavps.set(xavpName, old ? [...list, ...old] : list);
  ctx.branches = null;
  return 1;
}

/**
 * t_next_contacts(): the next q group from contacts_avp: its first contact becomes the R-URI
 * ($du, branch flags), the others appended branches, all taken off the list. 1; -2 when the list
 * is empty; -1 when the feature is off.
 */
export function nextContacts(ctx: MsgContext, xavpName: string): number {
  if (xavpName === '') {
    core.log.limited(L_ERR, 'tm:contacts_avp', 'tm: t_next_contacts: feature has been disabled - to enable define contacts_avp module parameter');
    return -1;
  }
  const list = ctx.xavps?.get(xavpName);
  if (list === undefined || list.length === 0) return -2;
  const first = list.shift()!;
  ctx.ruri = String(first.uri);
  ctx.ruriParsed = null;
  ctx.du = first.dst_uri !== undefined ? String(first.dst_uri) : null;
  ctx.bflags = Number(first.flags ?? 0);
  if (first.q_flag) return finishContacts(ctx, xavpName, list);
  while (list.length > 0) {
    const c = list.shift()!;
    (ctx.branches ??= []).push({ uri: String(c.uri), du: c.dst_uri !== undefined ? String(c.dst_uri) : null, q: -1 });
    if (c.q_flag) break;
  }
  return finishContacts(ctx, xavpName, list);
}

function finishContacts(ctx: MsgContext, name: string, list: Record<string, string | number>[]): number {
  if (list.length === 0) ctx.xavps!.delete(name);
  return 1;
}

// ---------------------------------------------------------------- $T_req, $T_rpl, $T (tmx)

/** The reply a failure route's branch ended with, as a message context (null: a local 408). */
let rplBuf: Buffer | null = null;
let rplCtx: MsgContext | null = null;

function branchReplyCtx(b: Branch): MsgContext | null {
  const buf = b.rec.finalReply;
  if (buf === null || b.rec.timedOut) return null;
  if (buf !== rplBuf || rplCtx === null) {
    const r = b.tx.rec;
    const c = new MsgContext(core);
    c.reset(parseMessage(buf), b.rec.host, b.rec.port, core.sockets[r.sock]!);
    rplBuf = buf;
    rplCtx = c;
  }
  return rplCtx;
}

/** The stored request as $T_req sees it outside failure routes (one per thread, the last asked). */
let reqTx: Tx | null = null;
let reqCtx: MsgContext | null = null;

/**
 * $T_req(pv): the pv on the transaction's stored request, from any route; null without one. A
 * failure route runs on the stored request itself; elsewhere a view of its own, so reading it
 * early does not freeze tx.stored before t_relay records the route's R-URI and flags.
 */
export function tReqCtx(ctx: MsgContext): MsgContext | null {
  const tx = txOf(ctx);
  if (tx === null) return null;
  if ((core.routeKind & (ROUTE.FAILURE | ROUTE.BRANCH_FAILURE)) !== 0) return storedCtx(tx);
  if (reqTx !== tx || reqCtx === null) {
    reqCtx = requestCtx(tx.rec);
    reqTx = tx;
  }
  return withRecord(reqCtx, tx.rec);
}

/** $T_rpl(pv): the reply of an onreply route, or the one that chose the failure route. */
export function tRplCtx(ctx: MsgContext): MsgContext | null {
  if (!ctx.msg.isRequest) return ctx;
  if ((core.routeKind & (ROUTE.FAILURE | ROUTE.BRANCH_FAILURE)) === 0) return null;
  const b = branchOf(ctx);
  return b === null ? null : branchReplyCtx(b);
}

/** $T(name): Kamailio's tmx names that mean something here; null for the others. */
export function tVar(ctx: MsgContext, name: string): string | number | null {
  switch (name) {
    case 'reply_code': return statusOf(ctx);
    case 'reply_reason': return reasonOf(ctx);
    case 'branch_index': return txOf(ctx) && current.branch >= 0 ? current.branch : 0;
    case 'reply_last': {
      if (!ctx.msg.isRequest) return ctx.msg.status;
      const b = branchOf(ctx);
      return b ? b.rec.lastCode : 0;
    }
    case 'reply_type': {
      // 1: the reply is a local one (a timeout's 408), 0: received
      if (!ctx.msg.isRequest) return 0;
      const b = branchOf(ctx);
      return b && b.rec.timedOut ? 1 : 0;
    }
    default: return null;
  }
}

// ---------------------------------------------------------------- adoption

/**
 * A thread restarted in its predecessor's row takes over the transactions the store kept for it
 * (index.ts threadInit): the live objects rebuilt from the records, the retransmission, fr and
 * wait timers re-armed from their deadlines (past ones fire on the next tick), so late replies
 * are relayed, a timeout runs the failure route and a retransmitted request gets the last reply.
 */
export function adoptTransactions(records: TxRecord[]): void {
  const now = performance.now();
  const due = (at: number): number => Math.max(0, at - now);
  for (const rec of records) {
    if (rec.state === TX_TERMINATED || byKey.has(rec.key)) continue;
    const tx: Tx = { rec, branches: [], wait: 0, uasRetr: 0, stored: null, saved: true, entry: -1, kb: kfOfKey(rec.key) };
    byKey.set(rec.key, tx);
    kfAdd(tx.kb);
    missMsg = null;
    for (let idx = 0; idx < rec.branches.length; idx++) {
      const br = rec.branches[idx]!;
      const b: Branch = { tx, idx, rec: br, slot: -1, retr: 0, fr: 0, cancelRetr: 0 };
      tx.branches.push(b);
      adopted.set(br.branch, b);
      branchCount++;
      if (br.cancelRetrAt > 0) b.cancelRetr = wheel.schedule(onCancelRetrTimer, b, due(br.cancelRetrAt));
      if (br.state === BR_COMPLETED) continue;
      if (br.retrAt > 0) b.retr = wheel.schedule(onRetrTimer, b, due(br.retrAt));
      if (br.frAt > 0) b.fr = wheel.schedule(onFrTimer, b, due(br.frAt));
    }
    // timer G (a negative final upstream until the ACK), else the wait timer once completed
    if (rec.uasRetrAt > 0) tx.uasRetr = wheel.schedule(onTimerG, tx, due(rec.uasRetrAt));
    else if (rec.state === TX_COMPLETED) tx.wait = wheel.schedule(onWaitTimer, tx, due(rec.waitAt));
  }
}
