// Assembles the KSR object a routing script sees: Kamailio's KEMI core functions (KSR.*),
// KSR.x, and one sub-object per module (KSR.sl, KSR.pv, KSR.hdr ...). Built once per thread;
// the functions act on core.ctx, the message being processed.
import { ConfigError } from './config.js';
import { EXIT, parseUriCached, type SipCore } from './core.js';
import { pvSpec } from './pv.js';
import * as M from './sip/methods.js';
import type { ModuleDef, ParamValue } from '../modules/module.js';
import sl from '../modules/sl/index.js';
import pv from '../modules/pv/index.js';
import textops, { hdrModule } from '../modules/textops/index.js';
import maxfwd from '../modules/maxfwd/index.js';
import siputils from '../modules/siputils/index.js';
import xlog from '../modules/xlog/index.js';
import rr from '../modules/rr/index.js';
import dispatcher from '../modules/dispatcher/index.js';
import type { ModuleThread } from '../modules/module.js';

export const MODULES = { sl, pv, hdr: hdrModule, textops, maxfwd, siputils, xlog, rr, dispatcher } as const;

// is_method_in() letters, as Kamailio defines them
const METHOD_LETTERS: Record<string, number> = {
  I: M.METHOD_INVITE, A: M.METHOD_ACK, B: M.METHOD_BYE, C: M.METHOD_CANCEL, R: M.METHOD_REGISTER,
  M: M.METHOD_MESSAGE, O: M.METHOD_OPTIONS, S: M.METHOD_SUBSCRIBE, P: M.METHOD_PUBLISH, N: M.METHOD_NOTIFY,
  U: M.METHOD_UPDATE, K: M.METHOD_KDMQ, G: M.METHOD_GET, T: M.METHOD_POST, V: M.METHOD_PUT, D: M.METHOD_DELETE,
};

const LOG_NAMES: Record<string, number> = { alert: -5, crit: -2, err: -1, error: -1, warn: 0, notice: 1, info: 2, dbg: 3, debug: 3 };

/** Module parameters with defaults applied and validated; throws ConfigError. */
export function resolveModparams(given: Record<string, Record<string, ParamValue>>): Record<string, Record<string, ParamValue>> {
  const out: Record<string, Record<string, ParamValue>> = {};
  for (const [name, mod] of Object.entries(MODULES) as [string, ModuleDef][]) {
    const p: Record<string, ParamValue> = {};
    for (const [k, def] of Object.entries(mod.params ?? {})) p[k] = def.default;
    out[name] = p;
  }
  for (const [modName, params] of Object.entries(given)) {
    const mod = (MODULES as Record<string, ModuleDef>)[modName];
    if (!mod) throw new ConfigError(`modparam: no module "${modName}" (have ${Object.keys(MODULES).join(', ')})`);
    for (const [k, v] of Object.entries(params)) {
      const def = mod.params?.[k];
      if (!def) throw new ConfigError(`modparam: module "${modName}" has no parameter "${k}"`);
      const value = def.type === 'int' ? Number(v) : String(v);
      if (def.type === 'int' && !Number.isInteger(value)) throw new ConfigError(`modparam ${modName}:${k}: "${v}" is not an integer`);
      const err = def.check?.(value);
      if (err) throw new ConfigError(`modparam ${modName}:${k}=${v}: ${err}`);
      out[modName][k] = value;
    }
  }
  return out;
}

function coreFunctions(core: SipCore) {
  const ctx = core.ctx;
  const methodId = (): number => (ctx.msg.isRequest ? ctx.msg.methodId : ctx.msg.cseq().methodId);
  const isM = (id: number) => (): boolean => methodId() === id;
  const flagOk = (f: number): boolean => Number.isInteger(f) && f >= 0 && f < 32;
  const log = (level: number) => (msg: string): void => core.log.at(level, String(msg));
  const setRuri = (uri: string): number => {
    try { parseUriCached(uri); } catch { return -1; }
    ctx.ruri = uri;
    ctx.ruriParsed = null;
    return 1;
  };
  const setRuriPart = (name: '$rU' | '$rd', v: string): number => {
    try { pvSpec(name).set!(core, v); return 1; } catch { return -1; }
  };
  return {
    forward: (): number => core.forwardRequest(),
    forward_uri: (uri: string): number => core.forwardRequest(String(uri)),
    forward_udp: (): number => core.forwardRequest(),
    setdsturi: (uri: string): number => {
      try { parseUriCached(uri); } catch { return -1; }
      ctx.du = uri;
      return 1;
    },
    resetdsturi: (): number => { ctx.du = null; return 1; },
    isdsturiset: (): boolean => ctx.du !== null,
    seturi: setRuri,
    rewriteuri: setRuri,
    sethost: (host: string): number => setRuriPart('$rd', host),
    setuser: (user: string): number => setRuriPart('$rU', user),
    force_rport: (): number => { ctx.forceRport = true; return 1; },
    add_local_rport: (): number => { ctx.localRport = true; return 1; },
    is_method: (m: string): boolean => (ctx.msg.isRequest ? ctx.msg.method : ctx.msg.cseq().method) === m,
    is_method_in: (letters: string): boolean => {
      const id = methodId();
      for (const ch of letters) if (METHOD_LETTERS[ch.toUpperCase()] === id) return true;
      return false;
    },
    is_INVITE: isM(M.METHOD_INVITE), is_ACK: isM(M.METHOD_ACK), is_BYE: isM(M.METHOD_BYE), is_CANCEL: isM(M.METHOD_CANCEL),
    is_REGISTER: isM(M.METHOD_REGISTER), is_OPTIONS: isM(M.METHOD_OPTIONS), is_SUBSCRIBE: isM(M.METHOD_SUBSCRIBE),
    is_NOTIFY: isM(M.METHOD_NOTIFY), is_PUBLISH: isM(M.METHOD_PUBLISH), is_MESSAGE: isM(M.METHOD_MESSAGE),
    is_INFO: isM(M.METHOD_INFO), is_PRACK: isM(M.METHOD_PRACK), is_UPDATE: isM(M.METHOD_UPDATE), is_REFER: isM(M.METHOD_REFER),
    is_KDMQ: isM(M.METHOD_KDMQ), is_GET: isM(M.METHOD_GET), is_POST: isM(M.METHOD_POST), is_PUT: isM(M.METHOD_PUT), is_DELETE: isM(M.METHOD_DELETE),
    is_myself: (uri: string): boolean => core.isMyselfUri(uri),
    is_myself_ruri: (): boolean => ctx.msg.isRequest && core.isMyselfUri(ctx.currentRuri()),
    is_myself_furi: (): boolean => core.isMyselfUri(ctx.from?.uri ?? ctx.msg.from().uri),
    is_myself_turi: (): boolean => core.isMyselfUri(ctx.to?.uri ?? ctx.msg.to().uri),
    is_myself_duri: (): boolean => ctx.du !== null && core.isMyselfUri(ctx.du),
    is_myself_srcip: (): boolean => core.sockets.some((s) => s.bindHost === ctx.srcIp),
    setflag: (f: number): number => { if (!flagOk(f)) return -1; ctx.flags |= 1 << f; return 1; },
    resetflag: (f: number): number => { if (!flagOk(f)) return -1; ctx.flags &= ~(1 << f); return 1; },
    isflagset: (f: number): boolean => flagOk(f) && (ctx.flags & (1 << f)) !== 0,
    // branch flags: only branch 0 exists without tm
    setbflag: (f: number): number => { if (!flagOk(f)) return -1; ctx.bflags |= 1 << f; return 1; },
    resetbflag: (f: number): number => { if (!flagOk(f)) return -1; ctx.bflags &= ~(1 << f); return 1; },
    isbflagset: (f: number): boolean => flagOk(f) && (ctx.bflags & (1 << f)) !== 0,
    setbiflag: (f: number, idx: number): number => (idx === 0 && flagOk(f) ? ((ctx.bflags |= 1 << f), 1) : -1),
    resetbiflag: (f: number, idx: number): number => (idx === 0 && flagOk(f) ? ((ctx.bflags &= ~(1 << f)), 1) : -1),
    isbiflagset: (f: number, idx: number): boolean => idx === 0 && flagOk(f) && (ctx.bflags & (1 << f)) !== 0,
    dbg: log(3), info: log(2), notice: log(1), warn: log(0), err: log(-1), crit: log(-2),
    /** log(level, msg): level as a name ("info") or Kamailio's number */
    log: (level: string | number, msg: string): void => core.log.at(typeof level === 'number' ? level : LOG_NAMES[level] ?? -1, String(msg)),
    /** route(name): runs the script function called name; -1 if there is none */
    route: (name: string): number => {
      const fn = core.routes.named(name);
      if (!fn) { core.log.err(`KSR.route("${name}"): no such function in the script`); return -1; }
      const r = fn();
      return typeof r === 'number' ? r : 1;
    },
  };
}

/**
 * `moduleData`: what the modules' set-up produced on the main thread (absent for the main
 * thread's script check); `thread`: the module instances' link to this thread.
 */
export function buildKSR(
  core: SipCore,
  modparams: Record<string, Record<string, ParamValue>>,
  moduleData: Record<string, unknown> = {},
  thread?: { row: number; onMessage(module: string, handler: (data: unknown) => void): void; toMain(module: string, data: unknown): void },
) {
  const link = (name: string): ModuleThread | undefined =>
    thread && { row: thread.row, onMessage: (h) => thread.onMessage(name, h), toMain: (d) => thread.toMain(name, d) };
  const ctx = core.ctx;
  return {
    ...coreFunctions(core),
    x: {
      /** ends the route (Kamailio's exit) */
      exit: (): never => { throw EXIT; },
      /** drops the message (no forward, no reply) and ends the route */
      drop: (): never => { ctx.dropped = true; throw EXIT; },
    },
    sl: MODULES.sl.kemi(core, modparams.sl),
    pv: MODULES.pv.kemi(core, modparams.pv),
    hdr: MODULES.hdr.kemi(core, modparams.hdr),
    textops: MODULES.textops.kemi(core, modparams.textops),
    maxfwd: MODULES.maxfwd.kemi(core, modparams.maxfwd),
    siputils: MODULES.siputils.kemi(core, modparams.siputils),
    xlog: MODULES.xlog.kemi(core, modparams.xlog),
    rr: MODULES.rr.kemi(core, modparams.rr),
    dispatcher: MODULES.dispatcher.kemi(core, modparams.dispatcher, moduleData.dispatcher, link('dispatcher')),
  };
}

export type KSRApi = ReturnType<typeof buildKSR>;
