// pv: KSR.pv.* over the pseudo-variable table in core/pv.ts (and the ones modules add).
import type { MsgContext } from '../../core/context.js';
import { L_DBG } from '../../core/log.js';
import { pvSpec, type PvValue } from '../../core/pv.js';
import { SipParseError } from '../../core/sip/errors.js';
import { defineModule, kemi } from '../module.js';

function get(ctx: MsgContext, name: string): PvValue {
  try {
    return pvSpec(name).get(ctx.core);
  } catch (e) {
    // a header of the message that does not parse is bad input; anything else the script's error
    if (e instanceof SipParseError) ctx.core.log.limited(L_DBG, 'pv:bad-input', `KSR.pv.get("${name}"): ${e.reason}`);
    else ctx.core.log.err(`KSR.pv.get("${name}"): ${(e as Error).message}`);
    return null;
  }
}

function set(ctx: MsgContext, name: string, v: PvValue): number {
  const spec = pvSpec(name);
  if (!spec.set) throw new Error(`${name} is read-only`);
  try {
    spec.set(ctx.core, v);
  } catch (e) {
    // the header the variable edits does not parse (e.g. a forwarded From URI): -1, as Kamailio
    if (!(e instanceof SipParseError)) throw e;
    ctx.core.log.limited(L_DBG, 'pv:bad-input', `KSR.pv.set("${name}"): ${e.reason}`);
    return -1;
  }
  return 1;
}

export default defineModule({
  name: 'pv',
  functions: {
    get: kemi(['str'], 'xval', get),
    /** like get, but "" instead of null */
    gete: kemi(['str'], 'xval', (ctx, name) => get(ctx, name) ?? ''),
    /** like get, but 0 instead of null or a non-number */
    geti: kemi(['str'], 'int', (ctx, name) => { const v = get(ctx, name); return typeof v === 'number' ? v : Number(v) || 0; }),
    /** get, or the given default when null */
    getvn: kemi(['str', 'int'], 'xval', (ctx, name, dflt) => get(ctx, name) ?? dflt),
    getvs: kemi(['str', 'str'], 'xval', (ctx, name, dflt) => get(ctx, name) ?? dflt),
    /** get, or "<<null>>" as Kamailio prints it */
    getw: kemi(['str'], 'xval', (ctx, name) => get(ctx, name) ?? '<<null>>'),
    sets: kemi(['str', 'str'], 'int', (ctx, name, v) => set(ctx, name, String(v))),
    seti: kemi(['str', 'int'], 'int', (ctx, name, v) => set(ctx, name, Math.trunc(Number(v)))),
    unset: kemi(['str'], 'int', (ctx, name) => set(ctx, name, null)),
    is_null: kemi(['str'], 'bool', (ctx, name) => get(ctx, name) === null),
  },
});
