// Pseudo-variables ($ru, $fU, $hdr(X), $var(x) ...): one spec per name, parsed once and cached,
// each with a getter and, for the writable ones, a setter that changes the forwarded message
// the way Kamailio does (the R-URI, $du, From/To URI and display name).
import type { MsgContext, NameAddrEdit } from './context.js';
import type { SipCore } from './core.js';
import type { NameAddr } from './sip/message.js';
import { formatUri, parseUri, type SipUri } from './sip/uri.js';

export type PvValue = string | number | null;

export interface PvSpec {
  name: string;
  get(core: SipCore): PvValue;
  set?(core: SipCore, v: PvValue): void;
}

export class PvError extends Error {}

/** A pseudo-variable a module adds (its export table's `pvs`): `$name` or `$name(arg)`. */
export interface ModulePv {
  get(ctx: MsgContext, arg: string): PvValue;
  set?(ctx: MsgContext, arg: string, v: PvValue): void;
}

const modulePvs = new Map<string, ModulePv>();

/** Adds a module's pseudo-variable (src/core/ksr.ts does it for the registry at load). */
export function registerModulePv(name: string, pv: ModulePv): void {
  modulePvs.set(name, pv);
}

function modulePvSpec(full: string, name: string, arg: string): PvSpec | undefined {
  const pv = modulePvs.get(name);
  if (!pv) return undefined;
  const set = pv.set;
  return {
    name: full,
    get: (core) => pv.get(core.ctx, arg),
    ...(set ? { set: (core: SipCore, v: PvValue) => set(core.ctx, arg, v) } : {}),
  };
}

// $var(x): per thread and kept across messages, as in Kamailio (per process there).
const scriptVars = new Map<string, PvValue>();

function currentRuriParsed(ctx: MsgContext): SipUri {
  if (ctx.ruriParsed === null) ctx.ruriParsed = parseUri(ctx.currentRuri());
  return ctx.ruriParsed;
}

function setRuriPart(core: SipCore, change: (u: SipUri) => void): void {
  const ctx = core.ctx;
  const u = { ...currentRuriParsed(ctx), params: { ...currentRuriParsed(ctx).params } };
  change(u);
  ctx.ruri = formatUri(u);
  ctx.ruriParsed = u;
}

/** Current state of From or To: the original name-addr plus the script's edits. */
function nameAddrEdit(core: SipCore, which: 'from' | 'to'): NameAddrEdit {
  const ctx = core.ctx;
  let e = ctx[which];
  if (e === null) {
    e = { uri: (which === 'from' ? ctx.msg.from() : ctx.msg.to()).uri, parsed: null, uriLump: null, nameLump: null, closeLump: null };
    ctx[which] = e;
  }
  return e;
}

function nameAddr(core: SipCore, which: 'from' | 'to'): NameAddr {
  return which === 'from' ? core.ctx.msg.from() : core.ctx.msg.to();
}

function naUri(core: SipCore, which: 'from' | 'to'): SipUri {
  const e = core.ctx[which];
  if (e === null) return parseUri(nameAddr(core, which).uri);
  if (e.parsed === null) e.parsed = parseUri(e.uri);
  return e.parsed;
}

function setNaUri(core: SipCore, which: 'from' | 'to', uri: string): void {
  parseUri(uri); // refuse what would make the header unparsable downstream
  const e = nameAddrEdit(core, which);
  const na = nameAddr(core, which);
  e.uri = uri;
  e.parsed = null;
  if (e.uriLump === null) e.uriLump = core.ctx.lumps.replace(na.uriStart, na.uriEnd, uri);
  else e.uriLump.text = uri;
}

function setNaUriPart(core: SipCore, which: 'from' | 'to', change: (u: SipUri) => void): void {
  const u = { ...naUri(core, which) };
  change(u);
  setNaUri(core, which, formatUri(u));
}

function quoteDisplay(s: string): string {
  return `"${s.replace(/["\\]/g, '\\$&')}" `;
}

function setNaDisplay(core: SipCore, which: 'from' | 'to', name: PvValue): void {
  const e = nameAddrEdit(core, which);
  const na = nameAddr(core, which);
  const b = core.ctx.msg.buf;
  const bracketed = na.uriStart > na.start && b[na.uriStart - 1] === 0x3c; // '<'
  const text = (name === null || name === '' ? '' : quoteDisplay(String(name))) + '<';
  // replaces the old display name and '<' (everything before the URI)
  if (e.nameLump === null) e.nameLump = core.ctx.lumps.replace(na.start, na.uriStart, text);
  else e.nameLump.text = text;
  if (!bracketed && e.closeLump === null) e.closeLump = core.ctx.lumps.insert(na.uriEnd, '>');
}

const str = (v: PvValue): string => (v === null ? '' : String(v));

function headerGetter(name: string): PvSpec['get'] {
  return (core) => core.ctx.msg.getHeaderValue(name) ?? null;
}

const FIXED: Record<string, Omit<PvSpec, 'name'>> = {
  rm: { get: (c) => (c.ctx.msg.isRequest ? c.ctx.msg.method : c.ctx.msg.cseq().method) },
  ru: { get: (c) => (c.ctx.msg.isRequest ? c.ctx.currentRuri() : null), set: (c, v) => { parseUri(str(v)); c.ctx.ruri = str(v); c.ctx.ruriParsed = null; } },
  rU: { get: (c) => (c.ctx.msg.isRequest ? currentRuriParsed(c.ctx).user || null : null), set: (c, v) => setRuriPart(c, (u) => { u.user = str(v); }) },
  rd: { get: (c) => (c.ctx.msg.isRequest ? currentRuriParsed(c.ctx).host : null), set: (c, v) => setRuriPart(c, (u) => { u.host = str(v).replace(/^\[|\]$/g, ''); u.hostIsIPv6 = u.host.includes(':'); }) },
  rp: { get: (c) => (c.ctx.msg.isRequest ? currentRuriParsed(c.ctx).port || 5060 : null), set: (c, v) => setRuriPart(c, (u) => { u.port = Number(v) || 0; }) },
  rz: { get: (c) => (c.ctx.msg.isRequest ? currentRuriParsed(c.ctx).scheme : null) },
  du: { get: (c) => c.ctx.du, set: (c, v) => { if (v === null) c.ctx.du = null; else { parseUri(str(v)); c.ctx.du = str(v); } } },
  fu: { get: (c) => c.ctx.from?.uri ?? c.ctx.msg.from().uri, set: (c, v) => setNaUri(c, 'from', str(v)) },
  fU: { get: (c) => naUri(c, 'from').user || null, set: (c, v) => setNaUriPart(c, 'from', (u) => { u.user = str(v); }) },
  fd: { get: (c) => naUri(c, 'from').host, set: (c, v) => setNaUriPart(c, 'from', (u) => { u.host = str(v); }) },
  fn: { get: (c) => c.ctx.msg.from().displayName ?? null, set: (c, v) => setNaDisplay(c, 'from', v) },
  ft: { get: (c) => c.ctx.msg.from().tag ?? null },
  tu: { get: (c) => c.ctx.to?.uri ?? c.ctx.msg.to().uri, set: (c, v) => setNaUri(c, 'to', str(v)) },
  tU: { get: (c) => naUri(c, 'to').user || null, set: (c, v) => setNaUriPart(c, 'to', (u) => { u.user = str(v); }) },
  td: { get: (c) => naUri(c, 'to').host, set: (c, v) => setNaUriPart(c, 'to', (u) => { u.host = str(v); }) },
  tn: { get: (c) => c.ctx.msg.to().displayName ?? null, set: (c, v) => setNaDisplay(c, 'to', v) },
  tt: { get: (c) => c.ctx.msg.to().tag ?? null },
  ci: { get: (c) => c.ctx.msg.callId() },
  cs: { get: (c) => c.ctx.msg.cseq().num },
  si: { get: (c) => c.ctx.srcIp },
  sp: { get: (c) => c.ctx.srcPort },
  Ri: { get: (c) => c.ctx.sock.bindHost },
  Rp: { get: (c) => c.ctx.sock.port },
  pr: { get: () => 'udp' },
  proto: { get: () => 'udp' },
  rs: { get: (c) => (c.ctx.msg.isRequest ? null : c.ctx.msg.status) },
  rr: { get: (c) => (c.ctx.msg.isRequest ? null : c.ctx.msg.reason) },
  ua: { get: headerGetter('User-Agent') },
  mb: { get: (c) => c.ctx.msg.buf.toString('utf8', 0, c.ctx.msg.bodyStart + c.ctx.msg.bodyLength) },
  ml: { get: (c) => c.ctx.msg.bodyStart + c.ctx.msg.bodyLength },
  rb: { get: (c) => c.ctx.msg.body().toString('utf8') },
  cl: { get: (c) => c.ctx.msg.bodyLength },
  mf: { get: (c) => c.ctx.flags },
  bf: { get: (c) => c.ctx.bflags },
};

function avpList(core: SipCore, name: string): (string | number)[] | undefined {
  return core.ctx.avps?.get(name);
}

function parametric(kind: string, arg: string, full: string): PvSpec {
  switch (kind) {
    case 'hdr':
      return { name: full, get: headerGetter(arg) };
    case 'hdrc':
      return { name: full, get: (c) => c.ctx.msg.getHeaders(arg).length };
    case 'var':
      return {
        name: full,
        get: () => scriptVars.get(arg) ?? null,
        set: (_c, v) => { if (v === null) scriptVars.delete(arg); else scriptVars.set(arg, v); },
      };
    case 'avp':
      return {
        name: full,
        get: (c) => { const l = avpList(c, arg); return l && l.length ? l[l.length - 1] : null; },
        set: (c, v) => {
          const ctx = c.ctx;
          if (v === null) { ctx.avps?.delete(arg); return; }
          const avps = ctx.avpList();
          const l = avps.get(arg);
          if (l) l.push(v); else avps.set(arg, [v]);
        },
      };
    case 'xavp': {
      // name[index]=>field, index 0 (the newest record) when absent; read-only here
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?=>([A-Za-z_][A-Za-z0-9_]*)$/.exec(arg.trim());
      if (!m) throw new PvError(`bad ${full}: expected $xavp(name[index]=>field)`);
      const [, name, index, field] = m;
      const at = Number(index ?? 0);
      return { name: full, get: (c) => c.ctx.xavps?.get(name!)?.[at]?.[field!] ?? null };
    }
    default:
      throw new PvError(`unknown pseudo-variable ${full}`);
  }
}

const cache = new Map<string, PvSpec>();

/** Parses "$name" or "$name(arg)" (also "$(name(arg))"), cached. Throws PvError. */
export function pvSpec(text: string): PvSpec {
  let spec = cache.get(text);
  if (spec !== undefined) return spec;
  let t = text.trim();
  if (!t.startsWith('$')) throw new PvError(`"${text}" is not a pseudo-variable`);
  t = t.slice(1);
  if (t.startsWith('(') && t.endsWith(')')) t = t.slice(1, -1);
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:\((.*)\))?$/.exec(t);
  if (!m) throw new PvError(`bad pseudo-variable "${text}"`);
  const fromModule = modulePvSpec(text, m[1]!, m[2]?.trim() ?? '');
  if (fromModule) spec = fromModule;
  else if (m[2] !== undefined) spec = parametric(m[1]!, m[2].trim(), text);
  else {
    const f = FIXED[m[1]!];
    if (!f) throw new PvError(`unknown pseudo-variable ${text}`);
    spec = { name: text, ...f };
  }
  cache.set(text, spec);
  return spec;
}

/** Splits an xlog-style format into literal text and pseudo-variables, cached per format. */
type FmtPart = string | PvSpec;
const fmtCache = new Map<string, FmtPart[]>();
// an argument may hold one pseudo-variable of its own: $T_req($hdr(From))
const PV_IN_TEXT = /\$(\([A-Za-z_]\w*(?:\((?:[^()]|\([^()]*\))*\))?\)|[A-Za-z_]\w*(?:\((?:[^()]|\([^()]*\))*\))?)/g;

export function formatWithPvs(core: SipCore, fmt: string): string {
  let parts = fmtCache.get(fmt);
  if (parts === undefined) {
    parts = [];
    let last = 0;
    for (const m of fmt.matchAll(PV_IN_TEXT)) {
      let spec: PvSpec;
      try { spec = pvSpec(m[0]); } catch { continue; } // not a known variable: keep it as text
      if (m.index! > last) parts.push(fmt.slice(last, m.index));
      parts.push(spec);
      last = m.index! + m[0].length;
    }
    if (last < fmt.length) parts.push(fmt.slice(last));
    if (fmtCache.size > 1024) fmtCache.clear();
    fmtCache.set(fmt, parts);
  }
  let out = '';
  for (const p of parts) {
    if (typeof p === 'string') out += p;
    else {
      let v: PvValue;
      try { v = p.get(core); } catch { v = null; }
      out += v === null ? '<null>' : String(v);
    }
  }
  return out;
}

