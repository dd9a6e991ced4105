// The export table every module folder provides (its index.ts): Kamailio-style module
// parameters with defaults and validation, the KSR.<module>.* functions, and, for modules with
// state of their own (dispatcher), a set-up step on the main thread.
import type { Registry } from 'prom-client';
import type { SipCore, Transport } from '../core/core.js';
import type { SocketInfo } from '../core/context.js';
import type { Settings } from '../core/config.js';
import type { Logger } from '../core/log.js';
import type { RpcRegistry } from '../rpc/registry.js';

export type ParamValue = string | number;

export interface ParamDef {
  default: ParamValue;
  type: 'int' | 'str';
  /** Returns an error message for a bad value. */
  check?(v: ParamValue): string | undefined;
}

/** What a module's set-up gets on the main thread, before the SIP threads start. */
export interface ModuleSetupEnv {
  params: Record<string, ParamValue>;
  /** The routing script's path: relative file names in module parameters are taken from its folder. */
  scriptFile: string;
  settings: Settings;
  log: Logger;
  rpc: RpcRegistry;
  /** Rows of per-thread counters a module may keep: one per thread, see ModuleThread.row. */
  threadRows: number;
  /** Sends `data` to this module's instance in every SIP thread (ModuleThread.onMessage); it
   *  also becomes the thread data a restarted thread starts with. */
  broadcast(data: unknown): void;
  /** The main thread's core with the script loaded (event routes run there); null until the
   *  server has started. */
  mainCore(): SipCore | null;
  /** Calls a script function by name on the main thread's core. */
  callScript(name: string, ...args: unknown[]): unknown;
  /** Sends from the listening sockets (requests the main thread originates: dispatcher's probes). */
  transport: Transport;
  sockets: SocketInfo[];
  /** Receives what this module's instances on the SIP threads send with ModuleThread.toMain. */
  onThreadMessage(handler: (data: unknown) => void): void;
}

export interface ModuleSetup {
  /** Handed to every SIP thread's kemi() (structured-clonable). */
  threadData: unknown;
  /** Prometheus metrics of the module, registered once. */
  metrics?(registry: Registry): void;
  /** Called once the SIP threads run (timers that send: dispatcher's probing). */
  start?(): void;
  stop?(): void | Promise<void>;
}

/** A module instance's link to its thread. */
export interface ModuleThread {
  /** This thread's counters row (0: main, 1: receiver, 2..: workers). */
  row: number;
  /** Receives what the main thread's set-up broadcast. */
  onMessage(handler: (data: unknown) => void): void;
  /** Sends `data` (structured-clonable) to the module's set-up on the main thread (onThreadMessage). */
  toMain(data: unknown): void;
}

export interface ModuleDef<F extends object = object> {
  name: string;
  params?: Record<string, ParamDef>;
  /** Main thread, once, before the SIP threads start; throws ConfigError to stop start-up. */
  setup?(env: ModuleSetupEnv): ModuleSetup | Promise<ModuleSetup>;
  /**
   * Builds the KSR.<name> function table for one thread. `data` is the set-up's threadData
   * (undefined where no set-up ran: the script check on the main thread).
   */
  kemi(core: SipCore, params: Record<string, ParamValue>, data?: unknown, thread?: ModuleThread): F;
}

export function defineModule<F extends object>(def: ModuleDef<F>): ModuleDef<F> {
  return def;
}

/** Kamailio's boolean-as-int convention for functions that report success. */
export const ok = (b: boolean): number => (b ? 1 : -1);
