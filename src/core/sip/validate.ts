// The checks RFC 3261 16.3 asks of a proxy before it routes a request, run on every message:
// reasonable syntax of what forwarding and a server transaction read (the first line, Via,
// From and To as name-addrs for their tags, Call-ID, CSeq, Max-Forwards, the Request-URI and
// the first Route), the Request-URI scheme (416), Max-Forwards (483) and Proxy-Require (420).
// Everything else a proxy forwards untouched, well-formed or not (16.3 step 1): the URIs of
// From, To and Contact, Expires, Date, the CSeq method, Record-Route... Kamailio's sanity
// module (src/modules/sanity) checks those when the script asks.

import { SipParseError } from './errors.js';
import { METHOD_OPTIONS } from './methods.js';
import { HDR, HDR_CANONICAL_NAMES } from './headers.js';
import type { SipMessage } from './message.js';
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

// Header ids in the order their problems are reported; all are below 32, so parseMessage's
// presence bit masks answer for them. A second To, From, Call-ID, CSeq or Max-Forwards would
// make the transaction or the hop count ambiguous (RFC 4475 3.3.8); other repeats are not ours.
const MANDATORY = [HDR.TO, HDR.FROM, HDR.CALL_ID, HDR.CSEQ, HDR.VIA];
const SINGLE = [HDR.TO, HDR.FROM, HDR.CALL_ID, HDR.CSEQ, HDR.MAX_FORWARDS];
const mask = (ids: number[]) => ids.reduce((m, id) => m | (1 << id), 0);
const MANDATORY_MASK = mask(MANDATORY);
const SINGLE_MASK = mask(SINGLE);
/** What a reply echoes (RFC 3261 8.2.6.2): without one of them no reply can be addressed. */
const REPLY_ECHO_MASK = MANDATORY_MASK;

/** "missing X header" / "multiple X headers", or null (RFC 3261 8.1.1, RFC 4475 3.3.1, 3.3.8). */
function headerCountProblem(msg: SipMessage): string | null {
  if ((msg._present & MANDATORY_MASK) === MANDATORY_MASK && (msg._repeated & SINGLE_MASK) === 0) return null;
  for (const id of MANDATORY) if ((msg._present & (1 << id)) === 0) return `missing ${HDR_CANONICAL_NAMES[id]} header`;
  for (const id of SINGLE) if ((msg._repeated & (1 << id)) !== 0) return `multiple ${HDR_CANONICAL_NAMES[id]} headers`;
  return null;
}

/**
 * Whether a reply to this request can be built: the headers a reply copies are present and
 * the ones it reads (top Via for the address, From tag and Call-ID for our To-tag, To for its
 * tag) parse. When not, a rejected request is dropped and counted instead of answered.
 */
export function canReplyTo(msg: SipMessage): boolean {
  if (!msg.isRequest || (msg._present & REPLY_ECHO_MASK) !== REPLY_ECHO_MASK) return false;
  try {
    msg.topVia();
    msg.from();
    msg.to();
    msg.callId();
    return true;
  } catch (e) {
    if (e instanceof SipParseError) return false;
    throw e;
  }
}

/** Rejection with a response code, thrown by the checks below and caught in validateMessage. */
class Reject {
  constructor(readonly code: number, readonly reason: string, readonly unsupported?: string[]) {}
}

/**
 * Checks the syntax of the URI at bytes [start, end) of the message (checkUri's result); an
 * error becomes a 400 naming the field. It is read in place from the decoded head when that
 * is exact, else decoded on its own.
 */
function checkUriOf(msg: SipMessage, start: number, end: number, what: string): number {
  const text = msg.exactText();
  try {
    return text !== undefined ? checkUri(text, start, end) : checkUri(msg.str(start, end));
  } catch (e) {
    if (e instanceof SipParseError) throw new Reject(400, `bad ${what}: ${e.reason}`);
    throw e;
  }
}

// Lazy accessors (cseq(), vias(), from(), ...) throw SipParseError on a malformed value;
// validateMessage turns that into a 400 (or a drop for replies) with the accessor's reason.

function checkRequest(msg: SipMessage, opts: ValidateOptions | undefined): void {
  // RFC 3261 21.5.6, RFC 4475 3.1.2.16: an unknown SIP version gets 505 (its syntax is unknown).
  if (msg.version !== 'SIP/2.0') throw new Reject(505, 'Version Not Supported');

  const countProblem = headerCountProblem(msg);
  if (countProblem !== null) throw new Reject(400, countProblem);

  // What transactions, loop detection and the branch hash read: the CSeq number (< 2**31,
  // RFC 4475 3.1.2.4), a Call-ID, the From tag, the To tag (ACK matching) and every Via
  // (loop detection; the top one is where replies go). Not their URIs.
  msg.cseq();
  msg.callId();
  msg.from();
  msg.to();
  const top = msg.vias()[0];
  if (!top.protocol.startsWith('SIP/2.0/')) throw new Reject(400, 'unsupported protocol in Via');
  // RFC 4475 3.2.1: the RFC 3261 magic cookie with no transaction id after it.
  if (top.branch === 'z9hG4bK') throw new Reject(400, 'Via branch has no transaction id');

  // RFC 3261 20.22: Max-Forwards is 0-255 (RFC 4475 3.1.2.4); forwarding decrements it.
  const mf = msg.maxForwards();
  if (mf > 255) throw new Reject(400, 'Max-Forwards out of range');

  // Request-URI: where the request goes. Syntax (RFC 4475 3.1.2.7, 3.1.2.8), no headers
  // (RFC 3261 19.1.1, RFC 4475 3.1.2.11). Only checked: requestUri() parses it when asked.
  const ruri = checkUriOf(msg, msg.ruriStart, msg.ruriEnd, 'Request-URI');
  const scheme = ruri & URI_SCHEME_MASK;
  const sipScheme = scheme !== URI_TEL && scheme !== URI_OTHER;
  if (sipScheme && (ruri & URI_HAS_HEADERS) !== 0) throw new Reject(400, 'Request-URI must not contain headers');
  // The first Route is where a loose-routed request goes (RFC 3261 16.12).
  if (msg.hasHeader(HDR.ROUTE)) {
    const route = msg.routes()[0];
    checkUriOf(msg, route.uriStart, route.uriEnd, 'Route URI');
  }

  // The proxy checks of RFC 3261 16.3, in its order: URI scheme (416, RFC 4475 3.3.2,
  // 3.3.3), Max-Forwards (483, RFC 4475 3.3.11), Proxy-Require (420, RFC 4475 3.3.5).
  if (scheme === URI_OTHER) throw new Reject(416, 'Unsupported URI Scheme');
  // An OPTIONS at 0 is the script's to answer (RFC 3261 16.3 step 3: the proxy MAY be its final
  // recipient, as keep-alives from SBCs expect); forwarding it still gets 483 (maxfwd's hook).
  if (mf === 0 && msg.methodId !== METHOD_OPTIONS) throw new Reject(483, 'Too Many Hops');
  if (msg.hasHeader(HDR.PROXY_REQUIRE)) { // rare: spare the lists below
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

/**
 * A stateless proxy reads only the top two Vias of a reply (and CSeq, Call-ID for counters
 * and routing), so only those are checked. From and To are left to whoever reads them: no
 * RFC 4475 reply hinges on them, and parsing both was a third of the cost of a reply.
 */
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
