// Kamailio's KEMI core functions (KSR.forward, KSR.setdsturi, KSR.is_INVITE ...: module name '',
// as app_jsdt.api_list lists them) and KSR.x (exit, drop), as export tables like any module's.
import { EXIT, parseUriCached } from './core.js';
import type { MsgContext } from './context.js';
import { pvSpec } from './pv.js';
import * as M from './sip/methods.js';
import { SipParseError } from './sip/errors.js';
import { defineModule, kemi, ROUTE, type KemiFunction } from '../modules/module.js';

// is_method_in() letters, as Kamailio defines them
const METHOD_LETTERS: Record<string, number> = {
  I: M.METHOD_INVITE, A: M.METHOD_ACK, B: M.METHOD_BYE, C: M.METHOD_CANCEL, R: M.METHOD_REGISTER,
  M: M.METHOD_MESSAGE, O: M.METHOD_OPTIONS, S: M.METHOD_SUBSCRIBE, P: M.METHOD_PUBLISH, N: M.METHOD_NOTIFY,
  U: M.METHOD_UPDATE, K: M.METHOD_KDMQ, G: M.METHOD_GET, T: M.METHOD_POST, V: M.METHOD_PUT, D: M.METHOD_DELETE,
};

const LOG_NAMES: Record<string, number> = { alert: -5, crit: -2, err: -1, error: -1, warn: 0, notice: 1, info: 2, dbg: 3, debug: 3 };

const methodId = (ctx: MsgContext): number => (ctx.msg.isRequest ? ctx.msg.methodId : ctx.msg.cseq().methodId);
const flagOk = (f: number): boolean => Number.isInteger(f) && f >= 0 && f < 32;

function setRuri(ctx: MsgContext, uri: string): number {
  try { parseUriCached(uri); } catch { return -1; }
  ctx.ruri = uri;
  ctx.ruriParsed = null;
  return 1;
}

function setRuriPart(ctx: MsgContext, name: '$rU' | '$rd', v: string): number {
  try { pvSpec(name).set!(ctx.core, v); return 1; } catch { return -1; }
}

/** The From or To URI, or '' (never myself) when the header is broken: a reply's are not checked. */
function nameAddrUri(ctx: MsgContext, which: 'from' | 'to'): string {
  try {
    return ctx[which]?.uri ?? ctx.msg[which]().uri;
  } catch (e) {
    if (e instanceof SipParseError) return '';
    throw e;
  }
}

function setDst(ctx: MsgContext, uri: string): number {
  try { parseUriCached(uri); } catch { return -1; }
  ctx.du = uri;
  return 1;
}

/** is_INVITE() ... is_DELETE(): one declaration per method id. */
function isMethod(id: number) {
  return kemi([], 'bool', (ctx) => methodId(ctx) === id);
}

const logAt = (level: number) => kemi(['str'], 'none', (ctx, msg) => ctx.core.log.at(level, String(msg)));

const FORWARDS = ROUTE.REQUEST | ROUTE.FAILURE | ROUTE.BRANCH;

export const coreKemi = defineModule({
  name: '',
  functions: {
    forward: kemi([], 'int', (ctx) => ctx.core.forwardRequest(), FORWARDS),
    forward_uri: kemi(['str'], 'int', (ctx, uri) => ctx.core.forwardRequest(String(uri)), FORWARDS),
    forward_udp: kemi([], 'int', (ctx) => ctx.core.forwardRequest(), FORWARDS),
    setdsturi: kemi(['str'], 'int', (ctx, uri) => setDst(ctx, uri)),
    resetdsturi: kemi([], 'int', (ctx) => { ctx.du = null; return 1; }),
    isdsturiset: kemi([], 'bool', (ctx) => ctx.du !== null),
    seturi: kemi(['str'], 'int', setRuri),
    rewriteuri: kemi(['str'], 'int', setRuri),
    sethost: kemi(['str'], 'int', (ctx, host) => setRuriPart(ctx, '$rd', host)),
    setuser: kemi(['str'], 'int', (ctx, user) => setRuriPart(ctx, '$rU', user)),
    force_rport: kemi([], 'int', (ctx) => { ctx.forceRport = true; return 1; }),
    add_local_rport: kemi([], 'int', (ctx) => { ctx.localRport = true; return 1; }),
    is_method: kemi(['str'], 'bool', (ctx, m) => (ctx.msg.isRequest ? ctx.msg.method : ctx.msg.cseq().method) === m),
    is_method_in: kemi(['str'], 'bool', (ctx, letters) => {
      const id = methodId(ctx);
      for (const ch of letters) if (METHOD_LETTERS[ch.toUpperCase()] === id) return true;
      return false;
    }),
    is_INVITE: isMethod(M.METHOD_INVITE), is_ACK: isMethod(M.METHOD_ACK), is_BYE: isMethod(M.METHOD_BYE),
    is_CANCEL: isMethod(M.METHOD_CANCEL), is_REGISTER: isMethod(M.METHOD_REGISTER), is_OPTIONS: isMethod(M.METHOD_OPTIONS),
    is_SUBSCRIBE: isMethod(M.METHOD_SUBSCRIBE), is_NOTIFY: isMethod(M.METHOD_NOTIFY), is_PUBLISH: isMethod(M.METHOD_PUBLISH),
    is_MESSAGE: isMethod(M.METHOD_MESSAGE), is_INFO: isMethod(M.METHOD_INFO), is_PRACK: isMethod(M.METHOD_PRACK),
    is_UPDATE: isMethod(M.METHOD_UPDATE), is_REFER: isMethod(M.METHOD_REFER), is_KDMQ: isMethod(M.METHOD_KDMQ),
    is_GET: isMethod(M.METHOD_GET), is_POST: isMethod(M.METHOD_POST), is_PUT: isMethod(M.METHOD_PUT),
    is_DELETE: isMethod(M.METHOD_DELETE),
    is_myself: kemi(['str'], 'bool', (ctx, uri) => ctx.core.isMyselfUri(uri)),
    is_myself_ruri: kemi([], 'bool', (ctx) => ctx.msg.isRequest && ctx.core.isMyselfUri(ctx.currentRuri())),
    is_myself_furi: kemi([], 'bool', (ctx) => ctx.core.isMyselfUri(nameAddrUri(ctx, 'from'))),
    is_myself_turi: kemi([], 'bool', (ctx) => ctx.core.isMyselfUri(nameAddrUri(ctx, 'to'))),
    is_myself_duri: kemi([], 'bool', (ctx) => ctx.du !== null && ctx.core.isMyselfUri(ctx.du)),
    is_myself_srcip: kemi([], 'bool', (ctx) => ctx.core.sockets.some((s) => s.bindHost === ctx.srcIp)),
    setflag: kemi(['int'], 'int', (ctx, f) => { if (!flagOk(f)) return -1; ctx.flags |= 1 << f; return 1; }),
    resetflag: kemi(['int'], 'int', (ctx, f) => { if (!flagOk(f)) return -1; ctx.flags &= ~(1 << f); return 1; }),
    isflagset: kemi(['int'], 'bool', (ctx, f) => flagOk(f) && (ctx.flags & (1 << f)) !== 0),
    // branch flags: without tm only branch 0 exists
    setbflag: kemi(['int'], 'int', (ctx, f) => { if (!flagOk(f)) return -1; ctx.bflags |= 1 << f; return 1; }),
    resetbflag: kemi(['int'], 'int', (ctx, f) => { if (!flagOk(f)) return -1; ctx.bflags &= ~(1 << f); return 1; }),
    isbflagset: kemi(['int'], 'bool', (ctx, f) => flagOk(f) && (ctx.bflags & (1 << f)) !== 0),
    setbiflag: kemi(['int', 'int'], 'int', (ctx, f, idx) => (idx === 0 && flagOk(f) ? ((ctx.bflags |= 1 << f), 1) : -1)),
    resetbiflag: kemi(['int', 'int'], 'int', (ctx, f, idx) => (idx === 0 && flagOk(f) ? ((ctx.bflags &= ~(1 << f)), 1) : -1)),
    isbiflagset: kemi(['int', 'int'], 'bool', (ctx, f, idx) => idx === 0 && flagOk(f) && (ctx.bflags & (1 << f)) !== 0),
    dbg: logAt(3), info: logAt(2), notice: logAt(1), warn: logAt(0), err: logAt(-1), crit: logAt(-2),
    /** log(level, msg): level as a name ("info") or Kamailio's number */
    log: kemi(['str', 'str'], 'none', (ctx, level, msg) => {
      const lv = typeof level === 'number' ? level : LOG_NAMES[level] ?? -1;
      ctx.core.log.at(lv, String(msg));
    }),
    /** route(name): runs the script function called name; -1 if there is none */
    route: kemi(['str'], 'int', (ctx, name) => {
      const fn = ctx.core.routes.named(name);
      if (!fn) { ctx.core.log.err(`KSR.route("${name}"): no such function in the script`); return -1; }
      const r = fn();
      return typeof r === 'number' ? r : 1;
    }),
  },
});

/** KSR.x: the functions that end a route. They throw EXIT, which the core catches. */
export const xKemi = defineModule({
  name: 'x',
  functions: {
    /** ends the route (Kamailio's exit) */
    exit: kemi([], 'none', (): void => { throw EXIT; }) as KemiFunction<[], never>,
    /** drops the message (no forward, no reply) and ends the route */
    drop: kemi([], 'none', (ctx): void => { ctx.dropped = true; throw EXIT; }) as KemiFunction<[], never>,
  },
});
