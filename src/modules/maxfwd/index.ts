// maxfwd: Max-Forwards processing with Kamailio's functions and codes, and the core's forward
// step that RFC 3261 16.3 step 3 / 16.6 step 3 require of every proxy: 483 at zero, otherwise
// decrement (or add the header) unless the script already did.
import type { MsgContext } from '../../core/context.js';
import { HDR } from '../../core/sip/headers.js';
import { sendStatelessReply } from '../sl/reply.js';
import { defineModule, kemi, ROUTE } from '../module.js';

const DEFAULT_MAX_FORWARDS = 70;
let maxLimit = 70;

/** The forward hook: false (after a 483) when Max-Forwards is 0. */
function onForward(ctx: MsgContext): boolean {
  if (ctx.maxfwdDone) return true;
  const msg = ctx.msg;
  const mf = msg.maxForwards();
  if (mf === 0) {
    sendStatelessReply(ctx, 483, 'Too Many Hops');
    return false;
  }
  if (mf > 0) {
    const h = msg.getHeader(HDR.MAX_FORWARDS)!;
    ctx.lumps.replace(h.valueStart, h.valueEnd, String(mf - 1));
  } else {
    ctx.lumps.insert(msg.headersEnd, `Max-Forwards: ${DEFAULT_MAX_FORWARDS}\r\n`);
  }
  ctx.maxfwdDone = true;
  return true;
}

/**
 * process_maxfwd(limit): 2 header absent, added with `limit`; 1 decremented; -1 it is 0 (send
 * 483); -2 error. A value above max_limit is lowered to it.
 */
function processMaxfwd(ctx: MsgContext, limit: number): number {
  const msg = ctx.msg;
  if (!msg.isRequest) return -2;
  let mf: number;
  try { mf = msg.maxForwards(); } catch { return -2; }
  if (ctx.maxfwdDone) return 1; // already processed for this message
  if (mf < 0) {
    ctx.lumps.insert(msg.headersEnd, `Max-Forwards: ${Math.min(Number(limit), maxLimit)}\r\n`);
    ctx.maxfwdDone = true;
    return 2;
  }
  if (mf === 0) return -1;
  const h = msg.getHeader(HDR.MAX_FORWARDS)!;
  ctx.lumps.replace(h.valueStart, h.valueEnd, String(Math.min(mf - 1, maxLimit)));
  ctx.maxfwdDone = true;
  return 1;
}

/** is_maxfwd_lt(n): 1 if Max-Forwards is lower than n, -1 if not, -2 if absent or bad */
function isMaxfwdLt(ctx: MsgContext, n: number): number {
  let mf: number;
  try { mf = ctx.msg.maxForwards(); } catch { return -2; }
  if (mf < 0) return -2;
  return mf < Number(n) ? 1 : -1;
}

export default defineModule({
  name: 'maxfwd',
  params: {
    max_limit: { default: 70, type: 'int', check: (v) => (Number(v) >= 1 && Number(v) <= 255 ? undefined : 'must be 1..255') },
  },
  hooks: { forward: onForward },
  threadInit: (env) => { maxLimit = Number(env.params.max_limit); },
  functions: {
    process_maxfwd: kemi(['int'], 'int', processMaxfwd, ROUTE.REQUEST | ROUTE.FAILURE | ROUTE.BRANCH),
    is_maxfwd_lt: kemi(['int'], 'int', isMaxfwdLt, ROUTE.REQUEST | ROUTE.FAILURE | ROUTE.BRANCH),
  },
});
