// xlog: log lines with pseudo-variables interpolated ("$rm from $si").
import { formatWithPvs } from '../../core/pv.js';
import { defineModule } from '../module.js';

const LEVELS: Record<string, number> = {
  L_ALERT: -5, L_BUG: -4, L_CRIT: -2, L_ERR: -1, L_WARN: 0, L_NOTICE: 1, L_INFO: 2, L_DBG: 3,
};

export default defineModule({
  name: 'xlog',
  kemi: (core) => {
    const at = (level: number) => (fmt: string): number => {
      // Kamailio formats end in "\n"; our logger ends every line itself
      if (level <= core.log.level) core.log.at(level, formatWithPvs(core, fmt).replace(/\r?\n$/, ''));
      return 1;
    };
    return {
      /** xlog(level, fmt): level as "L_INFO", "L_ERR" ... */
      xlog: (level: string, fmt: string): number => at(LEVELS[level] ?? -1)(fmt),
      xalert: at(-5), xcrit: at(-2), xerr: at(-1), xwarn: at(0), xnotice: at(1), xinfo: at(2), xdbg: at(3),
    };
  },
});
