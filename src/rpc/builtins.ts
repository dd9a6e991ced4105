/**
 * Built-in RPC methods, with the names and result shapes of Kamailio's core RPCs (core_cmd.c) and
 * kex statistics RPCs (kex/core_stats.c) as its jsonrpcs module renders them, so kamcmd habits,
 * kamcli scripts and existing exporters keep working:
 *
 *   core.uptime    {"now": ctime, "up_since": ctime, "uptime": seconds}
 *   core.version   "viaduct 0.1.0 (x64/linux)"
 *   core.ps        [PID, "desc", PID, "desc", ...]
 *   core.psx       [{"IDX": 0, "PID": 123, "DSC": "..."}, ...]
 *   system.listMethods, system.methodHelp NAME
 *   stats.get_statistics all | group: | name ...    ["core:rcv_requests = 12", ...]
 *   stats.fetch    (same selectors)                {"core.rcv_requests": "12", ...}
 *   stats.fetchn   (same selectors)                {"core.rcv_requests": 12, ...}
 *   stats.reset_statistics / stats.clear_statistics (same selectors)
 *
 * A statistic selector is "all", "group:" (every statistic of a group), a bare name
 * ("rcv_requests", as Kamailio looks names up) or, beyond Kamailio, "group:name" / "group.name".
 * Unknown names are skipped silently, as Kamailio does.
 *
 * Reset is a baseline kept here, subtracted from what these methods report: worker rows are
 * written without atomics, so zeroing them from this thread could lose a concurrent increment
 * or the reset itself. /metrics keeps the raw totals, since Prometheus counters must only grow.
 */
import { INVALID_PARAMS, RpcError, stringParam, type RpcRegistry } from './registry.js';

export interface ProcessInfo {
  IDX: number;
  PID: number;
  DSC: string;
}

export interface BuiltinsContext {
  startTime: Date;
  /** Bare version ("0.1.0"); core.version adds the name and platform as Kamailio's full_version. */
  version: string;
  /** Counter totals, `group:name` -> value. */
  stats: () => Map<string, number>;
  processes: () => ProcessInfo[];
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** C ctime() without its newline, local time: "Sat Nov  2 06:00:09 2024". */
export function ctime(d: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${d.getFullYear()}`;
}

/** The statistics a selector names, as [group:name, value] pairs in counter order. */
function select(all: Map<string, number>, selector: string): [string, number][] {
  const entries = [...all];
  if (selector === 'all') return entries;
  if (selector.endsWith(':')) return entries.filter(([name]) => name.startsWith(selector));
  const full = selector.replace('.', ':');
  const exact = entries.find(([name]) => name === full);
  if (exact) return [exact];
  const bare = entries.find(([name]) => name.slice(name.indexOf(':') + 1) === selector);
  return bare ? [bare] : [];
}

export function registerBuiltins(registry: RpcRegistry, ctx: BuiltinsContext): void {
  const baseline = new Map<string, number>();

  /** The statistics every selector in params names (at least one), raw values from `all`. */
  function pick(params: unknown[], all: Map<string, number>): [string, number][] {
    if (params.length === 0) throw new RpcError(INVALID_PARAMS, 'Please provide which stats to retrieve');
    return params.flatMap((_, i) => select(all, stringParam(params, i, 'statistic names must be strings')));
  }

  /** As pick(), values since the last reset. */
  function selected(params: unknown[]): [string, number][] {
    return pick(params, ctx.stats()).map(([name, v]) => [name, v - (baseline.get(name) ?? 0)]);
  }

  /** stats.fetch keys: Kamailio prints "group.name". */
  const fetchKey = (name: string) => name.replace(':', '.');

  registry.register('core.uptime', () => {
    const now = new Date();
    return {
      now: ctime(now),
      up_since: ctime(ctx.startTime),
      uptime: Math.floor((now.getTime() - ctx.startTime.getTime()) / 1000),
    };
  }, 'Returns uptime of SIP server.');

  registry.register('core.version', () => `viaduct ${ctx.version} (${process.arch}/${process.platform})`,
    'Returns the version string of the server.');

  registry.register('core.ps', () => ctx.processes().flatMap((p) => [p.PID, p.DSC]),
    'Returns the description of running processes.');

  registry.register('core.psx', () => ctx.processes().map(({ IDX, PID, DSC }) => ({ IDX, PID, DSC })),
    'Returns the detailed description of running processes.');

  registry.register('system.listMethods', () => registry.list(), 'Lists all RPC methods supported by the server.');

  registry.register('system.methodHelp', (params) => {
    if (params.length === 0) throw new RpcError(INVALID_PARAMS, 'Method Name Expected');
    const help = registry.help(stringParam(params, 0, 'Method Name Expected'));
    if (help === undefined) throw new Error('command not found');
    return help || 'undocumented';
  }, 'Print the help string for given method.');

  registry.register('stats.get_statistics', (params) => selected(params).map(([name, v]) => `${name} = ${v}`),
    'get core and modules stats');

  registry.register('stats.fetch', (params) =>
    Object.fromEntries(selected(params).map(([name, v]) => [fetchKey(name), String(v)])),
  'fetch core and modules stats as string values');

  registry.register('stats.fetchn', (params) =>
    Object.fromEntries(selected(params).map(([name, v]) => [fetchKey(name), v])),
  'fetch core and modules stats as number values');

  /** Moves the baseline of the selected statistics to their raw totals; returns the values they
   *  had since the previous reset. */
  function reset(params: unknown[]): [string, number][] {
    const raw = ctx.stats();
    return pick(params, raw).map(([name, v]) => {
      const old = v - (baseline.get(name) ?? 0);
      baseline.set(name, v);
      return [name, old];
    });
  }

  registry.register('stats.reset_statistics', (params) => {
    reset(params);
    return {}; // Kamailio's jsonrpcs answers an empty object for a method that adds nothing
  }, 'reset core and modules stats (silent operation)');

  registry.register('stats.clear_statistics', (params) =>
    reset(params).map(([name, old]) => (old === 0 ? `${name} = 0` : `${name} = 0 (${old})`)),
  'clear core and modules stats (verbose operation)');
}
