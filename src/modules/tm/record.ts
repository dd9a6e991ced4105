// The transaction record: everything tm knows about one transaction, in one plain shape (Buffers,
// Maps, strings and numbers; no functions, no timer handles, no parsed messages). The SIP thread
// that owns the Call-ID keeps it in its Maps (tm.ts, beside the timer handles and parsed copies it
// needs); the shared-memory store writes exactly this record (store/codec.ts), and a thread that
// adopts it rebuilds the rest from the deadlines here.
import type { AvpMap, XavpMap } from '../../core/context.js';
import type { Lump } from '../../core/lumps.js';

/** Server transaction states (RFC 3261 17.2.1, 17.2.2). */
export const TX_TRYING = 0;      // no reply sent upstream yet
export const TX_PROCEEDING = 1;  // a provisional sent upstream
export const TX_COMPLETED = 2;   // a final sent upstream: waits wt_timer for retransmissions and the ACK
export const TX_TERMINATED = 3;  // gone (freed)

/** Client branch states (RFC 3261 17.1.1, 17.1.2). */
export const BR_CALLING = 0;     // sent, no reply: retransmitted by timer A/E
export const BR_PROCEEDING = 1;  // a provisional received
export const BR_COMPLETED = 2;   // a final received, or the local 408 of a timeout

/** Branch cancel states (cancel_b_method 1: a CANCEL waits for the branch's provisional). */
export const CANCEL_NONE = 0;
export const CANCEL_PENDING = 1;
export const CANCEL_SENT = 2;

/** TxRecord.tFlags bits. */
export const T_NO_AUTO_100 = 1;          // t_set_auto_inv_100(0)
export const T_AUTO_100 = 2;             // t_set_auto_inv_100(1) (overrides the module parameter)
export const T_DISABLE_INTERNAL_REPLY = 4;

export interface BranchRecord {
  /** Our Via's branch on the request sent (replies, CANCEL and ACK are matched by it). */
  branch: string;
  /** Where the request went: socket index, host and port; `uri` as the script gave it ('' for the R-URI/$du). */
  sock: number;
  host: string;
  port: number;
  uri: string;
  state: number;
  /** The last reply code received, 408 for a timeout, 0 before any. */
  lastCode: number;
  lastReason: string;
  /** The final reply as it goes upstream (our Via removed, the onreply route's changes applied). */
  finalReply: Buffer | null;
  /** The request as sent, retransmitted by timers A/E. */
  request: Buffer;
  /** Deadlines on the thread's monotonic clock (performance.now(), ms); 0: not armed. */
  retrAt: number;
  retrInterval: number;
  frAt: number;
  cancel: number;
  /** The CANCEL sent to this branch, retransmitted by timer E until its reply or fr_timer; null before. */
  cancelRequest: Buffer | null;
  cancelRetrAt: number;
  cancelRetrInterval: number;
  cancelEndAt: number;
  timedOut: boolean;
  /** failure_reply_mode: an earlier serial leg's branch does not take part in the best-reply choice. */
  dropped: boolean;
}

export interface TxRecord {
  /** RFC 3261 17.2.3: top Via branch + sent-by + method (ACK looks up its INVITE). */
  key: string;
  method: string;
  methodId: number;
  callId: string;
  state: number;
  /** The request as received (a copy): failure routes and local replies are built from it. */
  request: Buffer;
  srcIp: string;
  srcPort: number;
  sock: number;
  /** Where replies go upstream (RFC 3261 18.2.2: received/rport of the top Via). */
  replyHost: string;
  replyPort: number;
  /** What the request route changed, re-applied to the stored request in a failure route. */
  ruri: string | null;
  rr: string | null;
  rrParams: string;
  /** The request route's header edits (append_hf, remove_hf ...) at the first t_relay: offsets into `request`. */
  lumps: Lump[];
  /** Max-Forwards was already processed by the script when they were saved (maxfwd's own lump is among them). */
  maxfwdDone: boolean;
  /** The status of the last reply sent upstream and its bytes (resent on a retransmitted request). */
  uasCode: number;
  lastReply: Buffer | null;
  branches: BranchRecord[];
  /** Armed routes: script function names ('' none). */
  onReply: string;
  onFailure: string;
  onBranch: string;
  /** event_route[tm:branch-failure:NAME] armed by t_on_branch_failure ('' none). */
  onBranchFailure: string;
  flags: number;
  /** Per-transaction switches (T_* bits below: t_set_auto_inv_100, t_set_disable_internal_reply ...). */
  tFlags: number;
  /** $avp: the request route's AVPs; the onreply and failure routes see them (null: none set). */
  avps: AvpMap | null;
  /** $xavp: likewise (the dispatcher's failover list _dsdst_ lives here). */
  xavps: XavpMap | null;
  /** Timers for this transaction (t_set_fr), ms. */
  frTimer: number;
  frInvTimer: number;
  /** t_set_retr: T1 and T2 of this transaction's branches, ms. */
  retr1: number;
  retr2: number;
  /** Timer G (RFC 3261 17.2.1): a negative final of ours retransmitted upstream until the ACK; 0: not armed. */
  uasRetrAt: number;
  uasRetrInterval: number;
  /** Timer H: when the retransmissions give up waiting for the ACK (0: not armed). */
  uasRetrEndAt: number;
  /** Deadline of timer C (max_inv_lifetime) / max_noninv_lifetime; and of the wait timer once completed. */
  endAt: number;
  waitAt: number;
  canceled: boolean;
  createdAt: number;
}
