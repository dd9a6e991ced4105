// xlog: log lines with pseudo-variables interpolated ("$rm from $si").
import type { MsgContext } from '../../core/context.js';
import { formatWithPvs } from '../../core/pv.js';
import { defineModule, kemi } from '../module.js';

const LEVELS: Record<string, number> = {
  L_ALERT: -5, L_BUG: -4, L_CRIT: -2, L_ERR: -1, L_WARN: 0, L_NOTICE: 1, L_INFO: 2, L_DBG: 3,
};

function xlogAt(ctx: MsgContext, level: number, fmt: string): number {
  // Kamailio formats end in "\n"; our logger ends every line itself
  const log = ctx.core.log;
  if (level <= log.level) log.at(level, formatWithPvs(ctx.core, fmt).replace(/\r?\n$/, ''));
  return 1;
}

const at = (level: number) => kemi(['str'], 'int', (ctx, fmt) => xlogAt(ctx, level, fmt));

export default defineModule({
  name: 'xlog',
  functions: {
    /** xlog(level, fmt): level as "L_INFO", "L_ERR" ... */
    xlog: kemi(['str', 'str'], 'int', (ctx, level, fmt) => xlogAt(ctx, LEVELS[level] ?? -1, fmt)),
    xalert: at(-5), xcrit: at(-2), xerr: at(-1), xwarn: at(0), xnotice: at(1), xinfo: at(2), xdbg: at(3),
  },
});
