// A transaction as the shared-memory store keeps it: the contract between the tm logic (which
// owns the live JS objects on its thread) and the store (which any thread can read, and from
// which a restarted worker rebuilds them). Plain data only: what is needed to go on with the
// transaction on another thread (answer a retransmission, retransmit a branch, run a failure
// route with the stored request), not the parsed message objects.

/** Transaction states (RFC 3261 17.2; a client branch uses the same names). */
export const TM_STATE = {
  TRYING: 0,
  PROCEEDING: 1,
  COMPLETED: 2,
  CONFIRMED: 3,
  TERMINATED: 4,
} as const;
export type TmState = (typeof TM_STATE)[keyof typeof TM_STATE];
export const TM_STATE_NAMES = ['trying', 'proceeding', 'completed', 'confirmed', 'terminated'] as const;

/** One outgoing branch (Kamailio's struct ua_client). Times are Date.now() milliseconds, 0 = not armed. */
export interface TmBranch {
  /** the request URI sent to */
  uri: string;
  /** where it was sent: "udp:192.0.2.1:5060" */
  dst: string;
  /** the local socket it left from: "udp:127.0.0.1:5060" */
  socket: string;
  /** the Via branch parameter of this branch */
  branchId: string;
  state: TmState;
  /** last reply code received on the branch, 0 when none */
  lastCode: number;
  /** current retransmission interval (ms), doubling from T1 */
  retrInterval: number;
  /** next retransmission (timer A/E), 0 when not armed */
  retrNext: number;
  /** final response deadline (timer B/F, fr_timer, fr_inv_timer), 0 when not armed */
  frDeadline: number;
  /** branch flags */
  flags: number;
  /** the request as sent, to retransmit (and to build the CANCEL from) */
  request: Uint8Array;
}

/** The transaction (Kamailio's struct cell). */
export interface TmRecord {
  /** see tmKey(): the store's key */
  key: string;
  /** counters row of the thread that owns it (the Call-ID's worker) */
  owner: number;
  callId: string;
  method: string;
  state: TmState;
  /** Date.now() when created */
  created: number;
  /** max_inv_lifetime / max_noninv_lifetime deadline */
  lifetimeDeadline: number;
  /** the request as received */
  request: Uint8Array;
  /** the last reply sent upstream (to repeat on a retransmitted request), empty when none */
  reply: Uint8Array;
  replyCode: number;
  /** armed route names, '' when not armed */
  onReply: string;
  onFailure: string;
  onBranch: string;
  onBranchFailure: string;
  /** the message flags (setflag) */
  msgFlags: number;
  /** the per-transaction switches (t_set_auto_inv_100, t_set_disable_internal_reply ...) */
  tFlags: number;
  /** $avp, as MsgContext.avps */
  avps: Map<string, (string | number)[]> | null;
  branches: TmBranch[];
}

const MAGIC_COOKIE = 'z9hG4bK';

/**
 * The key of a server transaction (RFC 3261 17.2.3): branch + sent-by + method, where an ACK
 * matches its INVITE. A branch without the magic cookie (RFC 2543 peer) uses the fallback:
 * Request-URI, From tag, Call-ID, CSeq number, top Via (and, for an ACK, the To tag is left out
 * because the INVITE's 2543 key has none). The separators cannot occur in those fields.
 */
export function tmKey(branch: string, sentBy: string, method: string): string {
  return `${branch}\n${sentBy.toLowerCase()}\n${method === 'ACK' ? 'INVITE' : method}`;
}

export function tmKey2543(ruri: string, fromTag: string, callId: string, cseqNum: number, topVia: string, method: string): string {
  return `2543\n${ruri}\n${fromTag}\n${callId}\n${cseqNum}\n${topVia}\n${method === 'ACK' ? 'INVITE' : method}`;
}

/** Whether the RFC 3261 key applies to a Via branch parameter. */
export function isRfc3261Branch(branch: string): boolean {
  return branch.startsWith(MAGIC_COOKIE);
}

/** The earliest armed deadline of the record (timers to re-arm after adoption), 0 when none. */
export function nextDeadline(r: TmRecord): number {
  let d = r.lifetimeDeadline;
  for (const b of r.branches) {
    if (b.retrNext > 0 && (d === 0 || b.retrNext < d)) d = b.retrNext;
    if (b.frDeadline > 0 && (d === 0 || b.frDeadline < d)) d = b.frDeadline;
  }
  return d;
}
