// Builds what the module registry (modules/index.ts) describes: the KSR object a routing script
// sees (one per thread, each function bound to the thread's current message context), module
// parameters with defaults, the modules' per-thread init and core hooks, the KSR type, the
// app_jsdt.api_list listing, and the check of a script's KSR.<module>.<function>() calls.
import { ConfigError } from './config.js';
import type { SipCore } from './core.js';
import { MODULES } from '../modules/index.js';
import { registerModulePv } from './pv.js';
import { registerModuleCounters } from './stats/counters.js';
import { ROUTE, type KemiFunction, type KsrFunctions, type ModuleDef, type ParamValue } from '../modules/module.js';

type Modules = typeof MODULES;

/** The KSR object's type: the core functions, and KSR.<module> for every other module. */
export type KSRApi = KsrFunctions<Modules['']['functions']> & {
  readonly [M in Exclude<keyof Modules, ''>]: KsrFunctions<Modules[M]['functions']>;
};

/** The registry as [name, definition] pairs, in order. */
export function modules(): [string, ModuleDef][] {
  return Object.entries(MODULES) as [string, ModuleDef][];
}

// the modules' statistics get their counter columns, in registry order, in every thread alike
// and their pseudo-variables join the table of core/pv.ts
for (const [name, mod] of modules()) {
  if (mod.stats) registerModuleCounters(name, mod.stats);
  for (const [pv, def] of Object.entries(mod.pvs ?? {})) registerModulePv(pv, def);
}

/** Module parameters with defaults applied and validated; throws ConfigError. */
export function resolveModparams(given: Record<string, Record<string, ParamValue>>): Record<string, Record<string, ParamValue>> {
  const out: Record<string, Record<string, ParamValue>> = {};
  for (const [name, mod] of modules()) {
    const p: Record<string, ParamValue> = {};
    for (const [k, def] of Object.entries(mod.params ?? {})) p[k] = def.default;
    out[name] = p;
  }
  const known = modules().map(([n]) => n).filter((n) => n !== '' && n !== 'x');
  for (const [modName, params] of Object.entries(given)) {
    const mod = (MODULES as Record<string, ModuleDef>)[modName];
    if (!mod || modName === '') throw new ConfigError(`modparam: no module "${modName}" (have ${known.join(', ')})`);
    for (const [k, v] of Object.entries(params)) {
      const def = mod.params?.[k];
      if (!def) throw new ConfigError(`modparam: module "${modName}" has no parameter "${k}"`);
      const value = def.type === 'int' ? Number(v) : String(v);
      if (def.type === 'int' && !Number.isInteger(value)) throw new ConfigError(`modparam ${modName}:${k}: "${v}" is not an integer`);
      const err = def.check?.(value);
      if (err) throw new ConfigError(`modparam ${modName}:${k}=${v}: ${err}`);
      out[modName]![k] = value;
    }
  }
  return out;
}

/** Route kind names for the "not allowed here" message. */
const ROUTE_NAMES: [number, string][] = [
  [ROUTE.REQUEST, 'request'], [ROUTE.FAILURE, 'failure'], [ROUTE.TM_ONREPLY, 'onreply'], [ROUTE.BRANCH, 'branch'],
  [ROUTE.ONSEND, 'onsend'], [ROUTE.CORE_ONREPLY, 'reply'], [ROUTE.BRANCH_FAILURE, 'branch-failure'],
];

function notAllowed(core: SipCore, name: string): number {
  const where = ROUTE_NAMES.find(([bit]) => bit === core.routeKind)?.[1] ?? String(core.routeKind);
  core.log.err(`KSR.${name}() is not allowed in a ${where} route`);
  return -1;
}

/**
 * A script-facing function: the implementation with the thread's current context first. Up to
 * four arguments are passed as they come (no rest parameters: this is on every KSR call); a
 * function restricted to some route kinds checks the running kind first.
 */
function bind(core: SipCore, fullName: string, f: KemiFunction): unknown {
  const impl = f.impl;
  if (f.routes === ROUTE.ANY) return (a: unknown, b: unknown, c: unknown, d: unknown) => impl(core.ctx, a, b, c, d);
  const allowed = f.routes;
  return (a: unknown, b: unknown, c: unknown, d: unknown) =>
    ((core.routeKind & allowed) !== 0 ? impl(core.ctx, a, b, c, d) : notAllowed(core, fullName));
}

/** How a thread's modules hear from the main thread (ThreadEnv.onMessage), per module. */
export interface ThreadLink {
  row: number;
  onMessage(module: string, handler: (data: unknown) => void): void;
  toMain(module: string, data: unknown): void;
}

/**
 * Sets up the modules on `core` (per-thread init, core hooks) and returns its KSR object.
 * `moduleData`: what the modules' set-up produced on the main thread (absent for the main
 * thread's script check); `thread`: this thread's link to the main thread.
 */
export function buildKSR(
  core: SipCore,
  modparams: Record<string, Record<string, ParamValue>>,
  moduleData: Record<string, unknown> = {},
  thread?: ThreadLink,
): KSRApi {
  const ksr: Record<string, unknown> = {};
  for (const [name, mod] of modules()) {
    mod.threadInit?.({
      core,
      params: modparams[name] ?? {},
      data: moduleData[name],
      row: thread?.row ?? 0,
      onMessage: (h) => thread?.onMessage(name, h),
      toMain: thread ? (d) => thread.toMain(name, d) : null,
    });
    // Object.fromEntries: fast properties (an object built key by key this size is a dictionary)
    const fns = Object.fromEntries(Object.entries(mod.functions).map(([fn, f]) => [fn, bind(core, name ? `${name}.${fn}` : fn, f)]));
    if (name === '') Object.assign(ksr, fns);
    else ksr[name] = fns;
  }
  core.installHooks(modules().flatMap(([, m]) => (m.hooks ? [m.hooks] : [])));
  return Object.fromEntries(Object.entries(ksr)) as KSRApi;
}

/** One app_jsdt.api_list entry, as Kamailio's sr_kemi_param_map names the types. */
export interface ApiListEntry { func: { ret: string; module: string; name: string; params: string } }

/** Kamailio's app_jsdt.api_list: every KSR function with module, name, parameter and return types. */
export function apiList(): { msize: number; methods: ApiListEntry[] } {
  const methods: ApiListEntry[] = [];
  for (const [module, mod] of modules()) {
    if (module === 'x') continue; // KSR.x is added beside the KEMI exports in Kamailio: not listed
    for (const [name, f] of Object.entries(mod.functions)) {
      methods.push({ func: { ret: f.ret, module, name, params: f.params.length ? f.params.join(', ') : 'none' } });
    }
  }
  return { msize: methods.length, methods };
}

/** Whether KSR has `fn` (core) or `module.fn`. */
export function hasKemiFunction(module: string | null, fn: string): boolean {
  const mod = (MODULES as Record<string, ModuleDef>)[module ?? ''];
  return mod !== undefined && Object.hasOwn(mod.functions, fn);
}

/** Whether `name` is a KSR.<name> module object. */
export function isKemiModule(name: string): boolean {
  return name !== '' && Object.hasOwn(MODULES, name);
}
