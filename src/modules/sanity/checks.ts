// Kamailio's sanity module (modules/sanity/sanity.c, sanity_mod.c): the optional checks a
// script asks for with sanity_check(msg_checks, uri_checks). The core only makes the checks
// RFC 3261 16.3 requires of a proxy (src/core/sip/validate.ts); these are the rest: the same
// bit values, the same order, the same replies (code and reason text) as Kamailio.
import { L_DBG, type Logger } from '../../core/log.js';
import { SipParseError } from '../../core/sip/errors.js';
import { HDR } from '../../core/sip/headers.js';
import type { HeaderField, NameAddr, SipMessage } from '../../core/sip/message.js';
import { METHOD_ACK } from '../../core/sip/methods.js';
import { checkUri } from '../../core/sip/uri.js';

/** msg_checks bits (sanity_mod.h), run in the order of Kamailio's sanity_check(). */
export const CHECK = {
  RURI_SIP_VERSION: 1,
  RURI_SCHEME: 2,
  REQUIRED_HEADERS: 4,
  /** Disabled in Kamailio (its Via parser already refuses other versions): always passes. */
  VIA_SIP_VERSION: 8,
  /** Disabled in Kamailio (its Via parser already refuses unknown transports): always passes. */
  VIA_PROTOCOL: 16,
  CSEQ_METHOD: 32,
  CSEQ_VALUE: 64,
  CONTENT_LENGTH: 128,
  EXPIRES_VALUE: 256,
  PROXY_REQUIRE: 512,
  PARSE_URIS: 1024,
  DIGEST: 2048,
  DUPTAGS: 4096,
  AUTHORIZATION: 8192,
  VIA1_HEADER: 16384,
  RFC3261_COMPLIANCE: 32768,
  SIZES: 65536,
} as const;
/** msg_checks must be below this (SANITY_MAX_CHECKS). */
export const MAX_CHECKS = 1 << 17;

/** uri_checks bits: which URIs the PARSE_URIS check parses. */
export const URI_CHECK = { RURI: 1, FROM: 2, TO: 4, CONTACT: 8 } as const;
/** uri_checks must be below this (SANITY_URI_MAX_CHECKS). */
export const URI_MAX_CHECKS = 1 << 4;

/** Kamailio's defaults: 1|2|4|32|64|128|256|512|2048, and R-URI|From|To. */
export const DEFAULT_CHECKS = 3047;
export const DEFAULT_URI_CHECKS = 7;

/** A failed check: the reply Kamailio sends for it, or code 0 when it fails without one. */
export interface SanityFailure {
  check: number;
  /** 0: Kamailio sends nothing for this failure. */
  code: number;
  reason: string;
  /** With 420: the option-tag for the Unsupported header. */
  unsupported?: string;
  /**
   * Kamailio's FL_MSG_NOREPLY: the request lacks what a reply needs, so sanity_reply() must
   * not answer it either (otherwise a failure without a reply of its own gets 500).
   */
  noReply?: boolean;
}

/** Kamailio's size_* parameters (sn_size_*): 0 turns that one off. */
export interface SizeLimits {
  message: number;
  method: number;
  ruri: number;
  header: number;
  headers: number;
  body: number;
  fromUri: number;
  toUri: number;
  contactUri: number;
  routeUri: number;
}

export interface SanityConfig {
  /** Supported Proxy-Require option-tags (proxy_require, comma-separated, trimmed). */
  proxyRequire: readonly string[];
  /** size_checks: run the size checks on every call, not only with bit 65536. */
  sizeChecks: boolean;
  sizes: SizeLimits;
}

/** What a check reads besides the message: the R-URI as the script has set it ($ru). */
export interface SanityInput {
  msg: SipMessage;
  ruri: string;
}

/** parse_str_list: comma-separated, each item trimmed; an empty string is an empty list. */
export function parseStrList(s: string): string[] {
  const t = s.trim();
  return t === '' ? [] : t.split(',').map((x) => x.trim());
}

function fail(check: number, code: number, reason: string, noReply = false): SanityFailure {
  return noReply ? { check, code, reason, noReply } : { check, code, reason };
}

/** Runs `get`; a SipParseError (a header that does not parse) gives undefined. */
function parsed<T>(get: () => T): T | undefined {
  try {
    return get();
  } catch (e) {
    if (e instanceof SipParseError) return undefined;
    throw e;
  }
}

/**
 * Whether Kamailio's parse_uri() would take this URI: a scheme it knows (sip, sips, tel, tels,
 * urn) and valid syntax (checked by our URI scanner, the same one the core uses).
 */
export function uriParses(uri: string): boolean {
  const colon = uri.indexOf(':');
  const scheme = uri.slice(0, colon).toLowerCase();
  if (scheme !== 'sip' && scheme !== 'sips' && scheme !== 'tel' && scheme !== 'tels' && scheme !== 'urn') return false;
  return parsed(() => checkUri(uri)) !== undefined;
}

// ---------------------------------------------------------------- the checks

function checkRuriSipVersion(msg: SipMessage): SanityFailure | null {
  if (msg.version === 'SIP/2.0') return null;
  return fail(CHECK.RURI_SIP_VERSION, 505, 'Version Not Supported (R-URI)');
}

function checkRuriScheme(ruri: string): SanityFailure | null {
  // parse_uri() refuses unknown schemes, so Kamailio's 416 branch is never reached: 400.
  return uriParses(ruri) ? null : fail(CHECK.RURI_SCHEME, 400, 'Bad Request URI');
}

const TRANSACTION_HEADERS = [HDR.FROM, HDR.TO, HDR.CALL_ID, HDR.CSEQ];

function checkRequiredHeaders(msg: SipMessage): SanityFailure | null {
  for (const id of TRANSACTION_HEADERS) if (!msg.hasHeader(id)) return fail(CHECK.REQUIRED_HEADERS, 0, 'missing header', true);
  if (!msg.hasHeader(HDR.VIA) || parsed(() => msg.topVia()) === undefined) return fail(CHECK.REQUIRED_HEADERS, 0, 'bad Via');
  // a duplicate fails the check without a reply of its own, as in Kamailio
  for (const id of TRANSACTION_HEADERS) if ((msg._repeated & (1 << id)) !== 0) return fail(CHECK.REQUIRED_HEADERS, 0, 'duplicate header');
  return null;
}

/** CSeq split as Kamailio's parse_cseq does: number, LWS, method; undefined if it does not parse. */
function cseqParts(msg: SipMessage): { num: string; method: string } | undefined {
  const h = msg.getHeader(HDR.CSEQ);
  if (h === undefined) return undefined;
  const m = /^(\S+)\s+(\S*)\s*$/.exec(msg.headerValue(h));
  return m === null ? undefined : { num: m[1]!, method: m[2]! };
}

function checkCseqMethod(msg: SipMessage): SanityFailure | null {
  const cseq = cseqParts(msg);
  if (cseq === undefined) return fail(CHECK.CSEQ_METHOD, 0, 'bad CSeq', true);
  if (cseq.method === '') return fail(CHECK.CSEQ_METHOD, 400, 'Missing method in CSeq header');
  // byte for byte, as Kamailio compares them
  if (cseq.method !== msg.method) return fail(CHECK.CSEQ_METHOD, 400, 'CSeq method does not match request method');
  return null;
}

function checkCseqValue(msg: SipMessage): SanityFailure | null {
  const cseq = cseqParts(msg);
  if (cseq === undefined) return fail(CHECK.CSEQ_VALUE, 0, 'bad CSeq', true);
  if (!/^[0-9]{1,10}$/.test(cseq.num) || Number(cseq.num) >= 2 ** 31) return fail(CHECK.CSEQ_VALUE, 400, 'CSeq number is illegal');
  return null;
}

function checkContentLength(msg: SipMessage): SanityFailure | null {
  // over a datagram the body is everything after the headers: bytes beyond Content-Length
  // (which the core ignores, RFC 3261 18.3) are a mismatch here
  const cl = msg.contentLength();
  if (cl >= 0 && msg.buf.length - msg.bodyStart !== cl) return fail(CHECK.CONTENT_LENGTH, 400, 'Content-Length mis-match');
  return null;
}

function checkExpiresValue(msg: SipMessage): SanityFailure | null {
  const h = msg.getHeader(HDR.EXPIRES);
  if (h === undefined) return null;
  const v = msg.headerValue(h).trim();
  if (v === '') return fail(CHECK.EXPIRES_VALUE, 400, 'Bad Expires Header');
  const text = v.split(/[ \t\r\n]/, 1)[0]!; // parse_expires stops at whitespace
  // str2valid_uint: at most 10 digits, no more than 4294967296 (Kamailio's own bound)
  if (!/^[0-9]{1,10}$/.test(text) || Number(text) > 4294967296) return fail(CHECK.EXPIRES_VALUE, 400, 'Expires value is illegal');
  return null;
}

function checkProxyRequire(msg: SipMessage, supported: readonly string[]): SanityFailure | null {
  const h = msg.getHeader(HDR.PROXY_REQUIRE); // the first one, as Kamailio's msg->proxy_require
  if (h === undefined) return null;
  const tags = parseStrList(msg.headerValue(h));
  if (tags.length === 0) return fail(CHECK.PROXY_REQUIRE, 400, 'Bad Proxy Require Header');
  for (const tag of tags) {
    // case-sensitive, as Kamailio (its source notes tokens should not be)
    if (!supported.includes(tag)) return { check: CHECK.PROXY_REQUIRE, code: 420, reason: 'Bad Proxy Require Extension', unsupported: tag };
  }
  return null;
}

/** From or To for PARSE_URIS: missing means no reply at all, broken means 400. */
function checkNameAddrUri(msg: SipMessage, which: 'from' | 'to', reason: string): SanityFailure | null {
  const h = msg.getHeader(which === 'from' ? HDR.FROM : HDR.TO);
  if (h === undefined) return fail(CHECK.PARSE_URIS, 0, `missing ${which}`, true);
  const na = parsed(() => msg[which]());
  return na !== undefined && uriParses(na.uri) ? null : fail(CHECK.PARSE_URIS, 400, reason);
}

function checkParseUris(input: SanityInput, uriChecks: number): SanityFailure | null {
  const msg = input.msg;
  if ((uriChecks & URI_CHECK.RURI) !== 0 && msg.isRequest && !uriParses(input.ruri)) {
    return fail(CHECK.PARSE_URIS, 400, 'Bad Request URI');
  }
  if ((uriChecks & URI_CHECK.FROM) !== 0) {
    const f = checkNameAddrUri(msg, 'from', 'Invalid From Header');
    if (f !== null) return f;
  }
  if ((uriChecks & URI_CHECK.TO) !== 0) {
    const f = checkNameAddrUri(msg, 'to', 'Invalid To Header');
    if (f !== null) return f;
  }
  if ((uriChecks & URI_CHECK.CONTACT) !== 0 && msg.hasHeader(HDR.CONTACT)) {
    const contacts = parsed(() => msg.contacts());
    if (contacts === undefined) return fail(CHECK.PARSE_URIS, 400, 'Bad Contact Header');
    // Kamailio parses the URI of the first contact only
    const first = contacts[0]!;
    if (first.star !== true && !uriParses(first.uri)) return fail(CHECK.PARSE_URIS, 400, 'Bad Contact URI');
  }
  return null;
}

// ---- digest credentials (Kamailio's parse_credentials + check_dig_cred)

const AUTH_PARAM = /\s*([A-Za-z0-9_.!%*+`'~-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,"]*)\s*(?:,|$)/y;

/** The parameters of "Digest a=b, c="d"" (names lower-cased, quotes removed); 'other' for another scheme; null when it does not parse. */
function parseCredentials(value: string): Map<string, string> | 'other' | null {
  const m = /^\s*([A-Za-z0-9_.!%*+`'~-]+)(?:\s+|$)/.exec(value);
  if (m === null) return null;
  if (m[1]!.toLowerCase() !== 'digest') return 'other';
  const params = new Map<string, string>();
  AUTH_PARAM.lastIndex = m[0].length;
  while (AUTH_PARAM.lastIndex < value.length) {
    const start = AUTH_PARAM.lastIndex;
    const p = AUTH_PARAM.exec(value);
    if (p === null || AUTH_PARAM.lastIndex === start) return null;
    const raw = p[2]!;
    params.set(p[1]!.toLowerCase(), raw.startsWith('"') ? raw.slice(1, -1) : raw);
  }
  return params;
}

/** check_digest_only(): null when every credential is good, 'other' for a non-digest scheme. */
function checkDigestOnly(msg: SipMessage, check: number): SanityFailure | 'other' | null {
  const hs: HeaderField[] = msg.getHeaders(HDR.AUTHORIZATION).concat(msg.getHeaders(HDR.PROXY_AUTHORIZATION));
  for (const h of hs) {
    const cred = parseCredentials(msg.headerValue(h));
    if (cred === 'other') return 'other';
    if (cred === null) return fail(check, 400, 'Bad Auth Header');
    const qop = cred.get('qop')?.toLowerCase();
    const missing = ['username', 'realm', 'nonce', 'uri', 'response'].some((k) => !cred.has(k)) ||
      ((qop === 'auth' || qop === 'auth-int') && (!cred.has('cnonce') || !cred.has('nc')));
    if (missing) return fail(check, 400, 'Bad Auth Credentials');
    if (cred.get('username') === '') return fail(check, 400, 'Auth Empty User');
    if (cred.get('nonce') === '') return fail(check, 400, 'Auth Empty Nonce');
    if (cred.get('response') === '') return fail(check, 400, 'Auth Empty Response');
  }
  return null;
}

function checkDigest(msg: SipMessage): SanityFailure | null {
  const r = checkDigestOnly(msg, CHECK.DIGEST);
  // "the message will be considered invalid if the authorization scheme differs from digest"
  return r === 'other' ? fail(CHECK.DIGEST, 0, 'not digest credentials') : r;
}

function checkAuthorization(msg: SipMessage): SanityFailure | null {
  const r = checkDigestOnly(msg, CHECK.AUTHORIZATION);
  return r === 'other' ? null : r;
}

/** How many tag parameters a From or To carries (the parsed params keep only the last). */
function tagCount(msg: SipMessage, na: NameAddr): number {
  let params = msg.str(na.uriEnd, na.end);
  params = params.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  return (params.match(/;\s*tag\s*(?==|;|$)/gi) ?? []).length;
}

function checkDuptags(msg: SipMessage): SanityFailure | null {
  const from = parsed(() => msg.from());
  const to = parsed(() => msg.to());
  if (from === undefined || to === undefined) return fail(CHECK.DUPTAGS, 0, 'bad From or To', true);
  if (tagCount(msg, from) > 1) return fail(CHECK.DUPTAGS, 400, 'Many From Tag Params');
  if (tagCount(msg, to) > 1) return fail(CHECK.DUPTAGS, 400, 'Many To Tag Params');
  return null;
}

function checkVia1(msg: SipMessage): SanityFailure | null {
  const top = parsed(() => msg.topVia());
  if (top === undefined || top.host === '' || top.branch === undefined || top.branch === '') {
    return fail(CHECK.VIA1_HEADER, 0, 'bad first Via', true);
  }
  return null;
}

function checkRfc3261(msg: SipMessage): SanityFailure | null {
  const top = parsed(() => msg.topVia());
  if (top === undefined) return fail(CHECK.RFC3261_COMPLIANCE, 0, 'bad first Via', true);
  if (top.branch === undefined || !top.branch.startsWith('z9hG4bK')) return fail(CHECK.RFC3261_COMPLIANCE, 0, 'no magic cookie');
  // Kamailio looks at the first entry of each line; every entry is checked here
  const routes = parsed(() => msg.recordRoutes().concat(msg.routes()));
  if (routes === undefined) return fail(CHECK.RFC3261_COMPLIANCE, 0, 'bad Route');
  for (const r of routes) {
    if (!uriParses(r.uri) || !/;\s*lr(?:[=;?]|$)/i.test(r.uri)) return fail(CHECK.RFC3261_COMPLIANCE, 0, 'Route without lr');
  }
  return null;
}

/** sanity_check_sizes(): any attribute over its limit fails, without a reply. */
function checkSizes(input: SanityInput, s: SizeLimits): SanityFailure | null {
  const msg = input.msg;
  const over = (len: number, limit: number) => limit > 0 && len > limit;
  const tooBig = fail(CHECK.SIZES, 0, 'size limit');
  if (over(msg.buf.length, s.message)) return tooBig;
  if (msg.isRequest && over(input.ruri.length, s.ruri)) return tooBig;
  const method = msg.isRequest ? msg.method : cseqParts(msg)?.method ?? '';
  if (over(method.length, s.method)) return tooBig;
  for (const h of msg.headers) if (over(h.lineEnd - h.lineStart, s.header)) return tooBig;
  const from = parsed(() => msg.from());
  const to = parsed(() => msg.to());
  if (s.fromUri > 0 && (from === undefined || over(from.uri.length, s.fromUri))) return tooBig;
  if (s.toUri > 0 && (to === undefined || over(to.uri.length, s.toUri))) return tooBig;
  if (over(msg.buf.length - msg.bodyStart, s.body)) return tooBig;
  if (over(msg.headersEnd - msg.firstLineEnd, s.headers)) return tooBig;
  const lists: [() => NameAddr[], number][] = [[() => msg.contacts(), s.contactUri], [() => msg.routes(), s.routeUri], [() => msg.recordRoutes(), s.routeUri]];
  for (const [get, limit] of lists) {
    if (limit <= 0) continue;
    const list = parsed(get);
    if (list === undefined || list.some((na) => na.uri.length > limit)) return tooBig;
  }
  return null;
}

/**
 * Kamailio's sanity_check(): the checks whose bits are set, in Kamailio's order; the first
 * failure is returned, null when all pass. Checks that only make sense for a request (R-URI,
 * CSeq method, Proxy-Require) pass for a reply.
 */
export function runChecks(input: SanityInput, msgChecks: number, uriChecks: number, cfg: SanityConfig): SanityFailure | null {
  const msg = input.msg;
  const req = msg.isRequest;
  let f: SanityFailure | null = null;
  if ((msgChecks & CHECK.SIZES) !== 0 || cfg.sizeChecks) f = checkSizes(input, cfg.sizes);
  if (f === null && (msgChecks & CHECK.RURI_SIP_VERSION) !== 0 && req) f = checkRuriSipVersion(msg);
  if (f === null && (msgChecks & CHECK.RURI_SCHEME) !== 0 && req) f = checkRuriScheme(input.ruri);
  if (f === null && (msgChecks & CHECK.REQUIRED_HEADERS) !== 0) f = checkRequiredHeaders(msg);
  if (f === null && (msgChecks & CHECK.VIA1_HEADER) !== 0) f = checkVia1(msg);
  if (f === null && (msgChecks & CHECK.RFC3261_COMPLIANCE) !== 0) f = checkRfc3261(msg);
  if (f === null && (msgChecks & CHECK.CSEQ_METHOD) !== 0 && req) f = checkCseqMethod(msg);
  if (f === null && (msgChecks & CHECK.CSEQ_VALUE) !== 0) f = checkCseqValue(msg);
  if (f === null && (msgChecks & CHECK.CONTENT_LENGTH) !== 0) f = checkContentLength(msg);
  if (f === null && (msgChecks & CHECK.EXPIRES_VALUE) !== 0) f = checkExpiresValue(msg);
  if (f === null && (msgChecks & CHECK.PROXY_REQUIRE) !== 0 && req) f = checkProxyRequire(msg, cfg.proxyRequire);
  if (f === null && (msgChecks & CHECK.PARSE_URIS) !== 0) f = checkParseUris(input, uriChecks);
  if (f === null && (msgChecks & CHECK.DIGEST) !== 0) f = checkDigest(msg);
  if (f === null && (msgChecks & CHECK.AUTHORIZATION) !== 0) f = checkAuthorization(msg);
  if (f === null && (msgChecks & CHECK.DUPTAGS) !== 0) f = checkDuptags(msg);
  return f;
}

/** Why msg_checks / uri_checks are out of Kamailio's range (1 .. MAX-1), or null. */
export function badFlags(msgChecks: number, uriChecks: number): string | null {
  if (!Number.isInteger(msgChecks) || msgChecks < 1 || msgChecks >= MAX_CHECKS) return `msg_checks ${msgChecks} outside of 1..${MAX_CHECKS - 1}`;
  if (!Number.isInteger(uriChecks) || uriChecks < 1 || uriChecks >= URI_MAX_CHECKS) return `uri_checks ${uriChecks} outside of 1..${URI_MAX_CHECKS - 1}`;
  return null;
}

/** Whether a failure may be answered at all: never a reply, never an ACK (sanity_reply()). */
export function answerable(msg: SipMessage): boolean {
  return msg.isRequest && msg.methodId !== METHOD_ACK;
}

/** What the module needs of the SIP core: the current message, its R-URI and the reply function. */
export interface SanityCore {
  readonly ctx: { readonly msg: SipMessage; currentRuri(): string; replyHeaders: string[] };
  readonly log: Pick<Logger, 'err' | 'limited'>;
  sendReply(code: number, reason: string): number;
}

/** The module parameters (Kamailio's names in index.ts). */
export interface SanityParams extends SanityConfig {
  defaultChecks: number;
  uriChecks: number;
  /** noreply: keep the reply for sanity_reply() instead of sending it. */
  noReply: boolean;
}

/**
 * One SIP thread's sanity module: runs the checks, sends the failed check's reply (or keeps
 * it for sanity_reply() with noreply=1), and returns what Kamailio's KEMI functions return.
 */
export class Sanity {
  /** The last failure kept for sanity_reply(), and the message it belongs to. */
  private kept: SanityFailure | null = null;
  private keptFor: SipMessage | null = null;

  constructor(private readonly core: SanityCore, readonly params: SanityParams) {}

  /** KSR.sanity.sanity_check(): 1 when every check passed, -1 when one failed (replied unless noreply). */
  check(msgChecks: number, uriChecks: number): number {
    const bad = badFlags(msgChecks, uriChecks);
    if (bad !== null) {
      this.core.log.err(`sanity_check: ${bad}`);
      return -1;
    }
    const ctx = this.core.ctx;
    const msg = ctx.msg;
    if (this.params.noReply) this.kept = null;
    const f = runChecks({ msg, ruri: msg.isRequest ? ctx.currentRuri() : '' }, msgChecks, uriChecks, this.params);
    if (f === null) return 1;
    this.core.log.limited(L_DBG, 'sanity:failed', `sanity_check: check ${f.check} failed: ${f.code === 0 ? '' : `${f.code} `}${f.reason}`);
    // Kamailio adds the Unsupported header to the reply either way (a reply lump)
    if (f.unsupported !== undefined) ctx.replyHeaders.push(`Unsupported: ${f.unsupported}\r\n`);
    if (this.params.noReply) {
      this.kept = f;
      this.keptFor = msg;
    } else if (f.code !== 0 && !f.noReply && answerable(msg)) {
      this.core.sendReply(f.code, f.reason);
    }
    return -1;
  }

  /** KSR.sanity.sanity_check_defaults(): the default_checks and uri_checks parameters. */
  checkDefaults(): number {
    return this.check(this.params.defaultChecks, this.params.uriChecks);
  }

  /**
   * KSR.sanity.sanity_reply(): with noreply=1, sends the reply the last failed check of this
   * message kept (500 "Server Sanity Failure" when it kept none). Always 1, -1 when sending
   * failed; nothing to do with noreply=0, for a reply or an ACK.
   */
  reply(): number {
    const msg = this.core.ctx.msg;
    if (!this.params.noReply || !answerable(msg)) return 1;
    const f = this.keptFor === msg ? this.kept : null;
    if (f !== null && f.noReply) return 1;
    const sent = f === null || f.code === 0
      ? this.core.sendReply(500, 'Server Sanity Failure')
      : this.core.sendReply(f.code, f.reason);
    return sent < 0 ? -1 : 1;
  }
}
