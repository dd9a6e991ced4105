// Client transactions for the requests viaduct originates itself (dispatcher's OPTIONS probes
// today; tm's locally generated requests later): one builder for the request, sent through a
// Transport from a listening socket (so the peer sees our SIP address:port, as with Kamailio),
// retransmitted and timed out on a TimerWheel as RFC 3261 17.1.2 says, and completed by the
// final reply whose top Via branch and CSeq method match (17.1.3).
//
// Non-INVITE only for now. INVITE needs timers A/B/D and the ACK of a non-2xx final, CANCEL
// needs the INVITE's branch: buildRequest() takes the branch and CSeq from its caller for that.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { SocketInfo } from './context.js';
import type { Transport } from './core.js';
import type { SipMessage } from './sip/message.js';
import { nextRetransmit, T2, TIMER_E, TIMER_F, TIMER_K } from './sip/timers.js';
import type { TimerWheel } from './timer/wheel.js';

/** What buildRequest() needs; everything the caller does not give gets a fresh value. */
export interface RequestSpec {
  method: string;
  ruri: string;
  /** From URI (the tag is ours). */
  from: string;
  /** To URI; default: the Request-URI. */
  to?: string;
  /** The socket whose address goes in the Via (and which sends it). */
  socket: SocketInfo;
  branch: string;
  callId?: string;
  fromTag?: string;
  cseq?: number;
  /** More header lines, each ending in CRLF ("User-Agent: viaduct\r\n"). */
  headers?: string;
  body?: string;
}

/** The one builder of requests viaduct originates: request line, Via, Max-Forwards, From, To, Call-ID, CSeq, Content-Length. */
export function buildRequest(r: RequestSpec): Buffer {
  const body = r.body ?? '';
  const text =
    `${r.method} ${r.ruri} SIP/2.0\r\n` +
    `Via: SIP/2.0/UDP ${r.socket.viaHost}:${r.socket.viaPort};branch=${r.branch};rport\r\n` +
    'Max-Forwards: 70\r\n' +
    `From: <${r.from}>;tag=${r.fromTag ?? randomBytes(4).toString('hex')}\r\n` +
    `To: <${r.to ?? r.ruri}>\r\n` +
    `Call-ID: ${r.callId ?? randomBytes(8).toString('hex')}\r\n` +
    `CSeq: ${r.cseq ?? 1} ${r.method}\r\n` +
    (r.headers ?? '') +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  return Buffer.from(text, 'utf8');
}

/** Who started a transaction: told about its replies. One object serves all its transactions. */
export interface TransactionUser<D> {
  /** A 1xx: noted (the transaction goes on retransmitting at T2), nothing else stops. */
  provisional?(tx: ClientTransaction<D>, msg: SipMessage): void;
  /** The outcome: the final reply, or 408 with msg null when the timeout fired first. */
  completed(tx: ClientTransaction<D>, code: number, reason: string, msg: SipMessage | null): void;
}

/** RFC 3261 17.1.2.2 (figure 6): the states of a non-INVITE client transaction. */
export const TxState = { Trying: 0, Proceeding: 1, Completed: 2, Terminated: 3 } as const;
export type TxState = (typeof TxState)[keyof typeof TxState];

export class ClientTransaction<D> {
  state: TxState = TxState.Trying;
  /** The last provisional code received, 0 if none. */
  provisional = 0;
  /** Retransmissions sent so far (timer E). */
  retransmissions = 0;
  /** The next retransmission interval, ms. */
  interval = TIMER_E;
  timerE = 0;
  timerF = 0;
  timerK = 0;
  constructor(
    readonly owner: ClientTransactions,
    readonly branch: string,
    readonly method: string,
    readonly bytes: Buffer,
    readonly socket: SocketInfo,
    readonly host: string,
    readonly port: number,
    readonly user: TransactionUser<D>,
    readonly data: D,
    /** When the request first left, on the owner's clock (ms). */
    readonly sentAt: number,
  ) {}
}

/** What start() needs beyond the request itself. */
export interface StartSpec extends Omit<RequestSpec, 'socket' | 'branch'> {
  /** Where to send (the next hop: dispatcher's destination, $du ...). */
  host: string;
  port: number;
  /** The socket to send from; default: the first listening socket of the destination's family. */
  socket?: SocketInfo;
  /** Timer F: when to give up with 408 (dispatcher's ds_ping_fr_timer); default 64*T1. */
  timeoutMs?: number;
}

export interface ClientTransactionsOptions {
  wheel: TimerWheel;
  transport: Transport;
  sockets: SocketInfo[];
  /** Starts every branch of ours: tells our transactions' replies apart from others'. */
  branchPrefix: string;
  /** The clock for sentAt (ms); default performance.now. */
  now?: () => number;
}

// Timer functions: top-level, the transaction is their argument (no closure per transaction).
function onTimerE(tx: ClientTransaction<unknown>): void {
  tx.owner.retransmit(tx);
}
function onTimerF(tx: ClientTransaction<unknown>): void {
  tx.owner.timeout(tx);
}
function onTimerK(tx: ClientTransaction<unknown>): void {
  tx.owner.terminate(tx);
}

/** The client transactions of one thread, keyed by branch. */
export class ClientTransactions {
  readonly branchPrefix: string;
  private readonly wheel: TimerWheel;
  private readonly transport: Transport;
  private readonly sockets: SocketInfo[];
  private readonly now: () => number;
  private readonly byBranch = new Map<string, ClientTransaction<unknown>>();
  private seq = 0;

  constructor(opts: ClientTransactionsOptions) {
    if (!opts.branchPrefix.startsWith('z9hG4bK')) throw new Error('a branch must start with the magic cookie z9hG4bK (RFC 3261 8.1.1.7)');
    this.wheel = opts.wheel;
    this.transport = opts.transport;
    this.sockets = opts.sockets;
    this.branchPrefix = opts.branchPrefix;
    this.now = opts.now ?? (() => performance.now());
  }

  /** Transactions not yet terminated (Completed ones wait out timer K). */
  get size(): number {
    return this.byBranch.size;
  }

  /** True if `branch` is one of ours (used by whoever routes replies here). */
  isOurs(branch: string | undefined): boolean {
    return branch !== undefined && branch.startsWith(this.branchPrefix);
  }

  /**
   * Builds the request, sends it and arms timers E and F. Returns the transaction, or why it
   * could not start (no socket of the destination's address family).
   */
  start<D>(spec: StartSpec, user: TransactionUser<D>, data: D): ClientTransaction<D> | string {
    const family = spec.host.includes(':') ? 6 : 4;
    const socket = spec.socket ?? this.sockets.find((s) => s.family === family);
    if (!socket) return `no IPv${family} listening socket to send to ${spec.host}`;
    if (socket.family !== family) return `socket ${socket.name} cannot send to ${spec.host}`;
    const branch = `${this.branchPrefix}${(++this.seq).toString(36)}.${randomBytes(4).toString('hex')}`;
    const bytes = buildRequest({ ...spec, socket, branch });
    const tx = new ClientTransaction<D>(this, branch, spec.method, bytes, socket, spec.host, spec.port, user, data, this.now());
    this.byBranch.set(branch, tx as ClientTransaction<unknown>);
    this.transport.send(socket.index, bytes, spec.port, spec.host);
    // UDP: retransmit at T1, 2*T1 ... T2 (17.1.2.2); a reliable transport would skip timer E
    tx.timerE = this.wheel.schedule(onTimerE, tx as ClientTransaction<unknown>, tx.interval);
    tx.timerF = this.wheel.schedule(onTimerF, tx as ClientTransaction<unknown>, spec.timeoutMs ?? TIMER_F);
    return tx;
  }

  /**
   * A reply that may belong to one of our transactions: matched by top Via branch and CSeq
   * method (RFC 3261 17.1.3). True when it did (a retransmitted final is absorbed).
   */
  receiveReply(msg: SipMessage): boolean {
    const branch = msg.topVia().branch;
    const tx = branch === undefined ? undefined : this.byBranch.get(branch);
    if (!tx || msg.cseq().method !== tx.method) return false;
    if (tx.state === TxState.Completed) return true; // timer K absorbs retransmissions
    const code = msg.status;
    if (code < 200) {
      tx.state = TxState.Proceeding;
      tx.provisional = code;
      tx.user.provisional?.(tx, msg);
      return true;
    }
    this.wheel.cancel(tx.timerE);
    this.wheel.cancel(tx.timerF);
    tx.state = TxState.Completed;
    tx.timerK = this.wheel.schedule(onTimerK, tx, TIMER_K);
    tx.user.completed(tx, code, msg.reason, msg);
    return true;
  }

  /** Timer E: send again; in Trying the interval doubles up to T2, in Proceeding it is T2. */
  retransmit(tx: ClientTransaction<unknown>): void {
    if (tx.state !== TxState.Trying && tx.state !== TxState.Proceeding) return;
    this.transport.send(tx.socket.index, tx.bytes, tx.port, tx.host);
    tx.retransmissions++;
    tx.interval = tx.state === TxState.Proceeding ? T2 : nextRetransmit(tx.interval, T2);
    tx.timerE = this.wheel.schedule(onTimerE, tx, tx.interval);
  }

  /** Timer F: no final reply in time; the user hears 408 (RFC 3261 17.1.2.2: "timeout"). */
  timeout(tx: ClientTransaction<unknown>): void {
    if (tx.state !== TxState.Trying && tx.state !== TxState.Proceeding) return;
    this.wheel.cancel(tx.timerE);
    this.terminate(tx);
    tx.user.completed(tx, 408, 'Request Timeout', null);
  }

  /** The transaction is gone: later replies with its branch are not ours any more. */
  terminate(tx: ClientTransaction<unknown>): void {
    tx.state = TxState.Terminated;
    this.byBranch.delete(tx.branch);
  }

  /** Drops every transaction without telling its user (shutdown). */
  clear(): void {
    for (const tx of this.byBranch.values()) {
      this.wheel.cancel(tx.timerE);
      this.wheel.cancel(tx.timerF);
      this.wheel.cancel(tx.timerK);
      tx.state = TxState.Terminated;
    }
    this.byBranch.clear();
  }
}
