// The export table every module folder provides in its index.ts, as Kamailio's module_exports:
// KEMI functions (typed, with the route kinds they are allowed in), module parameters, RPC
// methods, statistics, pseudo-variables, hooks into the core pipeline, set-up on the main thread
// and per-thread init. src/modules/index.ts lists the modules; KSR, the script's types,
// app_jsdt.api_list and the start-up check of a script's KSR calls are all built from it.
import type { Registry } from 'prom-client';
import type { MsgContext, SocketInfo } from '../core/context.js';
import type { SipCore, Transport } from '../core/core.js';
import type { Settings } from '../core/config.js';
import type { Logger } from '../core/log.js';
import type { ModulePv, PvValue } from '../core/pv.js';
import type { ShmUse } from '../core/shm/regions.js';

export type ParamValue = string | number;

export interface ParamDef {
  default: ParamValue;
  type: 'int' | 'str';
  /** Returns an error message for a bad value. */
  check?(v: ParamValue): string | undefined;
}

// ---------------------------------------------------------------- KEMI functions

/** Kamailio's KEMI parameter and return types (sr_kemi_param_map). */
export type KemiParamType = 'int' | 'str';
export type KemiReturnType = 'none' | 'int' | 'bool' | 'str' | 'xval';

type TsParam<T> = T extends 'int' ? number : string;
type TsParams<P extends readonly KemiParamType[]> = { -readonly [K in keyof P]: TsParam<P[K]> };
type TsReturn<R> = R extends 'int' ? number : R extends 'bool' ? boolean : R extends 'str' ? string
  : R extends 'xval' ? PvValue : void;

/** Route kinds, Kamailio's values (route.h); an event route runs as a request route there too. */
export const ROUTE = {
  REQUEST: 1,
  FAILURE: 2,
  TM_ONREPLY: 4,
  BRANCH: 8,
  ONSEND: 16,
  ERROR: 32,
  LOCAL: 64,
  CORE_ONREPLY: 128,
  BRANCH_FAILURE: 256,
  ONREPLY: 4 | 128,
  EVENT: 1,
  ANY: 0x7fffffff,
} as const;

export interface KemiFunction<A extends unknown[] = any[], R = unknown> { // eslint-disable-line @typescript-eslint/no-explicit-any
  params: readonly KemiParamType[];
  ret: KemiReturnType;
  /** ROUTE bits where the function may be called; elsewhere it logs and returns -1 */
  routes: number;
  /** The implementation: the message context first, then the script's arguments. */
  impl: (ctx: MsgContext, ...args: A) => R;
}

/**
 * Declares a KEMI function: Kamailio's parameter and return types, and an implementation that
 * takes the message context. The script-facing signature is derived from `params`.
 */
export function kemi<const P extends readonly KemiParamType[], R extends KemiReturnType>(
  params: P, ret: R, impl: (ctx: MsgContext, ...args: TsParams<P>) => TsReturn<R>, routes: number = ROUTE.ANY,
): KemiFunction<TsParams<P>, TsReturn<R>> {
  return { params, ret, routes, impl };
}

/** What KSR.<module> looks like to a script, derived from a module's functions. */
export type KsrFunctions<F> = {
  [K in keyof F]: F[K] extends KemiFunction<infer A, infer R> ? (...args: A) => R : never;
};

// ---------------------------------------------------------------- pseudo-variables

/** A pseudo-variable a module adds: `$name` or `$name(arg)` (parametric gets the argument). */
export type PvDef = ModulePv;

// ---------------------------------------------------------------- hooks into the core

/**
 * Where a module joins the core pipeline (see core.ts). Hooks run in registry order; a hook that
 * returns true has taken the message: the core stops there.
 */
export interface CoreHooks {
  /** A request that passed the core checks, before the script (sl: the ACK of our own reply). */
  request?(ctx: MsgContext): boolean;
  /** A reply, before stateless forwarding by Via (tm: the replies of its transactions). */
  reply?(ctx: MsgContext): boolean;
  /** A request about to be forwarded; false stops the forward (a reply may have been sent). */
  forward?(ctx: MsgContext): boolean;
  /** Header lines the module adds at the top of a forwarded request leaving from `out`. */
  forwardHeaders?(ctx: MsgContext, out: SocketInfo): string;
}

// ---------------------------------------------------------------- set-up and threads

/** What a module's set-up gets on the main thread, before the SIP threads start. */
export interface ModuleSetupEnv {
  params: Record<string, ParamValue>;
  /** The routing script's path: relative file names in module parameters are taken from its folder. */
  scriptFile: string;
  settings: Settings;
  log: Logger;
  /** Rows of per-thread counters a module may keep: one per thread, see ThreadEnv.row. */
  threadRows: number;
  /** Sends `data` to this module's instance in every SIP thread (ThreadEnv.onMessage); it
   *  also becomes the thread data a restarted thread starts with. */
  broadcast(data: unknown): void;
  /** Sends `data` to this module's instance in every running SIP thread (ThreadEnv.onMessage),
   *  once: unlike broadcast, not what a restarted thread starts with (an RPC's request). */
  toThreads(data: unknown): void;
  /** The main thread's core with the script loaded (event routes run there); null until the
   *  server has started. */
  mainCore(): SipCore | null;
  /** Calls a script function by name on the main thread's core. */
  callScript(name: string, ...args: unknown[]): unknown;
  /** Sends from the listening sockets (requests the main thread originates: dispatcher's probes). */
  transport: Transport;
  sockets: SocketInfo[];
  /** Receives what this module's instances on the SIP threads send with ThreadEnv.toMain. */
  onThreadMessage(handler: (data: unknown) => void): void;
  /** Counter totals over every thread, `group:name` -> value (sl.stats reads its own). */
  stats(): Map<string, number>;
}

export interface ModuleSetup<S = unknown> {
  /** Handed to every SIP thread's threadInit (structured-clonable; SharedArrayBuffers are shared). */
  threadData: unknown;
  /** What the module's RPC methods act on (main thread). */
  state?: S;
  /** Prometheus metrics of the module, registered once. */
  metrics?(registry: Registry): void;
  /** The shared memory the module made, as it is now (core.shmmem); see core/shm/regions.ts. */
  shm?(): ShmUse[];
  /** Called once the SIP threads run (timers that send: dispatcher's probing). */
  start?(): void;
  stop?(): void | Promise<void>;
}

/** A module's per-thread init: each SIP thread (and the main thread's script instance). */
export interface ThreadEnv {
  core: SipCore;
  params: Record<string, ParamValue>;
  /** The set-up's threadData; undefined where no set-up ran (the script check on the main thread). */
  data: unknown;
  /** This thread's counters row (0: main, 1: receiver, 2..: workers). */
  row: number;
  /** Receives what the main thread's set-up broadcasts later (a reload). */
  onMessage(handler: (data: unknown) => void): void;
  /** Sends `data` (structured-clonable) to the module's set-up on the main thread (onThreadMessage);
   *  null where no main thread listens (the script check). */
  toMain: ((data: unknown) => void) | null;
}

export interface RpcMethodDef<S> {
  doc: string;
  handler(state: S, params: unknown[]): unknown;
}

export interface ModuleDef<F extends Record<string, KemiFunction> = Record<string, KemiFunction>, S = any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  /** Kamailio's module name: KSR.<name>; '' for the core functions (KSR.forward ...). */
  name: string;
  params?: Record<string, ParamDef>;
  functions: F;
  /** RPC methods ("dispatcher.list"), handed the set-up's state. */
  rpc?: Record<string, RpcMethodDef<S>>;
  /** Statistics of the module, `name` as in "<module>:<name>" (stats.get_statistics). */
  stats?: readonly string[];
  /** Pseudo-variables the module adds, by name without the "$". */
  pvs?: Record<string, PvDef>;
  hooks?: CoreHooks;
  /** Main thread, once, before the SIP threads start; throws ConfigError to stop start-up. */
  setup?(env: ModuleSetupEnv): ModuleSetup<S> | Promise<ModuleSetup<S>>;
  /** Each thread that runs the script, before the script loads. */
  threadInit?(env: ThreadEnv): void;
}

export function defineModule<const F extends Record<string, KemiFunction>, S = undefined>(def: ModuleDef<F, S>): ModuleDef<F, S> {
  return def;
}

/** Kamailio's boolean-as-int convention for functions that report success. */
export const ok = (b: boolean): number => (b ? 1 : -1);
