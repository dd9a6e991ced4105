// pv: KSR.pv.* over the pseudo-variable table in core/pv.ts.
import { pvSpec, type PvValue } from '../../core/pv.js';
import { SipParseError } from '../../core/sip/errors.js';
import { defineModule } from '../module.js';

export default defineModule({
  name: 'pv',
  kemi: (core) => {
    const get = (name: string): PvValue => {
      try {
        return pvSpec(name).get(core);
      } catch (e) {
        core.log.err(`KSR.pv.get("${name}"): ${(e as Error).message}`);
        return null;
      }
    };
    const set = (name: string, v: PvValue): number => {
      const spec = pvSpec(name);
      if (!spec.set) throw new Error(`${name} is read-only`);
      try {
        spec.set(core, v);
      } catch (e) {
        // the header the variable edits does not parse (e.g. a forwarded From URI): -1, as Kamailio
        if (!(e instanceof SipParseError)) throw e;
        core.log.err(`KSR.pv.set("${name}"): ${e.reason}`);
        return -1;
      }
      return 1;
    };
    return {
      get,
      /** like get, but "" instead of null */
      gete: (name: string): string | number => get(name) ?? '',
      /** like get, but 0 instead of null or a non-number */
      geti: (name: string): number => { const v = get(name); return typeof v === 'number' ? v : Number(v) || 0; },
      /** get, or the given default when null */
      getvn: (name: string, dflt: number): string | number => get(name) ?? dflt,
      getvs: (name: string, dflt: string): string | number => get(name) ?? dflt,
      /** get, or "<<null>>" as Kamailio prints it */
      getw: (name: string): string | number => get(name) ?? '<<null>>',
      sets: (name: string, v: string): number => set(name, String(v)),
      seti: (name: string, v: number): number => set(name, Math.trunc(Number(v))),
      unset: (name: string): number => set(name, null),
      is_null: (name: string): boolean => get(name) === null,
    };
  },
});
