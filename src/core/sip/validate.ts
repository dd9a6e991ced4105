// The checks a proxy makes on a parsed message before routing it (RFC 3261 16.3, 8.2,
// and the torture cases of RFC 4475). Messages RFC 4475 calls valid pass; where RFC 4475
// leaves the outcome to a UAS or a registrar (unknown Content-Type, Accept, Authorization
// scheme, Contact escaped headers, non-SIP To in a REGISTER) a proxy forwards the message,
// so it passes here too.

import { SipParseError } from './errors.js';
import { headerDigits } from './fields.js';
import { HDR, HDR_CANONICAL_NAMES } from './headers.js';
import type { SipMessage } from './message.js';
import { METHOD_OTHER } from './methods.js';
import { URI_HAS_HEADERS, URI_OTHER, URI_SCHEME_MASK, URI_TEL, checkUri } from './uri.js';

export interface ValidationError {
  /**
   * The response to send for a request. For a reply it is 0: replies are never answered,
   * only dropped (RFC 4475 3.1.2.5, 3.1.2.19, 3.3.10).
   */
  code: number;
  reason: string;
  /** With code 420: the Proxy-Require option-tags to list in Unsupported (RFC 3261 16.3 step 5). */
  unsupported?: string[];
}

export interface ValidateOptions {
  /** Proxy-Require option-tags this proxy supports; any other yields 420. Default: none. */
  proxyRequire?: readonly string[];
}

/** Code of a failed check on a reply: drop it silently. */
export const DROP = 0;

const UINT32_MAX = 0xffffffff;

// Header ids in the order their problems are reported; all are below 32, so parseMessage's
// presence bit masks answer for them.
const MANDATORY = [HDR.TO, HDR.FROM, HDR.CALL_ID, HDR.CSEQ, HDR.VIA];
const SINGLE = [HDR.TO, HDR.FROM, HDR.CALL_ID, HDR.CSEQ, HDR.MAX_FORWARDS, HDR.CONTENT_TYPE, HDR.EXPIRES];
const mask = (ids: number[]) => ids.reduce((m, id) => m | (1 << id), 0);
const MANDATORY_MASK = mask(MANDATORY);
const SINGLE_MASK = mask(SINGLE);

/** "missing X header" / "multiple X headers", or null (RFC 3261 8.1.1, RFC 4475 3.3.1, 3.3.8). */
function headerCountProblem(msg: SipMessage): string | null {
  if ((msg._present & MANDATORY_MASK) === MANDATORY_MASK && (msg._repeated & SINGLE_MASK) === 0) return null;
  for (const id of MANDATORY) if ((msg._present & (1 << id)) === 0) return `missing ${HDR_CANONICAL_NAMES[id]} header`;
  for (const id of SINGLE) if ((msg._repeated & (1 << id)) !== 0) return `multiple ${HDR_CANONICAL_NAMES[id]} headers`;
  return null;
}

/** Rejection with a response code, thrown by the checks below and caught in validateMessage. */
class Reject {
  constructor(readonly code: number, readonly reason: string, readonly unsupported?: string[]) {}
}

/** Checks a URI's syntax (checkUri's result); an error becomes a 400 naming the field. */
function checkUriOf(uri: string, what: string): number {
  try {
    return checkUri(uri);
  } catch (e) {
    if (e instanceof SipParseError) throw new Reject(400, `bad ${what}: ${e.reason}`);
    throw e;
  }
}

// Lazy accessors (cseq(), vias(), from(), ...) throw SipParseError on a malformed value;
// validateMessage turns that into a 400 (or a drop for replies) with the accessor's reason.

const RFC1123_DATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$/;

function checkRequest(msg: SipMessage, opts: ValidateOptions | undefined): void {
  // RFC 3261 21.5.6, RFC 4475 3.1.2.16: an unknown SIP version gets 505.
  if (msg.version !== 'SIP/2.0') throw new Reject(505, 'Version Not Supported');

  const countProblem = headerCountProblem(msg);
  if (countProblem !== null) throw new Reject(400, countProblem);

  // RFC 3261 8.1.1.5, RFC 4475 3.1.2.4: CSeq number < 2**31 (checked by the CSeq parser).
  const cseq = msg.cseq();
  if (cseq.methodId !== msg.methodId || (msg.methodId === METHOD_OTHER && cseq.method !== msg.method)) {
    // RFC 4475 3.1.2.18: an unknown method with a mismatching CSeq gets 501; 3.1.2.17: else 400.
    if (msg.methodId === METHOD_OTHER) throw new Reject(501, 'Not Implemented');
    throw new Reject(400, 'CSeq method does not match the request method');
  }

  const callId = msg.callId();
  for (let i = 0; i < callId.length; i++) {
    const c = callId.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) throw new Reject(400, 'bad Call-ID header'); // callid = word ["@" word]
  }

  // RFC 3261 20.22: Max-Forwards is 0-255 (RFC 4475 3.1.2.4).
  const mf = msg.maxForwards();
  if (mf > 255) throw new Reject(400, 'Max-Forwards out of range');

  // RFC 3261 20.19: Expires is delta-seconds, at most 2**32-1 (RFC 4475 3.1.2.4).
  const expires = msg.hasHeader(HDR.EXPIRES) ? msg.getHeader(HDR.EXPIRES) : undefined;
  if (expires !== undefined) {
    const v = headerDigits(msg.buf, expires);
    if (v < 0) throw new Reject(400, 'bad Expires header');
    if (v > UINT32_MAX) throw new Reject(400, 'Expires out of range');
  }

  // Via syntax (RFC 4475 3.1.2.1); the top one is where replies go.
  const top = msg.vias()[0];
  if (!top.protocol.startsWith('SIP/2.0/')) throw new Reject(400, 'unsupported protocol in Via');
  // RFC 4475 3.2.1: the RFC 3261 magic cookie with no transaction id after it.
  if (top.branch === 'z9hG4bK') throw new Reject(400, 'Via branch has no transaction id');

  // Request-URI: syntax (RFC 4475 3.1.2.7, 3.1.2.8), no headers (RFC 3261 19.1.1, RFC 4475 3.1.2.11).
  // Only checked: requestUri() parses it when asked.
  const ruri = checkUriOf(msg.ruri, 'Request-URI');
  const scheme = ruri & URI_SCHEME_MASK;
  const sipScheme = scheme !== URI_TEL && scheme !== URI_OTHER;
  if (sipScheme && (ruri & URI_HAS_HEADERS) !== 0) throw new Reject(400, 'Request-URI must not contain headers');

  // From, To, Contact: name-addr syntax (RFC 4475 3.1.2.6, 3.1.2.13-15) and URI syntax.
  // Any scheme is acceptable there (RFC 4475 3.3.4).
  checkUriOf(msg.from().uri, 'From URI');
  checkUriOf(msg.to().uri, 'To URI');
  if (msg.hasHeader(HDR.CONTACT)) {
    const contacts = msg.contacts();
    for (let i = 0; i < contacts.length; i++) if (contacts[i].star !== true) checkUriOf(contacts[i].uri, 'Contact URI');
  }
  if (msg.hasHeader(HDR.ROUTE)) msg.routes();
  if (msg.hasHeader(HDR.RECORD_ROUTE)) msg.recordRoutes();

  // RFC 3261 20.17: only GMT (RFC 4475 3.1.2.12).
  if (msg.hasHeader(HDR.DATE) && !RFC1123_DATE.test(msg.getHeaderValue(HDR.DATE)!)) throw new Reject(400, 'bad Date header');

  // The proxy checks of RFC 3261 16.3, in its order: URI scheme (416, RFC 4475 3.3.2,
  // 3.3.3), Max-Forwards (483, RFC 4475 3.3.11), Proxy-Require (420, RFC 4475 3.3.5).
  if (scheme === URI_OTHER) throw new Reject(416, 'Unsupported URI Scheme');
  if (mf === 0) throw new Reject(483, 'Too Many Hops');
  if (msg.hasHeader(HDR.PROXY_REQUIRE)) {
    const unsupported = unsupportedProxyRequire(msg, opts?.proxyRequire ?? []);
    if (unsupported.length > 0) throw new Reject(420, 'Bad Extension', unsupported);
  }
}

function unsupportedProxyRequire(msg: SipMessage, supported: readonly string[]): string[] {
  const out: string[] = [];
  for (const h of msg.getHeaders(HDR.PROXY_REQUIRE)) {
    for (const raw of msg.headerValue(h).split(',')) {
      const tag = raw.trim();
      if (tag !== '' && !supported.includes(tag)) out.push(tag);
    }
  }
  return out;
}

/** 255.255.255.255, where a proxy must never send a reply (RFC 4475 3.3.10). */
function isBroadcast(host: string): boolean {
  return host === '255.255.255.255';
}

function checkReply(msg: SipMessage): void {
  if (msg.version !== 'SIP/2.0') throw new Reject(DROP, 'unsupported SIP version');
  // RFC 3261 21: 100-699 (RFC 4475 3.1.2.19).
  if (msg.status < 100 || msg.status > 699) throw new Reject(DROP, 'status code out of range');
  const countProblem = headerCountProblem(msg);
  if (countProblem !== null) throw new Reject(DROP, countProblem);
  msg.cseq(); // RFC 4475 3.1.2.5
  msg.callId();
  const vias = msg.vias();
  if (vias.length > 1) {
    const next = vias[1];
    if (isBroadcast(next.host) || (next.received !== undefined && isBroadcast(next.received))) {
      throw new Reject(DROP, 'Via sent-by is a broadcast address');
    }
  }
  msg.from();
  msg.to();
}

/**
 * Strict checks before routing. Returns null when the message may be routed, else the
 * response code the RFCs ask for with a reason phrase (code 0 for replies: drop them).
 * Lazily parsed values it touches stay cached on the message.
 */
export function validateMessage(msg: SipMessage, opts?: ValidateOptions): ValidationError | null {
  try {
    if (msg.isRequest) checkRequest(msg, opts);
    else checkReply(msg);
    return null;
  } catch (e) {
    if (e instanceof SipParseError) return { code: msg.isRequest ? 400 : DROP, reason: e.reason };
    if (!(e instanceof Reject)) throw e;
    const code = msg.isRequest ? e.code : DROP;
    return e.unsupported === undefined ? { code, reason: e.reason } : { code, reason: e.reason, unsupported: e.unsupported };
  }
}
