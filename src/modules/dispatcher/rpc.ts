// dispatcher.* RPC methods with Kamailio's parameters, replies and faults.
import { INVALID_PARAMS, RpcError } from '../../rpc/registry.js';
import type { ParamValue, RpcMethodDef } from '../module.js';
import { DispatcherListError, DS_DISABLED, DS_INACTIVE, DS_TRYING, makeDestination, type DsDestination } from './list.js';
import type { Prober } from './probe.js';
import { ALG, dsHash, selectOrder } from './select.js';
import { F_LAT_AVG, F_LAT_EST, F_LAT_MAX, F_LAT_STD, F_TIMEOUTS, type DsTable } from './table.js';

export interface DispatcherControl {
  table(): DsTable;
  /** re-reads list_file / db_url and swaps the sets in (throws on a bad source, keeping the old) */
  reload(): void;
  /** swaps in these destinations */
  replace(dests: DsDestination[]): void;
  prober: Prober;
  params: Record<string, ParamValue>;
}

// Kamailio's dispatcher faults are rpc->fault(ctx, 500, "..."), and jsonrpcs answers with that code.
// Its texts come first; what follows the colon says why, which Kamailio only logs.
const DS_FAULT = 500;
const fault = (msg: string) => new RpcError(DS_FAULT, msg);
const ACTIVE = 0;
const STATE_VALUES = 'a or 1 (active), i or 0 (inactive), d or 2 (disabled), t or 3 (trying); ap, ip, tp add probing';

/** A set id as Kamailio's rpc->scan("d") takes it: an integer, or a string of one. */
function groupId(v: unknown): number | null {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : NaN;
  return Number.isSafeInteger(n) ? n : null;
}

/** Kamailio compares destination URIs case-insensitively (strncasecmp in ds_reinit_state). */
const sameUri = (a: string, b: string) => a.length === b.length && a.toLowerCase() === b.toLowerCase();

/** Why `address` matched nothing in `group`: the set is missing, or which URIs it has. */
function notFound(t: DsTable, group: number, address: string): string {
  const s = t.set(group);
  if (!s) {
    const ids = t.sets.map((x) => x.setid);
    return `destination set ${group} not found (${ids.length ? `sets: ${ids.join(', ')}` : 'no sets loaded'})`;
  }
  return `${address} is not in set ${group} (it has ${s.members.map((i) => t.dests[i]!.uri).join(', ')})`;
}

/** dispatcher.set_state letters: 0/i inactive, 1/a active, 2/d disabled, 3/t trying; a second "p" adds probing. */
function rpcState(s: string): { state: number; probing: boolean } | null {
  const first = s[0]?.toLowerCase();
  const state = first === '0' || first === 'i' ? DS_INACTIVE : first === '1' || first === 'a' ? ACTIVE
    : first === '2' || first === 'd' ? DS_DISABLED : first === '3' || first === 't' ? DS_TRYING : -1;
  if (state < 0) return null;
  const probing = s[1]?.toLowerCase() === 'p' && state !== DS_DISABLED;
  return { state, probing };
}

function listDest(t: DsTable, i: number, detail: 'short' | 'normal' | 'full', latency: boolean): Record<string, unknown> {
  const d = t.dests[i]!;
  const dest: Record<string, unknown> = { URI: d.uri, FLAGS: t.flagLetters(i), PRIORITY: d.priority };
  if (detail === 'full') Object.assign(dest, { HOST: d.host, PORT: d.port, PROTOID: 1 });
  if ((detail !== 'short' && d.attrsText) || detail === 'full') {
    dest.ATTRS = {
      BODY: d.attrsText || null, DUID: d.attrs.duid ?? null, MAXLOAD: d.attrs.maxload ?? 0, WEIGHT: d.attrs.weight ?? 0,
      RWEIGHT: d.attrs.rweight ?? 0, SOCKET: d.attrs.socket ?? null, SOCKNAME: null, OBPROXY: null,
    };
  }
  if (latency) {
    dest.LATENCY = { AVG: t.latency(i, F_LAT_AVG), STD: t.latency(i, F_LAT_STD), EST: t.latency(i, F_LAT_EST), MAX: t.latency(i, F_LAT_MAX), TIMEOUT: t.latency(i, F_TIMEOUTS) };
  }
  dest.RUNTIME = { DLGLOAD: t.load(i) };
  return { DEST: dest };
}

/** dispatcher.* with Kamailio's parameters, replies and faults, on the set-up's DispatcherControl. */
export const dispatcherRpc: Record<string, RpcMethodDef<DispatcherControl>> = {
  'dispatcher.list': {
    doc: 'Return the content of dispatcher sets',
    handler: (c, params) => {
      const mode = params[0] === undefined ? 'normal' : String(params[0]);
      if (mode !== 'short' && mode !== 'full' && mode !== 'normal') throw new RpcError(INVALID_PARAMS, 'Invalid Parameters (short or full)');
      const t = c.table();
      if (t.sets.length === 0) throw fault('No Destination Sets');
      const latency = Number(c.params.ds_ping_interval) > 0;
      return {
        NRSETS: t.sets.length,
        RECORDS: t.sets.map((s) => ({ SET: { ID: s.setid, TARGETS: s.members.map((i) => listDest(t, i, mode, latency)) } })),
      };
    },
  },
  'dispatcher.set_state': {
    doc: 'Set the state of a destination address (state group address|all)',
    handler: (c, params) => {
      const [stateText, groupText, address] = params.map((p) => (p === undefined ? undefined : String(p)));
      const group = groupId(params[1]);
      if (stateText === undefined || groupText === undefined || address === undefined) {
        throw fault('Invalid Parameters: dispatcher.set_state STATE GROUP ADDRESS|all (e.g. ip 1 sip:10.0.0.2:5060)');
      }
      if (group === null) throw fault(`Invalid Parameters: group "${groupText}" is not a set id (an integer)`);
      if (stateText === '') throw fault(`Invalid State Parameter: use ${STATE_VALUES}`);
      const st = rpcState(stateText);
      if (!st) throw fault(`Unknown State Value "${stateText}": use ${STATE_VALUES}`);
      const t = c.table();
      const s = t.set(group);
      const targets = s ? s.members.filter((i) => address === 'all' || sameUri(t.dests[i]!.uri, address)) : [];
      if (targets.length === 0) throw fault(`State Update Failed: ${notFound(t, group, address)}`);
      // set directly: no thresholds, no events (as Kamailio)
      for (const i of targets) t.setState(i, st.state, st.probing);
      return 'Ok. Dispatcher state updated.';
    },
  },
  'dispatcher.reload': {
    doc: 'Reload dispatcher destination sets (the running sets stay if the source is bad)',
    handler: (c, params) => {
      try {
        c.reload();
      } catch (e) {
        throw fault(`Reload Failed: ${e instanceof DispatcherListError ? e.message : (e as Error).message}`);
      }
      return 'Ok. Dispatcher successfully reloaded.';
    },
  },
  'dispatcher.ping_active': {
    doc: 'Get or set the global probing state (0 or 1)',
    handler: (c, params) => {
      const old = c.prober.active ? 1 : 0;
      if (params[0] === undefined) return { OldPingState: old };
      const v = Number(params[0]);
      if (v !== 0 && v !== 1) throw new RpcError(INVALID_PARAMS, 'Invalid Parameters (0 or 1)');
      c.prober.active = v === 1;
      return { NewPingState: v, OldPingState: old };
    },
  },
  'dispatcher.add': {
    doc: 'Add a destination (group address [flags [priority [attrs]]])',
    handler: (c, params) => {
      const [group, address, flags, priority, attrs] = params;
      if (group === undefined || address === undefined) {
        throw fault('Invalid Parameters: dispatcher.add GROUP ADDRESS [FLAGS [PRIORITY [ATTRS]]]');
      }
      let d: DsDestination;
      try {
        d = makeDestination({ setid: group, uri: address, flags, priority, attrs }, 'dispatcher.add');
      } catch (e) {
        throw fault(`Adding dispatcher dst failed: ${(e as Error).message}`);
      }
      const dests = c.table().dests;
      // Kamailio would add a second copy, which doubles the URI's share and which set_state and
      // remove cannot tell apart; the same set and URI is refused instead.
      if (dests.some((x) => x.setid === d.setid && sameUri(x.uri, d.uri))) {
        throw fault(`Adding dispatcher dst failed: ${d.uri} is already in set ${d.setid}`);
      }
      c.replace([...dests, d]);
      return 'Ok. Dispatcher destination added.';
    },
  },
  'dispatcher.remove': {
    doc: 'Remove a destination (group address)',
    handler: (c, params) => {
      const address = params[1] === undefined ? undefined : String(params[1]);
      const group = groupId(params[0]);
      if (params[0] === undefined || address === undefined) throw fault('Invalid Parameters: dispatcher.remove GROUP ADDRESS');
      if (group === null) throw fault(`Invalid Parameters: group "${String(params[0])}" is not a set id (an integer)`);
      const t = c.table();
      const after = t.dests.filter((d) => !(d.setid === group && sameUri(d.uri, address)));
      if (after.length === t.dests.length) throw fault(`Removing dispatcher dst failed: ${notFound(t, group, address)}`);
      c.replace(after);
      return 'Ok. Dispatcher destination removed.';
    },
  },
  'dispatcher.hash': {
    doc: 'The destination the hash algorithms pick in a set for a key: set val1 [val2] (val1 alone for a Call-ID, '
      + 'user host for From/To/R-URI); viaduct hashes by rendezvous, not by hash % slots as Kamailio does',
    handler: (c, params) => {
      const [group, v1, v2] = params;
      if (group === undefined || v1 === undefined) throw fault('Invalid Parameters');
      const t = c.table();
      const setid = Number(group);
      if (!t.set(setid)) throw fault(`Unknown Destination Set ${String(group)}`);
      const key = dsHash(String(v1), v2 === undefined ? null : String(v2));
      // the order ds_select_dst takes with a hash algorithm for this key: same function, same state
      const order = selectOrder(t, setid, ALG.HASH_CALLID, key);
      return {
        hashid: key | 0, // Kamailio prints ds_get_hash as a signed int
        set: setid,
        uri: order.length ? t.dests[order[0]!]!.uri : null,
        candidates: order.map((i) => t.dests[i]!.uri),
      };
    },
  },
};
