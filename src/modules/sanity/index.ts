// sanity: Kamailio's optional message checks (checks.ts), asked for by the script.
import { defineModule, kemi, type ParamDef, type ThreadEnv } from '../module.js';
import { DEFAULT_CHECKS, DEFAULT_URI_CHECKS, MAX_CHECKS, Sanity, URI_MAX_CHECKS, parseStrList } from './checks.js';

let sanity: Sanity;

function threadInit({ core, params: p }: ThreadEnv): void {
  const proxyRequire = parseStrList(String(p.proxy_require));
  core.validateOptions.proxyRequire = proxyRequire;
  sanity = new Sanity(core, {
    defaultChecks: Number(p.default_checks),
    uriChecks: Number(p.uri_checks),
    proxyRequire,
    noReply: Number(p.noreply) !== 0,
    sizeChecks: Number(p.size_checks) !== 0,
    sizes: {
      message: Number(p.size_message), method: Number(p.size_method), ruri: Number(p.size_ruri),
      header: Number(p.size_header), headers: Number(p.size_headers), body: Number(p.size_body),
      fromUri: Number(p.size_from_uri), toUri: Number(p.size_to_uri), contactUri: Number(p.size_contact_uri),
      routeUri: Number(p.size_route_uri),
    },
  });
}

const range = (lo: number, hi: number): ParamDef['check'] => (v) => (Number(v) >= lo && Number(v) <= hi ? undefined : `must be ${lo}..${hi}`);
const size = (d: number): ParamDef => ({ default: d, type: 'int', check: range(0, 2 ** 31 - 1) });

export default defineModule({
  name: 'sanity',
  params: {
    default_checks: { default: DEFAULT_CHECKS, type: 'int', check: range(1, MAX_CHECKS - 1) },
    uri_checks: { default: DEFAULT_URI_CHECKS, type: 'int', check: range(1, URI_MAX_CHECKS - 1) },
    /** Supported Proxy-Require extensions, "foo, bar"; the core's RFC 3261 16.3 check uses them too. */
    proxy_require: { default: '', type: 'str' },
    /** Only for kamailio.cfg's sanity_check() (0 ends the script there); KEMI's returns -1 either way, as Kamailio. */
    autodrop: { default: 1, type: 'int', check: range(0, 1) },
    noreply: { default: 0, type: 'int', check: range(0, 1) },
    size_checks: { default: 0, type: 'int', check: range(0, 1) },
    size_message: size(16384),
    size_method: size(32),
    size_ruri: size(256),
    size_header: size(2048),
    size_headers: size(8192),
    size_body: size(8192),
    size_from_uri: size(256),
    size_to_uri: size(256),
    size_contact_uri: size(256),
    size_route_uri: size(256),
  },
  threadInit,
  functions: {
    /** 1: passed; -1: a check failed (its reply sent unless noreply=1) or bad flags */
    sanity_check: kemi(['int', 'int'], 'int', (_ctx, msgChecks, uriChecks) => sanity.check(Number(msgChecks), Number(uriChecks))),
    sanity_check_defaults: kemi([], 'int', () => sanity.checkDefaults()),
    /** sends the reply of the check that failed (with noreply=1), or 500 */
    sanity_reply: kemi([], 'int', () => sanity.reply()),
  },
});
