// siputils: small message predicates.
import { SipParseError } from '../../core/sip/errors.js';
import { defineModule, ok } from '../module.js';

export default defineModule({
  name: 'siputils',
  kemi: (core) => ({
    /** -1 also when To does not parse (a reply's To is not checked by the core), as Kamailio */
    has_totag: (): number => {
      try { return ok(core.ctx.msg.to().tag !== undefined); } catch (e) { if (e instanceof SipParseError) return -1; throw e; }
    },
    is_request: (): number => ok(core.ctx.msg.isRequest),
    is_reply: (): number => ok(!core.ctx.msg.isRequest),
    /** a request with a single Via (no proxy before us); a reply with two (it is for the first hop) */
    is_first_hop: (): number => ok(core.ctx.msg.vias().length === (core.ctx.msg.isRequest ? 1 : 2)),
    is_uri_user_e164: (uri: string): number => {
      const m = /^(?:sips?|tel):\+?(\d+)/i.exec(uri);
      return ok(!!m && m[1].length >= 2 && m[1].length <= 15 && uri.includes('+'));
    },
  }),
});
