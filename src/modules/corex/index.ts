// corex: Kamailio's core extensions (KSR.corex.*). Here the destination-set functions: branches
// appended to the current request, which t_relay forks to in parallel (ctx.branches).
import type { MsgContext } from '../../core/context.js';
import { L_ERR } from '../../core/log.js';
import { defineModule, kemi } from '../module.js';

/** Kamailio's sr_dst_max_branches (12): the R-URI and at most 11 appended branches. */
export const MAX_BRANCHES = 12;

/** str2q: "0" .. "1", up to three decimals, as thousandths; null when malformed. */
export function parseQ(s: string): number | null {
  const m = /^\s*(0(?:\.(\d{0,3}))?|1(?:\.0{0,3})?)\s*$/.exec(s);
  if (!m) return null;
  if (m[1]!.startsWith('1')) return 1000;
  return Number((m[2] ?? '').padEnd(3, '0'));
}

/**
 * Kamailio's corex_append_branch: `uri` (else the current R-URI) with the current $du as a new
 * branch; without a uri the R-URI's attributes move to the branch ($du reset). 1, or -1.
 */
export function appendBranch(ctx: MsgContext, uri: string, qs: string): number {
  const msg = ctx.msg;
  if (!msg.isRequest) return -1;
  let q = -1;
  if (qs !== '') {
    const v = parseQ(qs);
    if (v === null) {
      ctx.core.log.limited(L_ERR, 'corex:q', `append_branch: cannot parse the Q parameter "${qs}"`);
      return -1;
    }
    q = v;
  }
  const list = (ctx.branches ??= []);
  if (list.length >= MAX_BRANCHES - 1) {
    ctx.core.log.limited(L_ERR, 'corex:max', 'append_branch: max nr of branches exceeded');
    return -1;
  }
  list.push({ uri: uri !== '' ? uri : ctx.currentRuri(), du: ctx.du, q });
  if (uri === '') ctx.du = null;
  return 1;
}

export default defineModule({
  name: 'corex',
  functions: {
    /** append_branch(): the current R-URI and $du as a new branch */
    append_branch: kemi([], 'int', (ctx) => appendBranch(ctx, '', '')),
    /** append_branch_uri(uri) */
    append_branch_uri: kemi(['str'], 'int', (ctx, uri) => appendBranch(ctx, String(uri), '')),
    /** append_branch_uri_q(uri, q) */
    append_branch_uri_q: kemi(['str', 'str'], 'int', (ctx, uri, q) => appendBranch(ctx, String(uri), String(q))),
  },
});
