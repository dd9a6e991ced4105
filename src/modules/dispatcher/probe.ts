// Keep-alive probing (Kamailio's ds_ping_interval): the main thread sends OPTIONS to the
// destinations the probing mode picks, with client transactions of its own (retransmission from
// T1 doubling to T2, a final timeout after ds_ping_fr_timer), and moves each destination between
// active, trying and inactive by the thresholds. Probes go from a socket of their own on the
// listening IP (an ephemeral port), so their replies come straight back here whatever thread
// reads the listening sockets.
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { parseMessage } from '../../core/sip/parser.js';
import type { Logger } from '../../core/log.js';
import { DS_DISABLED, DS_INACTIVE, DS_NODNSARES, DS_NOPING, DS_PROBING, DS_TRYING } from './list.js';
import { F_LAT_AVG, F_LAT_COUNT, F_LAT_EST, F_LAT_M2, F_LAT_MAX, F_LAT_STD, F_PROBE_FAILS, F_TIMEOUTS, type DsTable } from './table.js';

const T1 = 500;
const T2 = 4000;
const ALPHA = 0.9; // latency estimate: est = est*alpha + x*(1-alpha), Kamailio's default 900/1000

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
  /** listening IPs to send from, by family */
  sourceIp: { 4?: string; 6?: string };
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

interface InFlight {
  dest: number;           // index in the table the probe was sent for
  table: DsTable;
  sentAt: number;
  timer: NodeJS.Timeout;
  retransmit: number;     // next retransmission interval, ms
  bytes: Buffer;
  family: 4 | 6;
}

export type StateChange = (table: DsTable, dest: number, up: boolean, code: number, reason: string) => void;

export class Prober {
  private readonly sockets = new Map<4 | 6, dgram.Socket>();
  private readonly inFlight = new Map<string, InFlight>();
  private interval: NodeJS.Timeout | null = null;
  active = true; // dispatcher.ping_active

  constructor(
    private readonly opts: ProbeOptions,
    private readonly table: () => DsTable,
    private readonly onChange: StateChange,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    for (const family of [4, 6] as const) {
      const ip = this.opts.sourceIp[family];
      if (!ip) continue;
      const s = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
      s.on('message', (buf) => this.onReply(buf));
      s.on('error', (e) => this.log.warn(`dispatcher probe socket: ${e.message}`));
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind({ address: ip, port: 0 }, () => { s.off('error', reject); resolve(); });
      });
      this.sockets.set(family, s);
    }
    if (this.opts.intervalS > 0) {
      this.interval = setInterval(() => this.round(), this.opts.intervalS * 1000);
      this.interval.unref();
      this.round();
    }
  }

  stop(): void {
    if (this.interval) clearInterval(this.interval);
    for (const f of this.inFlight.values()) clearTimeout(f.timer);
    this.inFlight.clear();
    for (const s of this.sockets.values()) s.close();
    this.sockets.clear();
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
    const busy = new Set([...this.inFlight.values()].filter((f) => f.table === t).map((f) => f.dest));
    t.dests.forEach((_, i) => {
      if (!busy.has(i) && this.wanted(t, i)) this.send(t, i);
    });
  }

  private send(t: DsTable, i: number): void {
    const d = t.dests[i]!;
    const family: 4 | 6 = d.host.includes(':') ? 6 : 4;
    const sock = this.sockets.get(family);
    if (!sock) {
      this.settle(t, i, 500, 'no socket of the destination\'s address family', 0);
      return;
    }
    const { address, port } = sock.address();
    const branch = `z9hG4bKvdping${randomBytes(6).toString('hex')}`;
    const sentBy = family === 6 ? `[${address}]:${port}` : `${address}:${port}`;
    const from = d.attrs.ping_from || this.opts.from;
    const text = [
      `${this.opts.method} ${d.uri} SIP/2.0`,
      `Via: SIP/2.0/UDP ${sentBy};branch=${branch};rport`,
      'Max-Forwards: 70',
      `From: <${from}>;tag=${randomBytes(4).toString('hex')}`,
      `To: <${d.uri}>`,
      `Call-ID: ${randomBytes(8).toString('hex')}@viaduct.dispatcher`,
      `CSeq: 10 ${this.opts.method}`,
      'User-Agent: viaduct dispatcher',
      'Content-Length: 0',
      '', '',
    ].join('\r\n');
    const bytes = Buffer.from(text, 'utf8');
    const f: InFlight = { dest: i, table: t, sentAt: performance.now(), timer: null as unknown as NodeJS.Timeout, retransmit: T1, bytes, family };
    this.inFlight.set(branch, f);
    const transmit = (): void => {
      sock.send(bytes, d.port, d.host, (err) => { if (err) this.log.dbg(`dispatcher probe to ${d.uri}: ${err.message}`); });
    };
    transmit();
    // retransmit T1, 2*T1 ... up to T2 until the final timeout (RFC 3261 17.1.2.2)
    const deadline = f.sentAt + this.opts.frTimerMs;
    const tick = (): void => {
      const now = performance.now();
      if (now >= deadline - 1) {
        this.inFlight.delete(branch);
        t.setLatency(i, F_TIMEOUTS, t.latency(i, F_TIMEOUTS) + 1);
        this.settle(t, i, 408, 'Request Timeout', 0);
        return;
      }
      transmit();
      f.retransmit = Math.min(f.retransmit * 2, T2);
      f.timer = setTimeout(tick, Math.min(f.retransmit, deadline - performance.now()));
    };
    f.timer = setTimeout(tick, Math.min(T1, this.opts.frTimerMs));
  }

  private onReply(buf: Buffer): void {
    let status: number;
    let reason: string;
    let branch: string | undefined;
    try {
      const msg = parseMessage(buf);
      if (msg.isRequest) return;
      status = msg.status;
      reason = msg.reason;
      branch = msg.topVia().branch;
    } catch {
      return;
    }
    const f = branch === undefined ? undefined : this.inFlight.get(branch);
    if (!f || status < 200) return;
    clearTimeout(f.timer);
    this.inFlight.delete(branch!);
    this.settle(f.table, f.dest, status, reason, performance.now() - f.sentAt);
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
