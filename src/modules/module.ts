// The export table every module folder provides (its index.ts): Kamailio-style module
// parameters with defaults and validation, and the KSR.<module>.* functions.
import type { SipCore } from '../core/core.js';

export type ParamValue = string | number;

export interface ParamDef {
  default: ParamValue;
  type: 'int' | 'str';
  /** Returns an error message for a bad value. */
  check?(v: ParamValue): string | undefined;
}

export interface ModuleDef<F extends object = object> {
  name: string;
  params?: Record<string, ParamDef>;
  /** Builds the KSR.<name> function table for one thread. */
  kemi(core: SipCore, params: Record<string, ParamValue>): F;
}

export function defineModule<F extends object>(def: ModuleDef<F>): ModuleDef<F> {
  return def;
}

/** Kamailio's boolean-as-int convention for functions that report success. */
export const ok = (b: boolean): number => (b ? 1 : -1);
