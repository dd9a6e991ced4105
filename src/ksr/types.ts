// Types for routing scripts written in TypeScript:
//   import type { KSR } from 'viaduct';       (or use the global KSR declared below)
import type { KSRApi } from '../core/ksr.js';
import type { ScriptSettings } from '../core/config.js';

export type KSR = KSRApi;
export type Settings = ScriptSettings;

declare global {
  // eslint-disable-next-line no-var
  var KSR: KSRApi;
}
