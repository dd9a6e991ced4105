/**
 * Built-in RPC methods, with the names and result shapes of Kamailio's core RPCs (core_cmd.c) and
 * kex statistics RPCs (kex/core_stats.c) as its jsonrpcs module renders them, so kamcmd habits,
 * kamcli scripts and existing exporters keep working:
 *
 *   core.uptime    {"now": ctime, "up_since": ctime, "uptime": seconds}
 *   core.version   "viaduct 0.1.0 (x64/linux)"
 *   core.info      {"version", "id", "compiler", "compiled", "flags"}
 *   core.echo      its parameters, as strings                        ["a", "1"]
 *   core.shmmem [b|k|m|g]  {"total", "free", "used", "real_used", "max_used", "fragments",
 *                  "regions": [{"name", "total", "used", "free"}, ...]}
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
 * Unknown names are skipped silently, as Kamailio does. An unknown group is an error (-32602):
 * Kamailio answers nothing for it, which hides a misspelt group from an exporter for good.
 *
 * Shared memory: Kamailio has one shm pool; ours is the set of SharedArrayBuffers the server made
 * (core/shm/regions.ts). core.shmmem sums them (used = real_used: what is occupied; max_used is
 * the highest used seen by core.shmmem or the shmem: statistics; fragments = the number of
 * regions) and, beyond Kamailio, lists them after Kamailio's keys. The same figures are kex's
 * `shmem:` statistics group (total_size, used_size ...), which a reset leaves alone as Kamailio's.
 *
 * Reset is a baseline kept here, subtracted from what these methods report: worker rows are
 * written without atomics, so zeroing them from this thread could lose a concurrent increment
 * or the reset itself. /metrics keeps the raw totals, since Prometheus counters must only grow.
 */
import type { ShmUse } from '../core/shm/regions.js';
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
  /** The shared memory regions as they are now. */
  shm: () => ShmUse[];
  /** core.info's build fields (Kamailio: repository id, compiler, compile time, compile flags). */
  build: { id: string; compiler: string; compiled: string; flags: string };
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** C ctime() without its newline, local time: "Sat Nov  2 06:00:09 2024". */
export function ctime(d: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${d.getFullYear()}`;
}

/** C's `__TIME__ " " __DATE__`, as Kamailio's core.info "compiled": "06:00:09 Nov  2 2024". */
export function compiledTime(d: Date): string {
  return `${ctime(d).slice(11, 19)} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${d.getFullYear()}`;
}

/** The statistics a selector names, as [group:name, value] pairs in counter order. */
function select(all: Map<string, number>, selector: string): [string, number][] {
  const entries = [...all];
  if (selector === 'all') return entries;
  if (selector.endsWith(':')) {
    const group = entries.filter(([name]) => name.startsWith(selector));
    if (group.length === 0) throw new RpcError(INVALID_PARAMS, `unknown statistics group "${selector.slice(0, -1)}"`);
    return group;
  }
  const full = selector.replace('.', ':');
  const exact = entries.find(([name]) => name === full);
  if (exact) return [exact];
  const bare = entries.find(([name]) => name.slice(name.indexOf(':') + 1) === selector);
  return bare ? [bare] : [];
}

/** core.shmmem's unit parameter -> the right shift Kamailio applies: b, k, m, g, with an optional
 *  trailing b (kb, MB ...). */
function unitShift(params: unknown[]): number {
  if (params.length === 0) return 0;
  const m = /^([bkmg])b?$/i.exec(stringParam(params, 0, 'bad param, (use b|k|m|g)'));
  if (!m || (m[1]!.toLowerCase() === 'b' && m[0].length > 1)) throw new RpcError(INVALID_PARAMS, 'bad param, (use b|k|m|g)');
  return { b: 0, k: 10, m: 20, g: 30 }[m[1]!.toLowerCase() as 'b' | 'k' | 'm' | 'g'];
}

/** Kamailio's `unsigned int` truncation of a byte count by a unit. */
const inUnit = (bytes: number, shift: number): number => Math.floor(bytes / 2 ** shift);

export function registerBuiltins(registry: RpcRegistry, ctx: BuiltinsContext): void {
  const baseline = new Map<string, number>();
  let maxUsed = 0;

  /** Shared memory now, in bytes; raises the high-water mark. */
  function shm() {
    const regions = ctx.shm();
    const total = regions.reduce((n, r) => n + r.total, 0);
    const used = regions.reduce((n, r) => n + r.used, 0);
    maxUsed = Math.max(maxUsed, used);
    return { total, used, regions };
  }

  /** The counters, then kex's shmem: group. */
  function totals(): Map<string, number> {
    const all = ctx.stats();
    const { total, used, regions } = shm();
    all.set('shmem:total_size', total);
    all.set('shmem:used_size', used);
    all.set('shmem:real_used_size', used);
    all.set('shmem:max_used_size', maxUsed);
    all.set('shmem:free_size', total - used);
    all.set('shmem:fragments', regions.length);
    return all;
  }

  /** The statistics every selector in params names (at least one), raw values from `all`. */
  function pick(params: unknown[], all: Map<string, number>): [string, number][] {
    if (params.length === 0) throw new RpcError(INVALID_PARAMS, 'Please provide which stats to retrieve');
    return params.flatMap((_, i) => select(all, stringParam(params, i, 'statistic names must be strings')));
  }

  /** As pick(), values since the last reset. */
  function selected(params: unknown[]): [string, number][] {
    return pick(params, totals()).map(([name, v]) => [name, v - (baseline.get(name) ?? 0)]);
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

  registry.register('core.info', () => ({
    version: `viaduct ${ctx.version}`,
    id: ctx.build.id,
    compiler: ctx.build.compiler,
    compiled: ctx.build.compiled,
    flags: ctx.build.flags,
  }), 'Verbose info, including version number, compile flags, compiler,repository hash a.s.o.');

  registry.register('core.echo', (params) => params.map((_, i) => stringParam(params, i, 'core.echo takes strings and numbers')),
    'Returns back its parameters.');

  registry.register('core.shmmem', (params) => {
    const shift = unitShift(params);
    const { total, used, regions } = shm();
    return {
      total: inUnit(total, shift),
      free: inUnit(total - used, shift),
      used: inUnit(used, shift),
      real_used: inUnit(used, shift),
      max_used: inUnit(maxUsed, shift),
      fragments: regions.length,
      regions: regions.map((r) => ({ name: r.name, total: inUnit(r.total, shift), used: inUnit(r.used, shift), free: inUnit(r.total - r.used, shift) })),
    };
  }, 'Returns shared memory info. It has an optional parameter that specifies the measuring unit: ' +
    'b - bytes (default), k or kb, m or mb, g or gb. Note: when using something different from bytes, the value is truncated.');

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

  /** Moves the baseline of the selected statistics to their raw totals; returns each one's value
   *  before and after (the shmem: gauges stay as they are, as Kamailio's). */
  function reset(params: unknown[]): [name: string, before: number, after: number][] {
    return pick(params, totals()).map(([name, v]) => {
      if (name.startsWith('shmem:')) return [name, v, v];
      const old = v - (baseline.get(name) ?? 0);
      baseline.set(name, v);
      return [name, old, 0];
    });
  }

  registry.register('stats.reset_statistics', (params) => {
    reset(params);
    return {}; // Kamailio's jsonrpcs answers an empty object for a method that adds nothing
  }, 'reset core and modules stats (silent operation)');

  registry.register('stats.clear_statistics', (params) =>
    reset(params).map(([name, before, after]) => (before === after ? `${name} = ${after}` : `${name} = ${after} (${before})`)),
  'clear core and modules stats (verbose operation)');
}
