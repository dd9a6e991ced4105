// siputils: small message predicates.
import { SipParseError } from '../../core/sip/errors.js';
import { defineModule, kemi, ok } from '../module.js';

export default defineModule({
  name: 'siputils',
  functions: {
    /** -1 also when To does not parse (a reply's To is not checked by the core), as Kamailio */
    has_totag: kemi([], 'int', (ctx) => {
      try { return ok(ctx.msg.to().tag !== undefined); } catch (e) { if (e instanceof SipParseError) return -1; throw e; }
    }),
    is_request: kemi([], 'int', (ctx) => ok(ctx.msg.isRequest)),
    is_reply: kemi([], 'int', (ctx) => ok(!ctx.msg.isRequest)),
    /** a request with a single Via (no proxy before us); a reply with two (it is for the first hop) */
    is_first_hop: kemi([], 'int', (ctx) => ok(ctx.msg.vias().length === (ctx.msg.isRequest ? 1 : 2))),
    is_uri_user_e164: kemi(['str'], 'int', (_ctx, uri) => {
      const m = /^(?:sips?|tel):\+?(\d+)/i.exec(uri);
      return ok(!!m && m[1].length >= 2 && m[1].length <= 15 && uri.includes('+'));
    }),
  },
});
