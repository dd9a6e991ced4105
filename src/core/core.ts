// The SIP core of one thread: what Kamailio's receive_msg(), forward_request() and
// forward_reply() do. A SIP thread owns one SipCore and feeds it datagrams. The pipeline:
//   request: parse -> the checks RFC 3261 16.3 requires of a proxy -> module request hooks (sl
//            absorbs the ACK of its own reply; tm will absorb retransmissions) -> the script
//   reply:   parse -> module reply hooks (tm will claim its transactions' replies) -> the reply
//            route -> stateless forwarding by the next Via
//   forward: module forward hooks (maxfwd: RFC 3261 16.6 step 3) -> loop check -> our Via and
//            the hooks' header lines (rr: Record-Route) -> the onsend route -> send
// Modules join through the hooks of their export tables (modules/module.ts CoreHooks).
import { performance } from 'node:perf_hooks';
import type { Settings } from './config.js';
import { MsgContext, type SocketInfo } from './context.js';
import { fnv1a, hex32 } from './hash.js';
import { errorLine, L_DBG, L_ERR, type Logger } from './log.js';
import { applyLumps, type Lump } from './lumps.js';
import { topViaAdditions } from './via.js';
import { ROUTE, type CoreHooks } from '../modules/module.js';
import { sendStatelessReply } from '../modules/sl/reply.js';

const lump = (start: number, end: number, text: string): Lump => ({ start, end, text, seq: 1e9 });
import { HDR } from './sip/headers.js';
import type { SipMessage, Via } from './sip/message.js';
import { METHOD_ACK } from './sip/methods.js';
import { parseMessage, SipLimitError, SipParseError, type ParseLimits } from './sip/parser.js';
import { formatHostPort, parseUri, type SipUri } from './sip/uri.js';
import { canReplyTo, validateMessage, type ValidateOptions } from './sip/validate.js';
import { C, methodCounter, replyCounters, type ThreadCounters } from './stats/counters.js';
import { recordProcessingTime } from './stats/histogram.js';
import type { Histogram } from 'hdr-histogram-js';

export interface Transport {
  send(sockIndex: number, data: Buffer, port: number, host: string): void;
  /** True when send() is done with `data` when it returns (native: sent or copied): then the core
   *  serializes every message into one reused buffer instead of a new one. */
  readonly copiesOnSend?: boolean;
}

/** Thrown by KSR.x.exit() / KSR.x.drop() to end the route; caught by the core. */
export const EXIT = Symbol('ksr-exit');

export type RouteFn = () => unknown;

export interface Routes {
  request?: RouteFn;
  reply?: RouteFn;
  onsend?: RouteFn;
  named(name: string): RouteFn | undefined;
}

export interface Destination { host: string; port: number; family: 4 | 6 }

const uriCache = new Map<string, SipUri>();
/** Longer URIs are not kept: 1024 hostile 60 KB Route URIs would hold 60 MB per thread. */
const URI_CACHE_MAX_LENGTH = 512;
let longUri = '';
let longParsed: SipUri | undefined;

/** parseUri with a small cache: scripts forward to the same few URIs over and over. */
export function parseUriCached(s: string): SipUri {
  let u = uriCache.get(s);
  if (u === undefined) {
    if (s.length > URI_CACHE_MAX_LENGTH) {
      // only the last one: routing a message asks for the same URI several times
      if (s !== longUri) {
        longParsed = parseUri(s); // may throw: then nothing is kept
        longUri = s;
      }
      return longParsed!;
    }
    u = parseUri(s);
    if (uriCache.size > 1024) uriCache.clear();
    uriCache.set(s, u);
  }
  return u;
}

function isIPv6Literal(host: string): boolean {
  return host.includes(':');
}

type Hook = (ctx: MsgContext) => boolean;

export class SipCore {
  /** The message being routed: this thread's datagram context, or a stored message's (withContext). */
  ctx: MsgContext = new MsgContext(this);
  routes: Routes = { named: () => undefined };
  /** The kind of route running (modules/module.ts ROUTE): KEMI functions check it. */
  routeKind: number = ROUTE.REQUEST;
  /** Tests: rethrow what a route throws instead of logging and counting it. */
  rethrowScriptErrors = false;
  /** The core's RFC 3261 16.3 checks; the sanity module's proxy_require fills the option-tags we support. */
  readonly validateOptions: { proxyRequire: readonly string[] } & ValidateOptions = { proxyRequire: [] };
  /** The Server header line of local replies, CRLF included ('' for none: server_signature off). */
  readonly serverHeader: string;
  // the modules' hooks (installHooks), in registry order
  private requestHooks: Hook[] = [];
  private replyHooks: Hook[] = [];
  private forwardHooks: Hook[] = [];
  private forwardHeaderHooks: ((ctx: MsgContext, out: SocketInfo) => string)[] = [];
  /** Where forwarded messages are serialized when the transport copies on send. */
  private readonly scratch: Buffer | undefined;
  /** sip_max_headers, sip_max_header_size; sip_max_msg_size is checked before parsing. */
  private readonly parseLimits: ParseLimits;
  private readonly maxMsgSize: number;
  /** "host:port" (lower case, IPv6 bracketed) of every socket and alias: is_myself. */
  private readonly myself = new Set<string>();
  /** Socket addresses as received in Via/URIs most of the time, checked before the Set. */
  private readonly myHosts: { host: string; port: number }[] = [];
  /** Per socket, our Via up to the hash in its branch: "Via: SIP/2.0/UDP host:port;branch=z9hG4bKvd". */
  private readonly viaStart: string[];

  constructor(
    readonly settings: Settings,
    readonly sockets: SocketInfo[],
    readonly transport: Transport,
    readonly counters: ThreadCounters,
    readonly log: Logger,
    readonly histogram: Histogram | null,
    /** Prefix of this server instance's To-tags (sl recognises the ACKs of its replies by it). */
    readonly instanceTag: string,
  ) {
    this.serverHeader = settings.serverHeader ? `${settings.serverHeader}\r\n` : '';
    this.viaStart = sockets.map((s) => `Via: SIP/2.0/UDP ${s.viaHost}:${s.viaPort};branch=z9hG4bKvd`);
    this.scratch = transport.copiesOnSend ? Buffer.allocUnsafe(65536) : undefined;
    this.parseLimits = { maxHeaders: settings.sipMaxHeaders, maxHeaderSize: settings.sipMaxHeaderSize };
    this.maxMsgSize = settings.sipMaxMsgSize;
    for (const s of sockets) {
      this.myself.add(`${formatHostPort(s.bindHost, 0).toLowerCase()}:${s.port}`);
      this.myself.add(`${s.viaHost.toLowerCase()}:${s.viaPort}`);
      this.myHosts.push({ host: s.bindHost, port: s.port }, { host: s.viaHost.replace(/^\[|\]$/g, ''), port: s.viaPort });
    }
    for (const a of settings.alias) {
      const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(a.trim());
      if (!m) continue;
      const host = m[1].toLowerCase();
      if (m[2]) this.myself.add(`${host}:${m[2]}`);
      else for (const s of sockets) this.myself.add(`${host}:${s.port}`);
    }
  }

  /** Joins the modules' hooks to the pipeline (modules/index.ts order). */
  installHooks(hooks: CoreHooks[]): void {
    this.requestHooks = hooks.flatMap((h) => (h.request ? [h.request] : []));
    this.replyHooks = hooks.flatMap((h) => (h.reply ? [h.reply] : []));
    this.forwardHooks = hooks.flatMap((h) => (h.forward ? [h.forward] : []));
    this.forwardHeaderHooks = hooks.flatMap((h) => (h.forwardHeaders ? [h.forwardHeaders] : []));
  }

  // ---------------------------------------------------------------- receive

  /** Processes one datagram received on socket `sockIndex`. Never throws. */
  receive(buf: Buffer, srcIp: string, srcPort: number, sockIndex: number): void {
    const t0 = this.histogram ? performance.now() : 0;
    const sock = this.sockets[sockIndex];
    let msg: SipMessage;
    try {
      if (buf.length > this.maxMsgSize) throw new SipLimitError(`message over ${this.maxMsgSize} bytes`);
      msg = parseMessage(buf, this.parseLimits);
    } catch (e) {
      if (e instanceof SipLimitError) {
        this.overLimit(buf, srcIp, srcPort, sock, e.reason);
        return;
      }
      this.counters.inc(C.bad_msg_hdr);
      this.log.limited(L_DBG, 'core:unparsable', `dropping unparsable message from ${srcIp}:${srcPort}: ${(e as Error).message}`);
      this.replyToBroken(buf, srcIp, srcPort, sock, e);
      return;
    }
    const ctx = this.ctx;
    ctx.reset(msg, srcIp, srcPort, sock);
    try {
      if (msg.isRequest) this.onRequest(ctx, msg);
      else this.onReply(ctx, msg);
    } catch (e) {
      if (e instanceof SipParseError) {
        this.counters.inc(msg.isRequest ? C.err_requests : C.err_replies);
        this.counters.inc(C.bad_msg_hdr);
        this.log.limited(L_DBG, 'core:bad-header', `bad header in message from ${srcIp}:${srcPort}: ${e.reason}`);
      } else {
        this.counters.inc(C['viaduct:script_errors']);
        if (this.rethrowScriptErrors) throw e;
        // one line with the script's place, limited per distinct error: a script that trusts
        // its input throws on every malformed message of a flood
        const line = errorLine(e);
        this.log.limited(L_ERR, `script:${line}`, `error processing message from ${srcIp}:${srcPort}: ${line}`);
      }
    }
    if (this.histogram) recordProcessingTime(this.histogram, (performance.now() - t0) * 1e6);
  }

  /**
   * A message over a sip_max_* limit, counted: a request is answered 513 when a reply can be
   * addressed (RFC 3261 21.5.14), anything else dropped. Finding the headers a reply echoes takes
   * one parse without limits: linear in the message, and no more than routing it would cost.
   */
  private overLimit(buf: Buffer, srcIp: string, srcPort: number, sock: SocketInfo, why: string): void {
    const c = this.counters;
    c.inc(C['viaduct:oversized_msgs']);
    this.log.dbg(`message from ${srcIp}:${srcPort} over a limit (${buf.length} bytes): ${why}`);
    let msg: SipMessage;
    try {
      msg = parseMessage(buf);
    } catch {
      c.inc(buf.length >= 4 && buf.toString('latin1', 0, 4) === 'SIP/' ? C.err_replies : C.err_requests);
      return;
    }
    if (!msg.isRequest) {
      c.inc(C.err_replies);
      return;
    }
    c.inc(C.err_requests);
    this.ctx.reset(msg, srcIp, srcPort, sock);
    if (sendStatelessReply(this.ctx, 513, `Message Too Large (${why})`) < 0) c.inc(C.drop_requests);
  }

  /** A request whose framing is broken: answer 400 if the headers a reply needs still parse. */
  private replyToBroken(buf: Buffer, srcIp: string, srcPort: number, sock: SocketInfo, err: unknown): void {
    if (buf.length < 8 || buf.toString('latin1', 0, 4) === 'SIP/') {
      this.counters.inc(C.err_replies);
      return;
    }
    this.counters.inc(C.err_requests);
    // Re-parse leniently: the headers up to the blank line with the body framing replaced
    // (a bad or repeated Content-Length is the usual reason we are here).
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = buf.toString('latin1', 0, end).split('\r\n').filter((l) => !/^(content-length|l)\s*:/i.test(l));
    let msg: SipMessage;
    try {
      msg = parseMessage(Buffer.from(`${head.join('\r\n')}\r\nContent-Length: 0\r\n\r\n`, 'latin1'));
    } catch {
      return; // nothing we can address a reply with: a counted drop
    }
    if (msg.methodId === METHOD_ACK || !canReplyTo(msg)) return;
    this.ctx.reset(msg, srcIp, srcPort, sock);
    const reason = err instanceof SipParseError ? err.reason : 'Bad Request';
    sendStatelessReply(this.ctx, 400, `Bad Request (${reason})`);
  }

  private onRequest(ctx: MsgContext, msg: SipMessage): void {
    const c = this.counters;
    c.inc(C.rcv_requests);
    const mc = methodCounter(msg.methodId);
    if (mc >= 0) c.inc(mc);
    const bad = validateMessage(msg, this.validateOptions);
    if (bad !== null) {
      c.inc(C.err_requests);
      this.log.limited(L_DBG, 'core:rejected', `rejecting ${msg.method} from ${ctx.srcIp}:${ctx.srcPort}: ${bad.code} ${bad.reason}`);
      if (msg.methodId !== METHOD_ACK) {
        // RFC 3261 16.3 step 5: a 420 lists the unsupported Proxy-Require tags
        if (bad.unsupported) ctx.replyHeaders.push(`Unsupported: ${bad.unsupported.join(', ')}\r\n`);
        // without the headers a reply echoes there is no one to answer: a counted drop
        if (sendStatelessReply(ctx, bad.code, bad.reason) < 0) c.inc(C.bad_msg_hdr);
      }
      return;
    }
    const hooks = this.requestHooks;
    for (let i = 0; i < hooks.length; i++) if (hooks[i]!(ctx)) return;
    if (this.routes.request) this.runRoute(this.routes.request, ROUTE.REQUEST);
    if (!ctx.replied && ctx.dropped) c.inc(C.drop_requests);
  }

  private onReply(ctx: MsgContext, msg: SipMessage): void {
    const c = this.counters;
    c.inc(C.rcv_replies);
    c.incAll(replyCounters(msg.status, msg.cseq().methodId));
    const bad = validateMessage(msg);
    if (bad !== null) {
      c.inc(C.err_replies);
      this.log.limited(L_DBG, 'core:bad-reply', `dropping bad reply from ${ctx.srcIp}:${ctx.srcPort}: ${bad.reason}`);
      return;
    }
    const vias = msg.vias();
    const top = vias[0];
    if (!this.isMyVia(top)) {
      c.inc(C.drop_replies); // not sent through us
      return;
    }
    // a module may claim it: a reply to a request we originated has only our Via
    const hooks = this.replyHooks;
    for (let i = 0; i < hooks.length; i++) if (hooks[i]!(ctx)) return;
    if (vias.length < 2) {
      c.inc(C.drop_replies); // addressed to us alone and nobody claimed it
      return;
    }
    ctx.lumps.remove(top.removeStart, top.removeEnd);
    if (this.routes.reply) this.runRoute(this.routes.reply, ROUTE.CORE_ONREPLY);
    if (ctx.dropped) {
      c.inc(C.drop_replies);
      return;
    }
    const next = vias[1];
    const host = next.received ?? next.maddr ?? next.host;
    const port = next.rport ? Number(next.rport) : next.port || 5060;
    const sock = this.socketFor(isIPv6Literal(host) ? 6 : 4);
    if (!sock) {
      c.inc(C.err_replies);
      return;
    }
    const out = applyLumps(msg.buf, 0, msg.bodyStart + msg.bodyLength, ctx.lumps.list, 0, '', this.scratch);
    this.transport.send(sock.index, out, port, host);
    c.inc(C.fwd_replies);
  }

  /**
   * Runs `fn` (an event route) with a faked OPTIONS request to `ruri` as the current message,
   * as Kamailio does for events that have no message of their own.
   */
  runEvent(ruri: string, fn: () => unknown): void {
    const msg = parseMessage(Buffer.from(
      `OPTIONS ${ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKvdevent\r\nFrom: <sip:viaduct@localhost>;tag=event\r\n` +
      `To: <${ruri}>\r\nCall-ID: event@viaduct\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`, 'utf8'));
    this.ctx.reset(msg, '127.0.0.1', 0, this.sockets[0]!);
    this.runRoute(fn, ROUTE.EVENT);
  }

  /** Runs a route function of a kind; KSR.x.exit()/drop() end it, other errors go to the caller. */
  runRoute(fn: RouteFn, kind: number): void {
    const outer = this.routeKind;
    this.routeKind = kind;
    try {
      fn();
    } catch (e) {
      if (e !== EXIT) throw e;
    } finally {
      this.routeKind = outer;
    }
  }

  /** Runs `fn` with `ctx` as the current message (a stored request's failure route, say). */
  withContext<T>(ctx: MsgContext, fn: () => T): T {
    const outer = this.ctx;
    this.ctx = ctx;
    try {
      return fn();
    } finally {
      this.ctx = outer;
    }
  }

  /** buildForward() with `ctx` as the current message: withContext without a closure (tm, per branch). */
  buildForwardIn(ctx: MsgContext, uri: string | undefined, branchMark: string | null): Buffer | null {
    const outer = this.ctx;
    this.ctx = ctx;
    try {
      return this.buildForward(uri, branchMark);
    } finally {
      this.ctx = outer;
    }
  }

  /** forwardRequest() with `ctx` as the current message (tm: the ACK of a 2xx). */
  forwardRequestIn(ctx: MsgContext, uri: string | undefined): number {
    const outer = this.ctx;
    this.ctx = ctx;
    try {
      return this.forwardRequest(uri);
    } finally {
      this.ctx = outer;
    }
  }

  // ---------------------------------------------------------------- myself

  isMyself(host: string, port: number): boolean {
    const p = port || 5060;
    // the common case, an address exactly as we listen on it, without building a string
    for (let i = 0; i < this.myHosts.length; i++) {
      const m = this.myHosts[i];
      if (m.port === p && m.host === host) return true;
    }
    const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
    return this.myself.has(`${h.toLowerCase()}:${p}`);
  }

  isMyselfUri(uri: string): boolean {
    try {
      const u = parseUriCached(uri);
      return this.isMyself(u.host, u.port || (u.scheme === 'sips' ? 5061 : 5060));
    } catch {
      return false;
    }
  }

  private isMyVia(v: Via): boolean {
    return this.isMyself(v.host, v.port || 5060);
  }

  /** The socket to send from for a destination of this address family. */
  socketFor(family: 4 | 6): SocketInfo | undefined {
    const ctx = this.ctx;
    if (ctx.sock && ctx.sock.family === family) return ctx.sock;
    return this.sockets.find((s) => s.family === family);
  }

  // ---------------------------------------------------------------- forward

  /** Where a URI sends us (maddr, port defaults). Throws SipParseError on a bad URI. */
  destinationOf(uri: string): Destination {
    const u = parseUriCached(uri);
    if (u.scheme !== 'sip' && u.scheme !== 'sips') throw new SipParseError(`cannot forward to a ${u.scheme}: URI`);
    const host = u.params.maddr || u.host;
    return { host, port: u.port || (u.scheme === 'sips' ? 5061 : 5060), family: isIPv6Literal(host) ? 6 : 4 };
  }

  /** The first Route if it is a loose-routing hop that is not us (RFC 3261 16.12). */
  private looseRouteTarget(msg: SipMessage): string | null {
    if (msg.getHeader(HDR.ROUTE) === undefined) return null;
    const r = msg.routes()[0];
    const u = parseUriCached(r.uri);
    if (!('lr' in u.params) || this.isMyself(u.host, u.port)) return null;
    return r.uri;
  }

  /**
   * Stateless forward (Kamailio forward(), RFC 3261 16.11): to `uri`, else $du, else a loose
   * Route, else the R-URI. Returns 1 on success, -1 on failure (a reply may have been sent).
   */
  forwardRequest(uri?: string): number {
    const out = this.buildForward(uri, null);
    if (out === null) return -1;
    this.transport.send(this.fwdSock, out, this.fwdPort, this.fwdHost);
    this.counters.inc(C.fwd_requests);
    return 1;
  }

  // Where the last buildForward() goes: fields, not an object, on the stateless hot path.
  fwdSock = 0;
  fwdPort = 0;
  fwdHost = '';
  /** The branch of our Via in the last buildForward() with a branch mark (tm). */
  fwdBranch = '';

  /**
   * The forward of forwardRequest() up to the send: destination (fwdSock/fwdPort/fwdHost), the
   * forward hooks, the loop check, the request with our Via, the onsend route. `branchMark`
   * (tm: a branch index) goes into our Via's branch, and the result is a buffer of its own that
   * the caller may keep; null when nothing is to be sent (a reply may have been sent).
   */
  buildForward(uri: string | undefined, branchMark: string | null): Buffer | null {
    const ctx = this.ctx;
    const msg = ctx.msg;
    if (!msg.isRequest) return null;
    const c = this.counters;
    let dst: Destination;
    try {
      dst = this.destinationOf(uri ?? ctx.du ?? this.looseRouteTarget(msg) ?? ctx.currentRuri());
    } catch (e) {
      c.inc(C.err_requests);
      // a target the script gave is its error; one from the request (R-URI, Route) is bad input
      this.log.limited(uri ?? ctx.du ? L_ERR : L_DBG, 'core:forward', `forward: ${(e as Error).message}`);
      return null;
    }
    const sock = this.socketFor(dst.family);
    if (!sock) {
      c.inc(C.err_requests);
      this.log.limited(L_ERR, 'core:forward-socket', `forward: no IPv${dst.family} socket to send to ${dst.host}`);
      return null;
    }
    const hooks = this.forwardHooks;
    for (let i = 0; i < hooks.length; i++) if (!hooks[i]!(ctx)) return null;
    // our branches end in "." + this hex: a Via of ours with it means the request came back
    const loopSuffix = `.${hex32(this.loopHash(msg))}`;
    if (this.hasLooped(msg, loopSuffix)) {
      c.inc(C['viaduct:loops_detected']);
      sendStatelessReply(ctx, 482, 'Loop Detected');
      return null;
    }
    const out = this.buildForwardedRequest(sock, loopSuffix, branchMark);
    if (this.routes.onsend) {
      this.runRoute(this.routes.onsend, ROUTE.ONSEND);
      if (ctx.dropped) {
        ctx.dropped = false;
        c.inc(C.drop_requests);
        return null;
      }
    }
    this.fwdSock = sock.index;
    this.fwdPort = dst.port;
    this.fwdHost = dst.host;
    return out;
  }

  /** Hash of what identifies this request apart from its Via stack: equal on a true loop. */
  private loopHash(msg: SipMessage): number {
    let h = fnv1a(msg.ruri);
    h = fnv1a(msg.callId(), h);
    h = fnv1a(msg.from().tag ?? '', h);
    return Math.imul(h ^ msg.cseq().num, 0x01000193) >>> 0;
  }

  private hasLooped(msg: SipMessage, suffix: string): boolean {
    const vias = msg.vias();
    for (let i = 0; i < vias.length; i++) {
      const v = vias[i];
      if (v.branch !== undefined && v.branch.endsWith(suffix) && this.isMyVia(v)) return true;
    }
    return false;
  }

  /**
   * RFC 3261 16.11: the same for retransmissions, distinct per request, and a CANCEL or a
   * non-2xx ACK gets the branch of its INVITE (all three carry the INVITE's top branch).
   */
  private branchHash(msg: SipMessage): number {
    const top = msg.topVia();
    let h: number;
    if (top.branch !== undefined && top.branch.startsWith('z9hG4bK')) {
      h = fnv1a(top.branch, fnv1a(top.host, top.port));
    } else {
      // RFC 2543 client: the fields of its transaction id (17.2.3)
      h = fnv1a(msg.ruri, fnv1a(msg.callId(), fnv1a(msg.from().tag ?? '', msg.cseq().num)));
      h = fnv1a(top.host, h ^ top.port);
    }
    return h;
  }

  private buildForwardedRequest(sock: SocketInfo, loopSuffix: string, branchMark: string | null): Buffer {
    const ctx = this.ctx;
    const msg = ctx.msg;
    // Lumps that belong to this one forward only (a script may forward twice).
    const once: Lump[] = [];
    // received / rport on the upstream Via (RFC 3261 18.2.1, RFC 3581)
    const adds = topViaAdditions(ctx);
    for (let i = 0; i < adds.length; i++) once.push(lump(adds[i]!.at, adds[i]!.end, adds[i]!.text));
    if (ctx.ruri !== null) once.push(lump(msg.ruriStart, msg.ruriEnd, ctx.ruri));
    let branch = hex32(this.branchHash(msg));
    if (branchMark !== null) {
      branch += branchMark;
      this.fwdBranch = `z9hG4bKvd${branch}${loopSuffix}`;
    }
    let prefix = this.viaStart[sock.index] + branch + loopSuffix + (ctx.localRport ? ';rport\r\n' : '\r\n');
    const headerHooks = this.forwardHeaderHooks;
    for (let i = 0; i < headerHooks.length; i++) prefix += headerHooks[i]!(ctx, sock);
    const all = once.length ? ctx.lumps.list.concat(once) : ctx.lumps.list;
    // not into the scratch buffer when an onsend route runs before the send (it may serialize
    // too), nor when tm keeps the request to retransmit it
    return applyLumps(msg.buf, 0, msg.bodyStart + msg.bodyLength, all, msg.firstLineEnd, prefix, this.routes.onsend || branchMark !== null ? undefined : this.scratch);
  }

  /** A stateless reply to the current request (sl's builder): 1, or -1 when none can be sent. */
  sendReply(code: number, reason: string): number {
    return sendStatelessReply(this.ctx, code, reason);
  }
}
