// maxfwd: Max-Forwards processing (RFC 3261 16.3 step 3, 16.6 step 3) with Kamailio's codes.
import { HDR } from '../../core/sip/headers.js';
import { defineModule } from '../module.js';

export default defineModule({
  name: 'maxfwd',
  params: {
    max_limit: { default: 70, type: 'int', check: (v) => (Number(v) >= 1 && Number(v) <= 255 ? undefined : 'must be 1..255') },
  },
  kemi: (core, params) => ({
    /**
     * 2: header absent, added with `limit`; 1: decremented; -1: it is 0 (send 483);
     * -2: error. A value above max_limit is lowered to it.
     */
    process_maxfwd(limit: number): number {
      const ctx = core.ctx;
      const msg = ctx.msg;
      if (!msg.isRequest) return -2;
      let mf: number;
      try { mf = msg.maxForwards(); } catch { return -2; }
      const cap = Number(params.max_limit);
      if (ctx.maxfwdDone) return 1; // already processed for this message
      if (mf < 0) {
        ctx.lumps.insert(msg.headersEnd, `Max-Forwards: ${Math.min(Number(limit), cap)}\r\n`);
        ctx.maxfwdDone = true;
        return 2;
      }
      if (mf === 0) return -1;
      const h = msg.getHeader(HDR.MAX_FORWARDS)!;
      ctx.lumps.replace(h.valueStart, h.valueEnd, String(Math.min(mf - 1, cap)));
      ctx.maxfwdDone = true;
      return 1;
    },
    /** 1 if Max-Forwards is lower than n, -1 if not, -2 if absent or bad */
    is_maxfwd_lt(n: number): number {
      let mf: number;
      try { mf = core.ctx.msg.maxForwards(); } catch { return -2; }
      if (mf < 0) return -2;
      return mf < Number(n) ? 1 : -1;
    },
  }),
});
