// SIP, SIPS and tel URIs (RFC 3261 19.1, 25.1; RFC 3966) and opaque URIs of other schemes.
// Not on the per-byte hot path: it runs when a script or module asks for a parsed URI.

import { newParams } from './chars.js';
import { SipParseError } from './errors.js';

export interface SipUri {
  /** Lower-case: 'sip' | 'sips' | 'tel' | any other scheme. */
  scheme: string;
  /**
   * User part as written (escapes kept), '' if none. For tel: the number. For other
   * schemes: the whole scheme-specific part as written (so formatUri stays the inverse).
   */
  user: string;
  password: string | undefined;
  /** Host without IPv6 brackets; '' for tel and other schemes. */
  host: string;
  hostIsIPv6: boolean;
  /** 0 when absent. */
  port: number;
  /** URI parameters; names lower-cased, values as written, '' for flags such as lr. */
  params: Record<string, string>;
  /** Parameters exactly as written, e.g. ";transport=udp;lr"; '' if none. formatUri writes this. */
  paramsRaw: string;
  /** Headers part as written including '?', e.g. "?subject=a"; '' if none. */
  headersRaw: string;
}

function charClass(chars: string): Uint8Array {
  const t = new Uint8Array(128);
  for (let c = 0x30; c <= 0x39; c++) t[c] = 1;
  for (let c = 0x41; c <= 0x5a; c++) t[c] = 1;
  for (let c = 0x61; c <= 0x7a; c++) t[c] = 1;
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1;
  return t;
}

// RFC 3261 25.1 character sets. Every class also admits '%', whose two hex digits are
// checked separately (escaped).
const UNRESERVED = "-_.!~*'()%";
const USER = charClass(UNRESERVED + '&=+$,;?/');
const PASSWORD = charClass(UNRESERVED + '&=+$,');
const PARAM = charClass(UNRESERVED + '[]/:&+$');
const HEADER = charClass(UNRESERVED + '[]/?:+$=&');
const URIC = charClass(UNRESERVED + ';/?:@&=+$,');
const HOSTNAME = charClass('-._');
const SCHEME = charClass('+-.');
const TEL = charClass('+-.()*#'); // phonedigit-hex and visual separators (RFC 3966 3)

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);
}

/** Throws unless every character of s[start, end) is in class t and every '%' starts an escape. */
function checkChars(s: string, start: number, end: number, t: Uint8Array, what: string): void {
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || t[c] !== 1) throw new SipParseError(`bad URI ${what}`);
    if (c === 0x25) {
      if (i + 2 >= end || !isHex(s.charCodeAt(i + 1)) || !isHex(s.charCodeAt(i + 2))) {
        throw new SipParseError(`bad escape in URI ${what}`);
      }
      i += 2;
    }
  }
}

/**
 * Checks uri-parameters starting at s[start] (a ";") up to end and, when params is given, fills
 * it: names are lower-cased, a missing value is ''. An empty name (";;") is an error.
 */
function parseParams(s: string, start: number, end: number, params: Record<string, string> | null): void {
  let i = start;
  while (i < end) {
    // s[i] is ';'
    // the parameter's end and its '=' in one pass: a search for '=' beyond the parameter would
    // make a URI of many flags (";x;x;x...") cost the square of its length
    let j = i + 1;
    let nameEnd = -1;
    for (let c; j < end && (c = s.charCodeAt(j)) !== 0x3b; j++) if (c === 0x3d && nameEnd < 0) nameEnd = j;
    if (nameEnd < 0) nameEnd = j;
    if (nameEnd === i + 1) throw new SipParseError('bad URI parameter');
    checkChars(s, i + 1, nameEnd, PARAM, 'parameter');
    if (nameEnd < j) checkChars(s, nameEnd + 1, j, PARAM, 'parameter');
    if (params !== null) params[s.slice(i + 1, nameEnd).toLowerCase()] = nameEnd < j ? s.slice(nameEnd + 1, j) : '';
    i = j;
  }
}

function makeUri(): SipUri {
  return {
    scheme: '',
    user: '',
    password: undefined,
    host: '',
    hostIsIPv6: false,
    port: 0,
    params: newParams(),
    paramsRaw: '',
    headersRaw: '',
  };
}

// What checkUri returns: the scheme, plus URI_HAS_HEADERS when a sip/sips/tel URI has headers.
export const URI_SIP = 1;
export const URI_SIPS = 2;
export const URI_TEL = 3;
export const URI_OTHER = 4;
export const URI_SCHEME_MASK = 7;
export const URI_HAS_HEADERS = 8;

/** Parses a URI; throws SipParseError when it is malformed. */
export function parseUri(s: string): SipUri {
  const u = makeUri();
  scanUri(s, 0, s.length, u);
  return u;
}

/**
 * Checks the URI s[start, end) exactly as parseUri does (same errors) without building
 * anything: what a validator needs. Returns URI_SIP, URI_SIPS, URI_TEL or URI_OTHER, with
 * URI_HAS_HEADERS. Checking a URI inside a longer string spares a substring, and V8 reads the
 * characters of a flat string about twice as fast as those of a substring.
 */
export function checkUri(s: string, start = 0, end = s.length): number {
  return scanUri(s, start, end, null);
}

function scanUri(s: string, start: number, end: number, u: SipUri | null): number {
  try {
    return scanAnyUri(s, start, end, u);
  } catch (e) {
    // name the most common mistake (RFC 4475 3.1.2.8, 3.1.2.14) instead of its symptom
    if (e instanceof SipParseError && /\s/.test(s.slice(start, end))) throw new SipParseError('whitespace in URI');
    throw e;
  }
}

/** Whether the scheme s[start, colon) is "sip", "sips" or "tel" in any case; else URI_OTHER. */
function schemeKind(s: string, start: number, colon: number): number {
  const c0 = s.charCodeAt(start) | 0x20;
  const c1 = s.charCodeAt(start + 1) | 0x20;
  const c2 = s.charCodeAt(start + 2) | 0x20;
  const len = colon - start;
  if (len === 3 && c0 === 0x74 && c1 === 0x65 && c2 === 0x6c) return URI_TEL;
  if (len < 3 || len > 4 || c0 !== 0x73 || c1 !== 0x69 || c2 !== 0x70) return URI_OTHER;
  if (len === 3) return URI_SIP;
  return (s.charCodeAt(start + 3) | 0x20) === 0x73 ? URI_SIPS : URI_OTHER;
}

/** s.indexOf(c, from) when it is below end, else -1. */
function indexBefore(s: string, c: string, from: number, end: number): number {
  const i = s.indexOf(c, from);
  return i < end ? i : -1;
}

// The scanners below check the syntax of s[start, end) and, when u is not null, fill u.

function scanAnyUri(s: string, start: number, end: number, u: SipUri | null): number {
  let colon = start;
  while (colon < end) {
    const c = s.charCodeAt(colon);
    if (c >= 128 || SCHEME[c] !== 1) break;
    colon++;
  }
  const first = s.charCodeAt(start) | 0x20;
  if (colon === start || colon >= end || s.charCodeAt(colon) !== 0x3a || first < 0x61 || first > 0x7a) {
    throw new SipParseError('bad URI scheme');
  }
  if (u !== null) u.scheme = s.slice(start, colon).toLowerCase();
  if (colon + 1 >= end) throw new SipParseError('empty URI');
  const kind = schemeKind(s, start, colon);
  if (kind === URI_SIP || kind === URI_SIPS) return kind | scanSipUri(s, colon + 1, end, u);
  if (kind === URI_TEL) return kind | scanTelUri(s, colon + 1, end, u);
  checkChars(s, colon + 1, end, URIC, 'characters');
  if (u !== null) u.user = s.slice(colon + 1, end);
  return kind;
}

function scanSipUri(s: string, start: number, end: number, u: SipUri | null): number {
  // userinfo: '@' cannot occur unescaped in host, parameters or headers, so the first one
  // ends the userinfo even when the user part holds ';' or '?' (RFC 4475 3.1.1.9).
  const at = indexBefore(s, '@', start, end);
  let p = start;
  if (at !== -1) {
    const pw = s.indexOf(':', start);
    const userEnd = pw !== -1 && pw < at ? pw : at;
    if (userEnd === start) throw new SipParseError('bad URI user');
    checkChars(s, start, userEnd, USER, 'user');
    if (u !== null) u.user = s.slice(start, userEnd);
    if (userEnd < at) {
      checkChars(s, userEnd + 1, at, PASSWORD, 'password');
      if (u !== null) u.password = s.slice(userEnd + 1, at);
    }
    p = at + 1;
  }
  // host
  if (p < end && s.charCodeAt(p) === 0x5b) {
    const close = indexBefore(s, ']', p, end);
    if (close === -1 || close === p + 1) throw new SipParseError('bad URI host');
    for (let i = p + 1; i < close; i++) {
      const c = s.charCodeAt(i);
      if (!isHex(c) && c !== 0x3a && c !== 0x2e) throw new SipParseError('bad URI host');
    }
    if (u !== null) {
      u.host = s.slice(p + 1, close);
      u.hostIsIPv6 = true;
    }
    p = close + 1;
  } else {
    const hs = p;
    while (p < end) {
      const c = s.charCodeAt(p);
      if (c >= 128 || HOSTNAME[c] !== 1) break;
      p++;
    }
    if (p === hs) throw new SipParseError('bad URI host');
    if (u !== null) u.host = s.slice(hs, p);
  }
  // port
  if (p < end && s.charCodeAt(p) === 0x3a) {
    const ps = ++p;
    let port = 0;
    while (p < end && s.charCodeAt(p) >= 0x30 && s.charCodeAt(p) <= 0x39) port = port * 10 + s.charCodeAt(p++) - 0x30;
    if (p === ps || p - ps > 5 || port > 65535) throw new SipParseError('bad URI port');
    if (u !== null) u.port = port;
  }
  return scanTail(s, p, end, u);
}

function scanTelUri(s: string, start: number, end: number, u: SipUri | null): number {
  let p = start;
  while (p < end && s.charCodeAt(p) !== 0x3b && s.charCodeAt(p) !== 0x3f) {
    const c = s.charCodeAt(p);
    if (c >= 128 || (TEL[c] !== 1 && !isHex(c))) throw new SipParseError('bad tel URI number');
    p++;
  }
  if (p === start) throw new SipParseError('bad tel URI number');
  if (u !== null) u.user = s.slice(start, p);
  return scanTail(s, p, end, u);
}

/** Parameters and headers after the host (or tel number), starting at s[p]: URI_HAS_HEADERS or 0. */
function scanTail(s: string, p: number, end: number, u: SipUri | null): number {
  if (p === end) return 0;
  let q = indexBefore(s, '?', p, end);
  if (q === -1) q = end;
  if (p < q) {
    if (s.charCodeAt(p) !== 0x3b) throw new SipParseError('bad URI: unexpected characters after host');
    parseParams(s, p, q, u === null ? null : u.params);
    if (u !== null) u.paramsRaw = s.slice(p, q);
  }
  if (q === end) return 0;
  if (q + 1 === end) throw new SipParseError('bad URI headers');
  checkChars(s, q + 1, end, HEADER, 'headers');
  if (u !== null) u.headersRaw = s.slice(q, end);
  return URI_HAS_HEADERS;
}

/** host[:port], with IPv6 addresses in brackets and port 0 left out. */
export function formatHostPort(host: string, port: number): string {
  const h = host.indexOf(':') !== -1 && host.charCodeAt(0) !== 0x5b ? '[' + host + ']' : host;
  return port ? h + ':' + port : h;
}

/** ";name=value;flag" from a params record (to rebuild paramsRaw after changing params). */
export function formatParams(params: Record<string, string>): string {
  let out = '';
  for (const name in params) out += params[name] === '' ? ';' + name : ';' + name + '=' + params[name];
  return out;
}

/** Inverse of parseUri. Parameters are written from paramsRaw (see formatParams). */
export function formatUri(u: SipUri): string {
  if (u.scheme !== 'sip' && u.scheme !== 'sips') return u.scheme + ':' + u.user + u.paramsRaw + u.headersRaw;
  let userinfo = '';
  if (u.user !== '' || u.password !== undefined) {
    userinfo = u.password === undefined ? u.user + '@' : u.user + ':' + u.password + '@';
  }
  const host = u.hostIsIPv6 && u.host.charCodeAt(0) !== 0x5b ? '[' + u.host + ']' : u.host;
  return u.scheme + ':' + userinfo + (u.port ? host + ':' + u.port : host) + u.paramsRaw + u.headersRaw;
}
