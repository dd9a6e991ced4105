// Keep-alive probing (Kamailio's ds_ping_interval): the main thread sends OPTIONS to the
// destinations the probing mode picks, as client transactions (core/client-transaction.ts:
// retransmission per timer E, a final timeout after ds_ping_fr_timer) from the listening socket,
// as Kamailio does: carriers that accept only our SIP address:port see the probes come from it.
// Their replies arrive at that socket, so a SIP thread reads them: claimProbeReply() takes them
// there before stateless forwarding and hands them here. Each outcome moves the destination
// between active, trying and inactive by the thresholds.
import { performance } from 'node:perf_hooks';
import type { MsgContext, SocketInfo } from '../../core/context.js';
import type { Transport } from '../../core/core.js';
import { ClientTransactions, type ClientTransaction, type TransactionUser } from '../../core/client-transaction.js';
import { parseMessage } from '../../core/sip/parser.js';
import { L_DBG, type Logger } from '../../core/log.js';
import type { TimerHandle, TimerWheel } from '../../core/timer/wheel.js';
import { DS_DISABLED, DS_INACTIVE, DS_NODNSARES, DS_NOPING, DS_PROBING, DS_TRYING } from './list.js';
import { F_LAT_AVG, F_LAT_COUNT, F_LAT_EST, F_LAT_M2, F_LAT_MAX, F_LAT_STD, F_PROBE_FAILS, F_TIMEOUTS, type DsTable } from './table.js';

const ALPHA = 0.9; // latency estimate: est = est*alpha + x*(1-alpha), Kamailio's default 900/1000

/** Every probe's Via branch starts with this: how a SIP thread tells a probe's reply from others. */
export const PROBE_BRANCH_PREFIX = 'z9hG4bKvdping.';

export interface ProbeOptions {
  intervalS: number;
  method: string;
  from: string;
  frTimerMs: number;
  probingThreshold: number;
  inactiveThreshold: number;
  /** accepted besides 2xx: exact codes and classes (ds_ping_reply_codes) */
  replyCodes: { codes: Set<number>; classes: Set<number> };
  mode: number;
  /** The User-Agent line of the probes (settings' user_agent_header), CRLF included; '' for none. */
  headers?: string;
}

/** How the prober reaches the network: the main thread's wheel, and a transport over the listening sockets. */
export interface ProbeIo {
  wheel: TimerWheel;
  transport: Transport;
  sockets: SocketInfo[];
}

/** "class=2;code=403;code=488" -> codes and classes; throws on a bad entry. */
export function parseReplyCodes(text: string): { codes: Set<number>; classes: Set<number> } {
  const out = { codes: new Set<number>(), classes: new Set<number>() };
  for (const part of text.split(';').map((p) => p.trim()).filter(Boolean)) {
    const m = /^(code|class)\s*=\s*(\d+)$/i.exec(part);
    const n = m ? Number(m[2]) : NaN;
    if (m && m[1]!.toLowerCase() === 'code' && n >= 100 && n <= 699) out.codes.add(n);
    else if (m && m[1]!.toLowerCase() === 'class' && n >= 1 && n <= 6) out.classes.add(n);
    else throw new Error(`bad ds_ping_reply_codes entry "${part}" (code=100..699 or class=1..6)`);
  }
  return out;
}

/** What a probe transaction was sent for. */
interface ProbeTarget {
  table: DsTable;
  dest: number;           // index in the table
}

/** What a SIP thread hands the main thread: a reply to a probe, copied out of the receive slot. */
export interface ProbeReplyMessage {
  kind: 'probe-reply';
  bytes: Uint8Array;
}

/**
 * On a SIP thread, the dispatcher's reply hook: takes the replies to our probes (the core runs
 * reply hooks only once the top Via is ours; its branch is a probe's) before stateless
 * forwarding and sends them to `toMain`. Built once per thread.
 */
export function probeReplyClaimer(toMain: (m: ProbeReplyMessage) => void): (ctx: MsgContext) => boolean {
  return (ctx) => {
    const top = ctx.msg.topVia();
    if (top.branch === undefined || !top.branch.startsWith(PROBE_BRANCH_PREFIX)) return false;
    const buf = ctx.msg.buf;
    const bytes = new Uint8Array(buf.length); // its own memory: the received bytes live in a reused slot
    bytes.set(buf);
    toMain({ kind: 'probe-reply', bytes });
    return true;
  };
}

function onRoundTimer(p: Prober): void {
  p.round();
  p.armRound();
}

export type StateChange = (table: DsTable, dest: number, up: boolean, code: number, reason: string) => void;

export class Prober implements TransactionUser<ProbeTarget> {
  private readonly txs: ClientTransactions;
  private readonly inFlight = new Set<ClientTransaction<ProbeTarget>>();
  private roundTimer: TimerHandle = 0;
  active = true; // dispatcher.ping_active

  constructor(
    private readonly opts: ProbeOptions,
    private readonly io: ProbeIo,
    private readonly table: () => DsTable,
    private readonly onChange: StateChange,
    private readonly log: Logger,
  ) {
    this.txs = new ClientTransactions({ wheel: io.wheel, transport: io.transport, sockets: io.sockets, branchPrefix: PROBE_BRANCH_PREFIX });
  }

  /** Probes every ds_ping_interval seconds, the first round one interval after start (Kamailio's timer). */
  start(): void {
    if (this.opts.intervalS > 0) this.armRound();
  }

  armRound(): void {
    this.roundTimer = this.io.wheel.schedule(onRoundTimer, this, this.opts.intervalS * 1000);
  }

  stop(): void {
    this.io.wheel.cancel(this.roundTimer);
    this.roundTimer = 0;
    this.txs.clear();
    this.inFlight.clear();
  }

  /** A reply a SIP thread claimed for us; unknown or broken ones are ignored. */
  receiveReply(m: ProbeReplyMessage): void {
    try {
      const msg = parseMessage(Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength));
      if (!msg.isRequest && !this.txs.receiveReply(msg)) this.log.dbg('dispatcher: a reply to a probe no longer pending');
    } catch (e) {
      this.log.limited(L_DBG, 'dispatcher:bad-reply', `dispatcher: unreadable probe reply: ${(e as Error).message}`);
    }
  }

  /** Destinations this round probes (Kamailio's ds_ping_set and ds_probing_mode). */
  private wanted(t: DsTable, i: number): boolean {
    const f = t.flags(i);
    if (f & (DS_DISABLED | DS_NOPING | DS_NODNSARES)) return false;
    switch (this.opts.mode) {
      case 1: return true;
      case 2: return (f & DS_PROBING) !== 0 && (f & DS_INACTIVE) !== 0;
      default: return (f & DS_PROBING) !== 0; // 0 and 3
    }
  }

  /** One probing round: a probe to every wanted destination without one in flight. */
  round(): void {
    if (!this.active) return;
    const t = this.table();
    const busy = new Set<number>();
    for (const tx of this.inFlight) if (tx.data.table === t) busy.add(tx.data.dest);
    t.dests.forEach((_, i) => {
      if (!busy.has(i) && this.wanted(t, i)) this.send(t, i);
    });
  }

  private send(t: DsTable, i: number): void {
    const d = t.dests[i]!;
    const tx = this.txs.start({
      method: this.opts.method,
      ruri: d.uri,
      from: d.attrs.ping_from || this.opts.from,
      cseq: 10,
      headers: this.opts.headers,
      host: d.host,
      port: d.port,
      // a destination's socket attribute picks the socket its probes leave from, as in Kamailio
      socket: d.attrs.socket ? this.io.sockets.find((s) => s.name === d.attrs.socket) : undefined,
      timeoutMs: this.opts.frTimerMs,
    }, this, { table: t, dest: i });
    if (typeof tx === 'string') this.settle(t, i, 500, tx, 0);
    else this.inFlight.add(tx);
  }

  /** TransactionUser: a final reply, or 408 from timer F (ds_ping_fr_timer). */
  completed(tx: ClientTransaction<ProbeTarget>, code: number, reason: string, msg: unknown): void {
    this.inFlight.delete(tx);
    const { table: t, dest: i } = tx.data;
    if (msg === null) {
      if (t !== this.table()) return;
      t.setLatency(i, F_TIMEOUTS, t.latency(i, F_TIMEOUTS) + 1);
      this.settle(t, i, 408, reason, 0);
      return;
    }
    this.settle(t, i, code, reason, performance.now() - tx.sentAt);
  }

  private accepted(code: number): boolean {
    return (code >= 200 && code < 300) || this.opts.replyCodes.codes.has(code) || this.opts.replyCodes.classes.has(Math.floor(code / 100));
  }

  /** A probe's outcome: latency statistics, then the state machine. */
  private settle(t: DsTable, i: number, code: number, reason: string, latencyMs: number): void {
    if (t !== this.table()) return; // reloaded meanwhile: the new table starts afresh
    if (t.flags(i) & DS_DISABLED) return;
    const ok = this.accepted(code);
    if (ok && code !== 408) recordLatency(t, i, latencyMs);
    if (!ok) t.setLatency(i, F_PROBE_FAILS, t.latency(i, F_PROBE_FAILS) + 1);
    const before = t.usable(i);
    const flags = t.flags(i);
    if (ok) {
      t.setFails(i, 0);
      if (flags & DS_INACTIVE) {
        const n = t.oks(i) + 1;
        if (n >= this.opts.inactiveThreshold) { t.setOks(i, 0); t.setState(i, 0); } else t.setOks(i, n);
      } else {
        t.setOks(i, 0);
        t.setState(i, 0);
      }
    } else {
      t.setOks(i, 0);
      if (flags & DS_INACTIVE) {
        // stays inactive (and probed, so that it can come back)
      } else {
        const n = t.fails(i) + 1;
        if (n >= this.opts.probingThreshold) { t.setFails(i, 0); t.setState(i, DS_INACTIVE); } else { t.setFails(i, n); t.setState(i, DS_TRYING); }
      }
    }
    // a destination keeps being probed while it is down (Kamailio shows "IP")
    if (this.opts.mode !== 1 && !(t.flags(i) & DS_PROBING) && (t.flags(i) & DS_INACTIVE)) t.setState(i, t.flags(i), true);
    const after = t.usable(i);
    if (before !== after) {
      this.log.notice(`dispatcher: ${t.dests[i]!.uri} (set ${t.dests[i]!.setid}) is ${after ? 'up' : 'down'} (${code} ${reason})`);
      this.onChange(t, i, after, code, reason);
    }
  }
}

/** Welford's running mean and deviation, and the exponentially weighted estimate. */
export function recordLatency(t: DsTable, i: number, x: number): void {
  const count = t.latency(i, F_LAT_COUNT) + 1;
  t.setLatency(i, F_LAT_COUNT, count);
  if (count === 1) {
    t.setLatency(i, F_LAT_AVG, x);
    t.setLatency(i, F_LAT_STD, 0);
    t.setLatency(i, F_LAT_EST, x);
    t.setLatency(i, F_LAT_MAX, x);
    t.setLatency(i, F_LAT_M2, 0);
    return;
  }
  const avg = t.latency(i, F_LAT_AVG);
  const d = x - avg;
  const nextAvg = avg + d / count;
  const nextM2 = t.latency(i, F_LAT_M2) + d * (x - nextAvg);
  t.setLatency(i, F_LAT_M2, nextM2);
  t.setLatency(i, F_LAT_AVG, nextAvg);
  t.setLatency(i, F_LAT_STD, Math.sqrt(nextM2 / (count - 1)));
  t.setLatency(i, F_LAT_MAX, Math.max(t.latency(i, F_LAT_MAX), x));
  t.setLatency(i, F_LAT_EST, count < 10 ? nextAvg : t.latency(i, F_LAT_EST) * ALPHA + x * (1 - ALPHA));
}
