// tmx: Kamailio's tm extensions (KSR.tmx.*): which kind of route runs, the pre-transaction
// check, cancelling branches from an onreply route, and the $T_req/$T_rpl/$T pseudo-variables.
// The transactions are tm's (tm.ts).
import type { MsgContext } from '../../core/context.js';
import { pvSpec, type PvValue } from '../../core/pv.js';
import { defineModule, kemi, ok, ROUTE } from '../module.js';
import { cancelBranches, precheckTrans, tReqCtx, tRplCtx, tVar } from '../tm/tm.js';

/** $T_req(pv) / $T_rpl(pv): the inner pseudo-variable read on another message; null without it. */
function pvOn(ctx: MsgContext, other: MsgContext | null, inner: string): PvValue {
  if (other === null) return null;
  const spec = pvSpec(inner);
  return ctx.core.withContext(other, () => spec.get(ctx.core));
}

const CANCEL_MODES: Record<string, number> = { all: 0, others: 1, this: 2 };

export default defineModule({
  name: 'tmx',
  pvs: {
    T_req: { get: (ctx, inner) => pvOn(ctx, tReqCtx(ctx), inner) },
    T_rpl: { get: (ctx, inner) => pvOn(ctx, tRplCtx(ctx), inner) },
    /** $T(reply_code | reply_reason | reply_last | reply_type | branch_index) */
    T: { get: (ctx, name) => tVar(ctx, name) },
  },
  functions: {
    t_is_request_route: kemi([], 'int', (ctx) => ok(ctx.core.routeKind === ROUTE.REQUEST)),
    /** onreply_route, either the core's or a transaction's */
    t_is_reply_route: kemi([], 'int', (ctx) => ok((ctx.core.routeKind & ROUTE.ONREPLY) !== 0)),
    t_is_failure_route: kemi([], 'int', (ctx) => ok(ctx.core.routeKind === ROUTE.FAILURE)),
    t_is_branch_route: kemi([], 'int', (ctx) => ok(ctx.core.routeKind === ROUTE.BRANCH)),
    /**
     * t_precheck_trans(): 1 when the request is a retransmission of one whose transaction is
     * being made. viaduct absorbs retransmissions before the script, so it is -1 there.
     */
    t_precheck_trans: kemi([], 'int', (ctx) => precheckTrans(ctx), ROUTE.REQUEST),
    /** t_cancel_branches("all" | "others" | "this") */
    t_cancel_branches: kemi(['str'], 'int', (ctx, mode) => {
      const n = CANCEL_MODES[String(mode).toLowerCase()];
      return n === undefined ? -1 : cancelBranches(ctx, n);
    }, ROUTE.ONREPLY),
  },
});
