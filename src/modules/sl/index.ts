// sl: stateless replies (Kamailio's sl module): sl_send_reply and friends, the reply builder in
// reply.ts (the core's own rejections use it too), and the filter that ends the ACK of a reply
// we sent statelessly before the script sees it.
import type { MsgContext } from '../../core/context.js';
import { METHOD_ACK } from '../../core/sip/methods.js';
import { SL_RECEIVED_ACKS, SL_STATS } from '../../core/stats/counters.js';
import { defineModule, kemi, ROUTE } from '../module.js';
import { sendStatelessReply } from './reply.js';

const REPLIES = ROUTE.REQUEST | ROUTE.FAILURE | ROUTE.BRANCH;

/** sl.stats keys, in sl_stats.c rpc_stats() order: each is the `sl:<key>_replies` statistic
 *  (Kamailio leaves 1xx out of this RPC). A JSON object lists "200".."500" before "2xx".. anyway. */
const RPC_CODES = ['200', '202', '2xx', '300', '301', '302', '3xx', '400', '401', '403', '404', '407', '408', '483', '4xx', '500', '5xx', '6xx', 'xxx'] as const;

type Totals = () => Map<string, number>;

/** An ACK whose To-tag is one of our stateless replies' tags ends here (Kamailio's sl ACK filter). */
function absorbOwnAck(ctx: MsgContext): boolean {
  const msg = ctx.msg;
  if (msg.methodId !== METHOD_ACK) return false;
  const tag = msg.to().tag;
  if (tag === undefined || !tag.startsWith(ctx.core.instanceTag)) return false;
  ctx.core.counters.inc(SL_RECEIVED_ACKS);
  return true;
}

export default defineModule({
  name: 'sl',
  stats: SL_STATS,
  hooks: { request: absorbOwnAck },
  setup: (env) => ({ threadData: null, state: () => env.stats() }),
  rpc: {
    'sl.stats': {
      doc: 'Print reply statistics.',
      handler: (totals: Totals) => {
        const all = totals();
        return Object.fromEntries(RPC_CODES.map((code) => [code, all.get(`sl:${code}_replies`) ?? 0]));
      },
    },
  },
  functions: {
    /** sl_send_reply(code, reason): 1 on success, -1 on failure */
    sl_send_reply: kemi(['int', 'str'], 'int', (ctx, code, reason) => sendStatelessReply(ctx, Number(code), String(reason)), REPLIES),
    /** send_reply(code, reason): statefully when a transaction exists (tm), else stateless */
    send_reply: kemi(['int', 'str'], 'int', (ctx, code, reason) => sendStatelessReply(ctx, Number(code), String(reason)), REPLIES),
    /** sl_reply_error(): replies with the error of the last failed core operation (500 when none) */
    sl_reply_error: kemi([], 'int', (ctx) => sendStatelessReply(ctx, 500, 'Server Internal Error'), REPLIES),
  },
});
