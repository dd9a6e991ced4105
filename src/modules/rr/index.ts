// rr: Record-Route and loose routing (RFC 3261 16.4, 16.6 step 4, 16.12), stateless.
// record_route() only marks the message: this module's forward hook writes the header when the
// core knows the outgoing socket, so that a change of socket gives two entries (r2=on) as in
// Kamailio.
import type { MsgContext, SocketInfo } from '../../core/context.js';
import { parseUriCached } from '../../core/core.js';
import type { NameAddr } from '../../core/sip/message.js';
import { HDR } from '../../core/sip/headers.js';
import { defineModule, kemi, ok, ROUTE } from '../module.js';

const paramCache = new Map<string, RegExp>();

/**
 * Removes Route values, a whole header line when every value on it goes (removing each value
 * of "Route: <a>, <b>" separately would leave an empty header). One walk over the Route set,
 * whose values come line by line: a Route set can hold thousands of values (a hostile message),
 * so nothing here may be quadratic in their number.
 */
function removeRoutes(ctx: MsgContext, gone: NameAddr[]): void {
  const all = ctx.msg.routes();
  for (let i = 0; i < all.length;) {
    const h = all[i].header;
    let end = i;
    let removed = 0;
    for (; end < all.length && all[end].header === h; end++) if (gone.includes(all[end])) removed++;
    if (removed === end - i) ctx.lumps.remove(h.lineStart, h.lineEnd);
    else if (removed > 0) for (let k = i; k < end; k++) if (gone.includes(all[k])) ctx.lumps.remove(all[k].removeStart, all[k].removeEnd);
    i = end;
  }
}

let doubleRr = true;

/** The forward hook: Record-Route lines for record_route() / record_route_preset(). */
function recordRouteHeaders(ctx: MsgContext, out: SocketInfo): string {
  if (ctx.rr !== null) {
    const params = ctx.rr + ctx.rrParams;
    const inn = ctx.sock;
    if (inn === out || !doubleRr) return `Record-Route: <sip:${out.viaHost}:${out.viaPort};lr${params}>\r\n`;
    return `Record-Route: <sip:${out.viaHost}:${out.viaPort};r2=on;lr${params}>\r\n` +
      `Record-Route: <sip:${inn.viaHost}:${inn.viaPort};r2=on;lr${params}>\r\n`;
  }
  if (ctx.rrPreset !== null) {
    let s = '';
    for (const a of ctx.rrPreset) s += `Record-Route: <sip:${a}>\r\n`;
    return s;
  }
  return '';
}

function routeParamsOfTop(ctx: MsgContext): string | null {
  if (ctx.routeParams !== null) return ctx.routeParams;
  if (ctx.msg.getHeader(HDR.ROUTE) === undefined) return null;
  return parseUriCached(ctx.msg.routes()[0].uri).paramsRaw;
}

/** record_route([params]): add Record-Route when the request is forwarded */
function recordRoute(ctx: MsgContext, rrParams?: string): number {
  if (!ctx.msg.isRequest) return -1;
  ctx.rr = rrParams ? (rrParams.startsWith(';') ? rrParams : `;${rrParams}`) : '';
  return 1;
}

/** record_route_preset(addr[, addr2]): Record-Route <sip:addr;lr> (r2=on on both with two) */
function recordRoutePreset(ctx: MsgContext, addr: string, addr2?: string): number {
  if (!ctx.msg.isRequest) return -1;
  const strip = (a: string): string => a.replace(/^sips?:/i, '');
  ctx.rrPreset = addr2 ? [`${strip(addr)};r2=on;lr`, `${strip(addr2)};r2=on;lr`] : [`${strip(addr)};lr`];
  return 1;
}

/**
 * loose_route(): routes a request by its Route set. 1 when the Route set was processed (next
 * hop in $du, or the R-URI rewritten for a strict router); -1 when there is no Route, or only our
 * own Route on a request outside a dialog (then removed).
 */
function looseRoute(ctx: MsgContext): number {
  const core = ctx.core;
  const msg = ctx.msg;
  if (!msg.isRequest || msg.getHeader(HDR.ROUTE) === undefined) return -1;
  const routes = msg.routes();
  const gone: NameAddr[] = [];
  let first = 0;
  let last = routes.length; // exclusive
  // A strict router before us put our Record-Route URI in the R-URI (RFC 3261 16.4):
  // the original R-URI is the last Route.
  if (core.isMyselfUri(ctx.currentRuri())) {
    ctx.routeParams = parseUriCached(ctx.currentRuri()).paramsRaw;
    const orig = routes[last - 1];
    ctx.ruri = orig.uri;
    ctx.ruriParsed = null;
    gone.push(orig);
    last--;
  }
  if (first < last && core.isMyselfUri(routes[first].uri)) {
    const u = parseUriCached(routes[first].uri);
    ctx.routeParams = u.paramsRaw;
    gone.push(routes[first]);
    first++;
    // double Record-Route (r2=on): the second entry is ours too
    if (u.params.r2 !== undefined && first < last && core.isMyselfUri(routes[first].uri)) {
      gone.push(routes[first]);
      first++;
    }
    if (first >= last) {
      removeRoutes(ctx, gone);
      return msg.to().tag === undefined && ctx.ruri === null ? -1 : 1;
    }
  }
  if (first >= last) {
    removeRoutes(ctx, gone);
    return 1;
  }
  const next = routes[first];
  const nu = parseUriCached(next.uri);
  if ('lr' in nu.params) {
    removeRoutes(ctx, gone);
    ctx.du = next.uri;
    return 1;
  }
  // The next hop is a strict router: it goes in the R-URI, the R-URI at the end of the set.
  const lastRoute = msg.getHeaders(HDR.ROUTE).at(-1)!;
  ctx.lumps.insert(lastRoute.lineEnd, `Route: <${ctx.currentRuri()}>\r\n`);
  ctx.ruri = next.uri;
  ctx.ruriParsed = null;
  gone.push(next);
  removeRoutes(ctx, gone);
  return 1;
}

const ROUTES = ROUTE.REQUEST | ROUTE.FAILURE | ROUTE.BRANCH;

export default defineModule({
  name: 'rr',
  params: {
    enable_double_rr: { default: 1, type: 'int' },
  },
  hooks: { forwardHeaders: recordRouteHeaders },
  threadInit: (env) => { doubleRr = Number(env.params.enable_double_rr) !== 0; },
  functions: {
    record_route: kemi([], 'int', (ctx) => recordRoute(ctx), ROUTES),
    record_route_params: kemi(['str'], 'int', recordRoute, ROUTES),
    record_route_preset_one: kemi(['str'], 'int', (ctx, addr) => recordRoutePreset(ctx, addr), ROUTES),
    record_route_preset: kemi(['str', 'str'], 'int', recordRoutePreset, ROUTES),
    /** add_rr_param(";name=value"): a parameter on our Record-Route */
    add_rr_param: kemi(['str'], 'int', (ctx, param) => { ctx.rrParams += param.startsWith(';') ? param : `;${param}`; return 1; }),
    /** check_route_param(re): our Route's parameters match the regular expression */
    check_route_param: kemi(['str'], 'int', (ctx, pattern) => {
      const p = routeParamsOfTop(ctx);
      if (p === null) return -1;
      let r = paramCache.get(pattern);
      if (!r) { r = new RegExp(pattern); paramCache.set(pattern, r); }
      return ok(r.test(p));
    }),
    loose_route: kemi([], 'int', looseRoute, ROUTES),
  },
});
