// dispatcher: Kamailio's load balancer over destination sets (KSR.dispatcher.*), with the sets
// and their state in shared memory, keep-alive probing on the main thread, and RPC and metrics.
// Kamailio's names, parameters and return codes; see select.ts for where hashing differs.
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../../core/config.js';
import type { MsgContext } from '../../core/context.js';
import { formatWithPvs, pvSpec } from '../../core/pv.js';
import { HDR } from '../../core/sip/headers.js';
import { METHOD_BYE, METHOD_CANCEL, METHOD_INVITE } from '../../core/sip/methods.js';
import { parseUri } from '../../core/sip/uri.js';
import { wholeRegion } from '../../core/shm/regions.js';
import { defineModule, kemi, ROUTE, type ParamValue, type ThreadEnv } from '../module.js';
import { loadTable } from './db.js';
import { DS_DISABLED, DS_INACTIVE, DS_TRYING, DispatcherListError, loadListFile, type DsDestination } from './list.js';
import { threadWheel } from '../../core/timer/wheel.js';
import { parseReplyCodes, probeReplyClaimer, Prober, type ProbeReplyMessage } from './probe.js';
import { dispatcherRpc, type DispatcherControl } from './rpc.js';
import { dispatcherMetrics } from './metrics.js';
import { ALG, dsHash, selectOrder } from './select.js';
import { onTxEnd } from '../tm/tm.js';
import type { TxRecord } from '../tm/record.js';
import { buildTable, DsTable, type DsTableData } from './table.js';

const DST_XAVP = '_dsdst_';
const CTX_XAVP = '_dsctx_';

const int = (d: number, check?: (v: number) => string | undefined) => ({ default: d, type: 'int' as const, ...(check ? { check: (v: ParamValue) => check(Number(v)) } : {}) });
const str = (d: string) => ({ default: d, type: 'str' as const });
const atLeast = (n: number) => (v: number) => (v >= n ? undefined : `must be >= ${n}`);

/**
 * Reads the destinations from list_file or db_url (db_url wins, as in Kamailio). A relative
 * path is taken from `baseDir` (the script's folder, as Kamailio takes it from its config's).
 */
export function loadDestinations(params: Record<string, ParamValue>, baseDir: string): DsDestination[] {
  const db = String(params.db_url);
  if (db) {
    const m = /^sqlite:\/\/(?!\/)(.+)$/.exec(db); // sqlite://relative/path.db
    return loadTable(m ? `sqlite://${resolve(baseDir, m[1]!)}` : db, String(params.table_name));
  }
  const file = String(params.list_file);
  return file ? loadListFile(resolve(baseDir, file)) : [];
}

/** Kamailio's ds_mark_dst / set_state letters: a, i, t, d, p ("ip" = inactive + probing). */
export function parseStateLetters(s: string): { state: number; probing: boolean } | null {
  let state = 0;
  let probing = false;
  for (const c of s.toLowerCase()) {
    if (c === 'a') { state = 0; probing = false; } else if (c === 'i') state |= DS_INACTIVE;
    else if (c === 't') state |= DS_TRYING;
    else if (c === 'd') state |= DS_DISABLED;
    else if (c === 'p') probing = true;
    else return null;
  }
  if (state & DS_DISABLED) state = DS_DISABLED; // disabled wins
  return { state, probing };
}

/** user and host[:port] of a URI, Kamailio's hash keys for algorithms 1-3. */
function uriKeys(uri: string, userOnly: boolean): [string, string | null] | null {
  try {
    const u = parseUri(uri);
    const defPort = u.scheme === 'sips' ? 5061 : 5060;
    const host = u.port && u.port !== defPort ? `${u.host}:${u.port}` : u.host;
    return [u.user, userOnly ? null : host];
  } catch {
    return null;
  }
}

/** The username of the first Proxy-Authorization, else Authorization header (algorithm 5). */
function authUsername(ctx: MsgContext): string | null {
  const msg = ctx.msg;
  const v = msg.getHeaderValue(HDR.PROXY_AUTHORIZATION) ?? msg.getHeaderValue(HDR.AUTHORIZATION);
  if (v === undefined) return null;
  const m = /(?:^|[\s,])username\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/i.exec(v);
  if (!m) return null;
  const user = (m[1] ?? m[2] ?? '').replace(/\\(.)/g, '$1');
  return user.split('@')[0]!;
}

/** A call's slot (algorithm 10); `answered` once its INVITE got a 2xx (then only BYE/CANCEL end it). */
interface LoadCell { setid: number; uri: string; dest: number; table: DsTable; at: number; answered: boolean }

// ---------------------------------------------------------------- per thread

/** This thread's view of the shared table (replaced on a reload) and its counters row. */
let table = new DsTable(buildTable([], 1, 0));
let row = 0;
let forceDst = true;
let userOnly = false;
/** flags bit 2: keep the other candidates in $xavp(_dsdst_) for ds_next_dst/ds_mark_dst (Kamailio's failover support). */
let failover = false;
let hashPvar = '';
let probingMode = 0;
let expireMs = 7200_000;
// Algorithm 10: the calls holding a slot, by Call-ID (every message of a call comes to this
// thread, so the map is thread-local; the load counters are shared).
const loads = new Map<string, LoadCell>();
/** Takes the replies to our OPTIONS probes for the main thread's prober; null without probing. */
let claimProbeReply: ((ctx: MsgContext) => boolean) | null = null;

function threadInit(env: ThreadEnv): void {
  table = new DsTable((env.data as DsTableData | undefined) ?? buildTable([], 1, 0));
  env.onMessage((d) => { table = new DsTable(d as DsTableData); });
  row = env.row;
  forceDst = Number(env.params.force_dst) === 1;
  userOnly = (Number(env.params.flags) & 1) !== 0;
  failover = (Number(env.params.flags) & 2) !== 0;
  hashPvar = String(env.params.hash_pvar);
  probingMode = Number(env.params.ds_probing_mode);
  expireMs = Number(env.params.ds_hash_expire) * 1000;
  loads.clear();
  onTxEnd(txEnded);
  claimProbeReply = env.toMain && Number(env.params.ds_ping_interval) > 0 ? probeReplyClaimer(env.toMain) : null;
}

/** The reply hook: a probe's reply is taken; any other may release a call-load slot. */
function onReply(ctx: MsgContext): boolean {
  if (claimProbeReply !== null && claimProbeReply(ctx)) return true;
  return releaseOnEnd(ctx);
}

/** The current table's index of a cell's destination (the table may have been reloaded). */
function cellDest(cell: LoadCell): number | undefined {
  return cell.table === table ? cell.dest : table.findUri(cell.setid, cell.uri);
}

function release(callId: string): void {
  const cell = loads.get(callId);
  if (!cell) return;
  loads.delete(callId);
  const i = cellDest(cell);
  if (i !== undefined && table.load(i) > 0) table.addLoad(i, -1);
}

/** An INVITE's outcome: a 2xx keeps the slot until BYE, anything else releases it. */
function inviteEnded(callId: string, code: number): void {
  const cell = loads.get(callId);
  if (!cell || cell.answered) return; // an answered call's re-INVITE does not end it
  if (code >= 200 && code < 300) cell.answered = true;
  else release(callId);
}

/**
 * tm's end of a transaction: the stateful relay keeps the branches' replies to itself, so the
 * slot is released here when the INVITE ends unanswered (its final upstream, after any failover;
 * Kamailio releases it on the dialog's DLGCB_FAILED).
 */
function txEnded(rec: TxRecord): void {
  if (loads.size > 0 && rec.methodId === METHOD_INVITE) inviteEnded(rec.callId, rec.uasCode);
}

function sweep(): void {
  const old = Date.now() - expireMs;
  for (const [id, c] of loads) if (c.at < old) release(id);
}

/**
 * The core hook: a slot is held until BYE/CANCEL or a failed final reply to the INVITE. Replies
 * seen here are relayed statelessly (tm takes its branches' replies before this hook).
 */
function releaseOnEnd(ctx: MsgContext): boolean {
  if (loads.size === 0) return false;
  const msg = ctx.msg;
  if (msg.isRequest) {
    if (msg.methodId === METHOD_BYE || msg.methodId === METHOD_CANCEL) release(msg.callId());
  } else if (msg.status >= 200 && msg.cseq().methodId === METHOD_INVITE) {
    inviteEnded(msg.callId(), msg.status);
  }
  return false;
}

/** The hash key of a hash algorithm, or null when the message has none. */
function hashOf(ctx: MsgContext, alg: number): number | null {
  const msg = ctx.msg;
  try {
    switch (alg) {
      case ALG.HASH_CALLID: return dsHash(msg.callId().trim());
      case ALG.HASH_FROM: { const k = uriKeys(ctx.from?.uri ?? msg.from().uri, userOnly); return k && dsHash(k[0], k[1]); }
      case ALG.HASH_TO: { const k = uriKeys(ctx.to?.uri ?? msg.to().uri, userOnly); return k && dsHash(k[0], k[1]); }
      case ALG.HASH_RURI: { const k = uriKeys(ctx.currentRuri(), userOnly); return k && dsHash(k[0], k[1]); }
      case ALG.HASH_AUTH: { const u = authUsername(ctx); return u === null ? null : dsHash(u); }
      case ALG.HASH_PV: { const v = hashPvar ? formatWithPvs(ctx.core, hashPvar).trim() : ''; return v ? dsHash(v) : null; }
      default: return 0;
    }
  } catch {
    return null;
  }
}

type Mode = 'dst' | 'domain' | 'none';

function apply(ctx: MsgContext, mode: Mode, d: DsDestination): number {
  if (mode === 'dst') ctx.du = d.uri;
  else if (mode === 'domain') {
    try {
      pvSpec('$rd').set!(ctx.core, d.host);
      pvSpec('$rp').set!(ctx.core, d.uriPort);
    } catch {
      return -1;
    }
  }
  return 1;
}

function select(ctx: MsgContext, set: number, algIn: number, limitIn: number | undefined, mode: Mode): number {
  const setid = Number(set);
  let alg = Number(algIn);
  const limit = limitIn === undefined || Number(limitIn) <= 0 ? Infinity : Number(limitIn);
  const t = table;
  if (!t.set(setid)) return -1;
  if (mode === 'dst' && !forceDst && ctx.du !== null) return -1;
  const msg = ctx.msg;
  // call load needs an initial INVITE; anything else is hashed by Call-ID (Kamailio)
  if (alg === ALG.CALL_LOAD && !(msg.isRequest && msg.methodId === METHOD_INVITE)) alg = ALG.HASH_CALLID;
  let key = hashOf(ctx, alg);
  if (key === null && alg === ALG.HASH_AUTH) { alg = ALG.ROUND_ROBIN; key = 0; } // no credentials: round-robin
  if (key === null) return -1;
  const order = selectOrder(t, setid, alg, key);
  if (order.length === 0) return -1;
  const first = order[0]!;
  if (alg === ALG.CALL_LOAD) {
    const callId = msg.callId();
    if (!loads.has(callId)) {
      if (loads.size > 0 && loads.size % 1024 === 0) sweep();
      t.addLoad(first, 1);
      loads.set(callId, { setid, uri: t.dests[first]!.uri, dest: first, table: t, at: Date.now(), answered: false });
    }
  }
  const records = order.slice(0, limit).map((i) => {
    const d = t.dests[i]!;
    const r: Record<string, string | number> = { uri: d.uri, grp: d.setid };
    if (d.attrsText) r.attrs = d.attrsText;
    if (alg === ALG.CALL_LOAD && d.attrs.duid) r.dstid = d.attrs.duid;
    if (d.attrs.socket) r.socket = d.attrs.socket;
    return r;
  });
  if (failover) {
    // the candidates live with the transaction (tm keeps the request's XAVPs for its routes)
    const xavps = ctx.xavpList();
    xavps.set(DST_XAVP, records);
    xavps.set(CTX_XAVP, [{ cnt: records.length }]);
  }
  t.countSelection(row, first);
  return apply(ctx, mode, t.dests[first]!);
}

/** ds_next_dst/ds_next_domain: drop the current candidate, use the next; -1 when none is left. */
function next(ctx: MsgContext, mode: Mode): number {
  if (!failover) return -1; // Kamailio: "failover support disabled"
  const list = ctx.xavps?.get(DST_XAVP);
  if (!list || list.length < 2) {
    if (list) list.length = 0;
    return -1;
  }
  list.shift();
  const t = table;
  const rec = list[0]!;
  const i = t.findUri(Number(rec.grp), String(rec.uri));
  if (i === undefined) return -1;
  ctx.xavps!.get(CTX_XAVP)![0]!.cnt = list.length;
  t.countSelection(row, i);
  moveLoad(ctx.msg.callId(), i);
  return apply(ctx, mode, t.dests[i]!);
}

/** Algorithm 10: the call's slot follows it to the next destination (Kamailio's ds_load_replace). */
function moveLoad(callId: string, to: number): void {
  const cell = loads.size > 0 ? loads.get(callId) : undefined;
  if (!cell) return;
  const t = table;
  const from = cellDest(cell);
  if (from === to) return;
  if (from !== undefined && t.load(from) > 0) t.addLoad(from, -1);
  t.addLoad(to, 1);
  const d = t.dests[to]!;
  Object.assign(cell, { setid: d.setid, uri: d.uri, dest: to, table: t });
}

function markCurrent(ctx: MsgContext, letters: string): number {
  if (!failover) return -1;
  const parsed = parseStateLetters(letters);
  const rec = ctx.xavps?.get(DST_XAVP)?.[0];
  if (!parsed || !rec) return -1;
  const t = table;
  const i = t.findUri(Number(rec.grp), String(rec.uri));
  if (i === undefined) return -1;
  // from the script, "t" takes the destination out at once (thresholds are for probes)
  const state = parsed.state & DS_TRYING && !(parsed.state & DS_DISABLED) ? DS_INACTIVE : parsed.state;
  t.setState(i, state, parsed.probing || undefined);
  return 1;
}

function isFromList(ctx: MsgContext, set: number, mode: number, uri: string): number {
  const t = table;
  let host = ctx.srcIp;
  let port = ctx.srcPort;
  if (uri) {
    try {
      const u = parseUri(uri);
      host = (u.params.maddr || u.host).replace(/^\[|\]$/g, '');
      port = u.port || 5060;
    } catch {
      return -1;
    }
  }
  const NOPORT = 1, NOPROTO = 2, ACTIVE = 4;
  for (const s of t.sets) {
    if (set !== -1 && s.setid !== set) continue;
    for (const i of s.members) {
      const d = t.dests[i]!;
      if (d.host !== host) continue;
      if (!(mode & NOPORT) && d.uriPort !== 0 && d.uriPort !== port) continue;
      if (!(mode & NOPROTO) && d.transport !== 'udp') continue; // the message came over UDP
      if (mode & ACTIVE && !t.usable(i)) continue;
      return 1;
    }
  }
  return -1;
}

function isActive(set: number, uri?: string): number {
  const s = table.set(Number(set));
  if (!s) return -1;
  return s.members.some((i) => (uri === undefined || table.dests[i]!.uri === uri) && table.usable(i)) ? 1 : -1;
}

function setDomainFromCurrent(ctx: MsgContext): number {
  const r = ctx.xavps?.get(DST_XAVP)?.[0];
  const i = r ? table.findUri(Number(r.grp), String(r.uri)) : undefined;
  return i === undefined ? -1 : apply(ctx, 'domain', table.dests[i]!);
}

/** ds_load_update(): releases the call's slot on BYE and CANCEL (done by the hook anyway). */
function loadUpdate(ctx: MsgContext): number {
  const msg = ctx.msg;
  if (msg.isRequest && (msg.methodId === METHOD_BYE || msg.methodId === METHOD_CANCEL)) release(msg.callId());
  return 1;
}

const SELECTS = ROUTE.REQUEST | ROUTE.FAILURE | ROUTE.BRANCH;

export default defineModule({
  name: 'dispatcher',
  rpc: dispatcherRpc,
  hooks: { request: releaseOnEnd, reply: onReply },
  threadInit,
  params: {
    list_file: str(''),
    db_url: str(''),
    table_name: str('dispatcher'),
    force_dst: int(1),
    flags: int(0),
    hash_pvar: str(''),
    ds_ping_interval: int(0, atLeast(0)),
    ds_ping_method: str('OPTIONS'),
    ds_ping_from: str('sip:dispatcher@localhost'),
    ds_ping_fr_timer: int(32000, atLeast(100)),
    ds_probing_threshold: int(1, atLeast(1)),
    ds_inactive_threshold: int(1, atLeast(1)),
    ds_ping_reply_codes: { default: '', type: 'str', check: (v) => { try { parseReplyCodes(String(v)); return undefined; } catch (e) { return (e as Error).message; } } },
    ds_probing_mode: int(0, (v) => (v >= 0 && v <= 3 ? undefined : 'must be 0..3')),
    ds_hash_expire: int(7200, atLeast(1)),
    event_callback: str(''),
  },

  setup(env) {
    const p = env.params;
    let generation = 1;
    let current: DsTable;
    try {
      current = new DsTable(buildTable(loadDestinations(p, dirname(env.scriptFile)), env.threadRows, generation));
    } catch (e) {
      if (e instanceof DispatcherListError) throw new ConfigError(`dispatcher: ${e.message}`);
      throw e;
    }
    env.log.info(`dispatcher: ${current.dests.length} destinations in ${current.sets.length} sets`);

    const swap = (dests: DsDestination[]): void => {
      const next = new DsTable(buildTable(dests, env.threadRows, ++generation, current));
      current = next;
      env.broadcast(next.data);
    };

    // event routes: Kamailio's event_callback gets "dispatcher:dst-down" / "dispatcher:dst-up"
    const fireEvent = (t: DsTable, i: number, up: boolean): void => {
      const fn = String(p.event_callback);
      if (!fn) return;
      const core = env.mainCore();
      if (!core) return;
      try {
        core.runEvent(`${t.dests[i]!.uri}`, () => env.callScript(fn, up ? 'dispatcher:dst-up' : 'dispatcher:dst-down'));
      } catch (e) {
        env.log.err(`dispatcher: ${fn}: ${(e as Error).message}`);
      }
    };

    const prober = new Prober({
      intervalS: Number(p.ds_ping_interval),
      method: String(p.ds_ping_method),
      from: String(p.ds_ping_from),
      frTimerMs: Number(p.ds_ping_fr_timer),
      probingThreshold: Number(p.ds_probing_threshold),
      inactiveThreshold: Number(p.ds_inactive_threshold),
      replyCodes: parseReplyCodes(String(p.ds_ping_reply_codes)),
      mode: Number(p.ds_probing_mode),
      headers: env.settings.userAgentHeader ? `${env.settings.userAgentHeader}\r\n` : '',
    }, { wheel: threadWheel(), transport: env.transport, sockets: env.sockets }, () => current, (t, i, up) => fireEvent(t, i, up), env.log);
    // the replies to the probes reach the SIP threads, whose reply hook hands them here
    env.onThreadMessage((m) => prober.receiveReply(m as ProbeReplyMessage));

    const control: DispatcherControl = {
      table: () => current,
      reload: () => swap(loadDestinations(p, dirname(env.scriptFile))),
      replace: swap,
      prober,
      params: p,
    };

    return {
      threadData: current.data,
      state: control,
      metrics: (registry) => dispatcherMetrics(registry, () => current),
      shm: () => [wholeRegion('dispatcher', current.data)],
      start: () => prober.start(),
      stop: () => prober.stop(),
    };
  },

  functions: {
    /** sets $du to a destination of `set` picked by `alg`; 1, or -1 (no such set, none active ...) */
    ds_select_dst: kemi(['int', 'int'], 'int', (ctx, set, alg) => select(ctx, set, alg, undefined, 'dst'), SELECTS),
    ds_select_dst_limit: kemi(['int', 'int', 'int'], 'int', (ctx, set, alg, limit) => select(ctx, set, alg, limit, 'dst'), SELECTS),
    /** rewrites the R-URI host and port instead of $du */
    ds_select_domain: kemi(['int', 'int'], 'int', (ctx, set, alg) => select(ctx, set, alg, undefined, 'domain'), SELECTS),
    ds_select_domain_limit: kemi(['int', 'int', 'int'], 'int', (ctx, set, alg, limit) => select(ctx, set, alg, limit, 'domain'), SELECTS),
    /** only fills $xavp(_dsdst_) with the candidates */
    ds_select: kemi(['int', 'int'], 'int', (ctx, set, alg) => select(ctx, set, alg, undefined, 'none'), SELECTS),
    ds_select_limit: kemi(['int', 'int', 'int'], 'int', (ctx, set, alg, limit) => select(ctx, set, alg, limit, 'none'), SELECTS),
    ds_next_dst: kemi([], 'int', (ctx) => next(ctx, 'dst'), SELECTS),
    ds_next_domain: kemi([], 'int', (ctx) => next(ctx, 'domain'), SELECTS),
    /** $du from the current candidate, without moving on */
    ds_set_dst: kemi([], 'int', (ctx) => { const r = ctx.xavps?.get(DST_XAVP)?.[0]; return r ? (ctx.du = String(r.uri), 1) : -1; }, SELECTS),
    ds_set_domain: kemi([], 'int', setDomainFromCurrent, SELECTS),
    /** marks the current candidate inactive ("ip" with ds_probing_mode 1) */
    ds_mark_dst: kemi([], 'int', (ctx) => markCurrent(ctx, probingMode === 1 ? 'ip' : 'i')),
    ds_mark_dst_state: kemi(['str'], 'int', (ctx, state) => markCurrent(ctx, String(state))),
    /** 1 if the source address is a destination of `set` (-1: any) */
    ds_is_from_list: kemi(['int'], 'int', (ctx, set) => isFromList(ctx, Number(set), 2, '')),
    ds_is_from_lists: kemi([], 'int', (ctx) => isFromList(ctx, -1, 2, '')),
    /** mode bits: 1 no port, 2 no proto, 4 active only */
    ds_is_from_list_mode: kemi(['int', 'int'], 'int', (ctx, set, mode) => isFromList(ctx, Number(set), Number(mode), '')),
    ds_is_from_list_uri: kemi(['int', 'int', 'str'], 'int', (ctx, set, mode, uri) => isFromList(ctx, Number(set), Number(mode), String(uri))),
    ds_list_exists: kemi(['int'], 'int', (_ctx, set) => (table.set(Number(set)) ? 1 : -1)),
    /** 1 if `set` has an active destination (or `uri` in it is active) */
    ds_is_active: kemi(['int'], 'int', (_ctx, set) => isActive(set)),
    ds_is_active_uri: kemi(['int', 'str'], 'int', (_ctx, set, uri) => isActive(set, String(uri))),
    /** algorithm 10 by hand: release this call's slot (done on BYE, CANCEL and failed INVITEs anyway) */
    ds_load_unset: kemi([], 'int', (ctx) => { release(ctx.msg.callId()); return 1; }),
    ds_load_update: kemi([], 'int', loadUpdate),
  },
});
