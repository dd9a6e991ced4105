// tmx: Kamailio's tm extensions (KSR.tmx.*): which kind of route runs, the pre-transaction
// check, and cancelling branches from an onreply route. The transactions are tm's (tm.ts).
import { defineModule, kemi, ok, ROUTE } from '../module.js';
import { cancelBranches, precheckTrans } from '../tm/tm.js';

const CANCEL_MODES: Record<string, number> = { all: 0, others: 1, this: 2 };

export default defineModule({
  name: 'tmx',
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
