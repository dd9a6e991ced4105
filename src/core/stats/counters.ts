/**
 * Statistics counters: one list of every counter, and a matrix in a SharedArrayBuffer with one row
 * per thread. Each thread increments cells of its own row with plain (non-atomic) writes; the
 * control plane sums the rows when it is asked (RPC, /metrics). No atomics, no messages.
 *
 * Names follow Kamailio exactly (`group:name`): the `core` group is kex's core_stats.c, the `sl`
 * group is the sl module's sl_stats.c, and `viaduct` holds counters only our threaded runtime has.
 *
 * Counter ids (`C`, the named constants) are column numbers in a row.
 * `C` keys: core counters by bare name, every other group as `group:name`:
 *   C['rcv_requests'], C['rcv_replies_4xx_invite'], C['sl:sent_replies'], C['viaduct:worker_restarts']
 * (the bare name is how Kamailio scripts and kamcmd refer to core statistics). The keys are typed,
 * so a misspelt name is a compile error; `counterId(name)` is the checked lookup for dynamic names.
 *
 * Hot paths should use the named constants (RCV_REQUESTS, ...) or the cached id lists returned by
 * replyCounters()/slReplyCounters(), which allocate nothing per call.
 */

/** Methods with an rcv_requests_<method> counter. Kamailio has none for KDMQ (kex's
 *  km_cb_req_stats has no case for it), so neither do we: KDMQ counts in rcv_requests only. */
import {
  METHOD_BYE, METHOD_CANCEL, METHOD_INVITE, METHOD_MESSAGE, METHOD_PRACK, METHOD_REFER, METHOD_REGISTER,
  METHOD_UPDATE,
} from '../sip/methods.js';
import { defineLayout, type FieldSpec, type Layout } from '../shm/layout.js';

const SIP_METHODS = [
  'invite', 'cancel', 'ack', 'bye', 'info', 'register', 'subscribe', 'notify', 'message', 'options',
  'prack', 'update', 'refer', 'publish',
] as const;

/** Kamailio's per-method reply counters (rcv_replies_<class>xx_<method>): these 8 methods only;
 *  REGISTER is spelt "reg" there. */
const REPLY_METHODS = ['invite', 'cancel', 'bye', 'reg', 'message', 'prack', 'update', 'refer'] as const;
const REPLY_CLASSES = [1, 2, 3, 4, 5, 6] as const;

type ReplyByMethod =
  `rcv_replies_${(typeof REPLY_CLASSES)[number]}xx_${(typeof REPLY_METHODS)[number]}`;

const CORE = [
  'rcv_requests',
  ...SIP_METHODS.map((m) => `rcv_requests_${m}` as const),
  'rcv_replies', 'rcv_replies_1xx', 'rcv_replies_18x', 'rcv_replies_2xx', 'rcv_replies_3xx',
  'rcv_replies_4xx', 'rcv_replies_401', 'rcv_replies_404', 'rcv_replies_407', 'rcv_replies_480',
  'rcv_replies_486', 'rcv_replies_5xx', 'rcv_replies_6xx',
  'fwd_requests', 'fwd_replies', 'drop_requests', 'drop_replies', 'err_requests', 'err_replies',
  'bad_URIs_rcvd', 'unsupported_methods', 'bad_msg_hdr',
  // kex declares these in method-major order (all classes of invite, then cancel, ...)
  ...REPLY_METHODS.flatMap((m) => REPLY_CLASSES.map((c) => `rcv_replies_${c}xx_${m}` as ReplyByMethod)),
] as const;

export const SL_STATS = [
  '1xx_replies', '200_replies', '202_replies', '2xx_replies', '300_replies', '301_replies',
  '302_replies', '3xx_replies', '400_replies', '401_replies', '403_replies', '404_replies',
  '407_replies', '408_replies', '483_replies', '4xx_replies', '500_replies', '5xx_replies',
  '6xx_replies', 'xxx_replies', 'sent_replies', 'sent_err_replies', 'failures', 'received_ACKs',
] as const;

const VIADUCT = [
  'ring_full_drops', // datagrams the receiving thread dropped because a worker's ring was full
  'ring_handoffs', // datagrams a thread received and passed to the worker owning their Call-ID
  'send_errors', // datagrams the kernel refused to send
  'worker_restarts',
  'worker_lost_messages', // messages a SIP thread was processing when it died (or was stopped)
  'watchdog_restarts', // SIP threads the watchdog stopped (stuck in one message) and restarted
  'worker_socket_rcv', // datagrams that reached a worker's socket directly, not via the ring
  'script_errors', // exceptions thrown by the routing script
  'loops_detected',
  'oversized_msgs', // messages over a sip_max_* limit: answered 513 when a request can be, else dropped
  'log_dropped', // log lines dropped because stderr was blocked (nobody read the pipe)
  'log_suppressed', // log lines of a repeated kind over the rate limit (log.ts limited())
] as const;

type CoreName = (typeof CORE)[number];
type SlName = (typeof SL_STATS)[number];
type ViaductName = (typeof VIADUCT)[number];
/** A key of `C`. */
export type CounterKey = CoreName | `sl:${SlName}` | `viaduct:${ViaductName}`;

const STATIC_COUNTERS = [
  ...CORE.map((n) => `core:${n}`),
  ...SL_STATS.map((n) => `sl:${n}`),
  ...VIADUCT.map((n) => `viaduct:${n}`),
];

/** Cells each row keeps for the statistics that modules declare in their export tables. */
const MODULE_CELLS = 64;
const moduleIds = new Map<string, number>();

/**
 * Every counter as `group:name`, in column order (also the order stats.get_statistics lists
 * them): the static ones, then the modules' (registerModuleCounters).
 */
export const COUNTERS: readonly string[] = [...STATIC_COUNTERS];

/** A thread's row: one Float64 cell per counter, in COUNTERS order, padded to a 64-byte cache
 *  line so that two threads never write the same line (false sharing would cost more than the
 *  increments themselves). */
const ROW: Layout<Record<string, FieldSpec>> = defineLayout({
  ...Object.fromEntries(STATIC_COUNTERS.map((n) => [n, 'f64' as const])),
  'module:cells': ['f64', MODULE_CELLS],
}, { align: 64 });

/**
 * Gives the statistics a module declares (`stats` in its export table) their columns; names the
 * static list already has keep theirs. Every thread registers the same registry in the same
 * order (src/core/ksr.ts at load), so the ids agree across threads. Returns the ids.
 */
export function registerModuleCounters(group: string, names: readonly string[]): number[] {
  return names.map((n) => {
    const full = `${group}:${n}`;
    const known = STATIC_COUNTERS.indexOf(full);
    if (known >= 0) return ROW[full]!;
    let id = moduleIds.get(full);
    if (id === undefined) {
      if (moduleIds.size >= MODULE_CELLS) throw new Error(`too many module statistics (${MODULE_CELLS} cells): ${full}`);
      id = ROW['module:cells']! + moduleIds.size;
      (COUNTERS as string[]).push(full);
      moduleIds.set(full, id);
    }
    return id;
  });
}

/**
 * Counter id by key; see the file comment for the key scheme. Built by Object.fromEntries, which
 * gives an object with fast properties: one built key by key this size is a dictionary, and
 * every `C.x` on the per-message path would be a hash lookup.
 */
export const C: Readonly<Record<CounterKey, number>> = Object.freeze(Object.fromEntries(
  STATIC_COUNTERS.map((full) => [full.startsWith('core:') ? full.slice(5) : full, ROW[full]!]),
) as Record<CounterKey, number>);

/** Checked lookup for names only known at run time: accepts a `C` key or the full `group:name`. */
export function counterId(name: string): number {
  const id = (C as Record<string, number>)[name.startsWith('core:') ? name.slice(5) : name] ?? moduleIds.get(name);
  if (id === undefined) throw new Error(`unknown counter: ${name}`);
  return id;
}

// Hot counters as plain constants (a property load less per increment, and greppable).
export const RCV_REQUESTS = C.rcv_requests;
export const RCV_REPLIES = C.rcv_replies;
export const FWD_REQUESTS = C.fwd_requests;
export const FWD_REPLIES = C.fwd_replies;
export const DROP_REQUESTS = C.drop_requests;
export const DROP_REPLIES = C.drop_replies;
export const ERR_REQUESTS = C.err_requests;
export const ERR_REPLIES = C.err_replies;
export const BAD_URIS_RCVD = C.bad_URIs_rcvd;
export const UNSUPPORTED_METHODS = C.unsupported_methods;
export const BAD_MSG_HDR = C.bad_msg_hdr;
export const SL_SENT_REPLIES = C['sl:sent_replies'];
export const SL_SENT_ERR_REPLIES = C['sl:sent_err_replies'];
export const SL_FAILURES = C['sl:failures'];
export const SL_RECEIVED_ACKS = C['sl:received_ACKs'];
export const RING_FULL_DROPS = C['viaduct:ring_full_drops'];
export const WORKER_RESTARTS = C['viaduct:worker_restarts'];
export const WORKER_LOST_MESSAGES = C['viaduct:worker_lost_messages'];
export const WORKER_SOCKET_RCV = C['viaduct:worker_socket_rcv'];
export const SCRIPT_ERRORS = C['viaduct:script_errors'];
export const LOOPS_DETECTED = C['viaduct:loops_detected'];

// ---------------------------------------------------------------------------------------------
// The matrix

/** Cells per row (the counter count rounded up to a cache line, see ROW). */
const ROW_BYTES = ROW.BYTES;
export const ROW_CELLS = ROW_BYTES / Float64Array.BYTES_PER_ELEMENT;

/** One row per thread (row 0 is usually the receiving thread, 1..N the workers; the caller decides).
 *  Cells are Float64: exact up to 2^53, and aligned 8-byte stores do not tear on x64/arm64. */
export function createStatsBuffer(threads: number): SharedArrayBuffer {
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`threads must be >= 1: ${threads}`);
  return new SharedArrayBuffer(threads * ROW_BYTES);
}

/** Number of rows in a stats buffer. */
export function statsRows(sab: SharedArrayBuffer): number {
  return sab.byteLength / ROW_BYTES;
}

/** One thread's view of its own row. Plain writes: only this thread writes the row, readers
 *  (the scrape) tolerate seeing a value one increment old. */
export class ThreadCounters {
  readonly row: Float64Array;

  constructor(sab: SharedArrayBuffer, row: number) {
    if (!Number.isInteger(row) || row < 0 || row >= statsRows(sab)) {
      throw new RangeError(`row ${row} outside the stats buffer (${statsRows(sab)} rows)`);
    }
    this.row = new Float64Array(sab, row * ROW_BYTES, ROW_CELLS);
  }

  inc(id: number): void {
    this.row[id]++;
  }

  add(id: number, n: number): void {
    this.row[id] += n;
  }

  /** Increments every id of a list, e.g. `incAll(replyCounters(status, cseqMethod))`. */
  incAll(list: readonly number[]): void {
    for (let i = 0; i < list.length; i++) this.row[list[i]]++;
  }
}

/** Totals over all rows, `group:name` -> value, in COUNTERS order. */
export function sumStats(sab: SharedArrayBuffer): Map<string, number> {
  const cells = new Float64Array(sab);
  const rows = statsRows(sab);
  const out = new Map<string, number>();
  for (let id = 0; id < COUNTERS.length; id++) {
    let total = 0;
    for (let r = 0; r < rows; r++) total += cells[r * ROW_CELLS + id];
    out.set(COUNTERS[id], total);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Which counters a message bumps

// Method ids are Kamailio's bit values, defined once in sip/methods.ts.

/** By bit position: INVITE (bit 0) .. PUBLISH (bit 13), then KDMQ, GET, POST, PUT, DELETE (no
 *  counter in Kamailio), then OTHER (bit 19), which Kamailio counts as unsupported_methods. */
const METHOD_BIT_COUNTER: readonly number[] = [
  ...SIP_METHODS.map((m) => C[`rcv_requests_${m}`]),
  -1, -1, -1, -1, -1,
  UNSUPPORTED_METHODS,
];

/** The rcv_requests_<method> counter for a Kamailio method bit value, unsupported_methods for
 *  METHOD_OTHER, -1 for anything else (KDMQ, HTTP methods, 0, combined bits). rcv_requests itself
 *  is not included: every request bumps RCV_REQUESTS, then this one. */
export function methodCounter(methodId: number): number {
  const bit = 31 - Math.clz32(methodId);
  if (methodId !== 1 << bit) return -1; // not a single bit (0, combined, fractional, negative)
  return bit < METHOD_BIT_COUNTER.length ? METHOD_BIT_COUNTER[bit] : -1;
}

/** Column in a REPLY_METHODS-indexed table for a CSeq method bit, or -1. */
function replyMethodIndex(methodId: number): number {
  switch (methodId) {
    case METHOD_INVITE: return 0;
    case METHOD_CANCEL: return 1;
    case METHOD_BYE: return 2;
    case METHOD_REGISTER: return 3;
    case METHOD_MESSAGE: return 4;
    case METHOD_PRACK: return 5;
    case METHOD_UPDATE: return 6;
    case METHOD_REFER: return 7;
    default: return -1;
  }
}

/** The reply codes kex counts individually. */
const REPLY_CODE_COUNTER: Readonly<Record<number, number>> = {
  401: C.rcv_replies_401, 404: C.rcv_replies_404, 407: C.rcv_replies_407,
  480: C.rcv_replies_480, 486: C.rcv_replies_486,
};

/** As kex km_cb_rpl_stats + km_cb_rpl_stats_by_method, without the rcv_replies total. */
function computeReplyCounters(status: number, methodIndex: number): number[] {
  const cls = Math.floor(status / 100);
  if (cls < 1 || cls > 6) return [];
  const list = [C[`rcv_replies_${cls as 1 | 2 | 3 | 4 | 5 | 6}xx`]];
  if (status >= 180 && status <= 189) list.push(C.rcv_replies_18x);
  const code = REPLY_CODE_COUNTER[status];
  if (code !== undefined) list.push(code);
  if (methodIndex >= 0) {
    list.push(C[`rcv_replies_${cls as 1 | 2 | 3 | 4 | 5 | 6}xx_${REPLY_METHODS[methodIndex]}`]);
  }
  return list;
}

const MAX_STATUS = 999;
const NONE: readonly number[] = Object.freeze([]);
/** Lazily filled: [methodIndex + 1][status] -> frozen id list. */
// Dense tables (every index present): an array filled at a few scattered indexes gets
// dictionary elements, and reading it on every reply would be a hash lookup.
const statusTable = (): (readonly number[] | undefined)[] => new Array(MAX_STATUS + 1).fill(undefined);
const replyCache = Array.from({ length: REPLY_METHODS.length + 1 }, statusTable);

/**
 * The rcv_replies_* counters a received reply bumps: its class (1xx..6xx), 18x, the codes Kamailio
 * singles out (401 404 407 480 486) and, when the CSeq method is given (Kamailio method bit),
 * rcv_replies_<class>xx_<method> for the 8 methods kex tracks. Empty outside 100..699.
 * rcv_replies itself is not included: every reply bumps RCV_REPLIES, then these (as with
 * methodCounter for requests). Returns a cached frozen array: no allocation per message.
 */
export function replyCounters(status: number, cseqMethodId = 0): readonly number[] {
  if (!Number.isInteger(status) || status < 0 || status > MAX_STATUS) return NONE;
  const mi = replyMethodIndex(cseqMethodId);
  const table = replyCache[mi + 1];
  return (table[status] ??= Object.freeze(computeReplyCounters(status, mi)));
}

/** As sl_stats.c update_sl_stats(): exactly one bucket per reply; the named codes are not also
 *  counted in their class (a 200 bumps 200_replies, not 2xx_replies); codes outside 100..699 go to
 *  xxx_replies. */
function slBucket(status: number): number {
  if (status < 100 || status >= 700) return C['sl:xxx_replies'];
  switch (status) {
    case 200: case 202:
    case 300: case 301: case 302:
    case 400: case 401: case 403: case 404: case 407: case 408: case 483:
    case 500:
      return C[`sl:${status}_replies` as `sl:${SlName}`];
  }
  return C[`sl:${Math.floor(status / 100) as 1 | 2 | 3 | 4 | 5 | 6}xx_replies`];
}

const slCache = statusTable();
const SL_OUT_OF_RANGE: readonly number[] = Object.freeze([C['sl:xxx_replies'], SL_SENT_REPLIES, SL_SENT_ERR_REPLIES]);

/**
 * The sl:* counters to bump after sl has sent a reply with this status: its bucket and
 * sent_replies (Kamailio's sent_replies is the sum of all buckets), plus sent_err_replies for
 * status >= 300. Kamailio documents sent_err_replies as "number of sent error replies" but never
 * increments it; we count replies >= 300 so the counter means what its documentation says.
 * Not included: failures (bump SL_FAILURES when the send fails) and received_ACKs (filtered ACKs).
 * Returns a cached frozen array.
 */
export function slReplyCounters(status: number): readonly number[] {
  if (!Number.isInteger(status) || status < 0 || status > MAX_STATUS) return SL_OUT_OF_RANGE;
  return (slCache[status] ??= Object.freeze(
    status >= 300
      ? [slBucket(status), SL_SENT_REPLIES, SL_SENT_ERR_REPLIES]
      : [slBucket(status), SL_SENT_REPLIES],
  ));
}
