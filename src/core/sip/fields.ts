// Byte-level parsers for the structured header values a proxy reads: Via, name-addr lists
// (From, To, Contact, Route, Record-Route, ...) and CSeq. They work on buf directly so that
// every offset they report is a byte offset, and decode only the pieces they return.

import {
  DQUOTE, HOST, PARAM_VALUE, TOKEN,
  isLWS, newParams, parseDigits, skipClass, skipLWS, skipQuoted,
} from './chars.js';
import { decodeBytes, indexOfByte } from './bytes.js';
import { SipParseError } from './errors.js';
import { HDR_CANONICAL_NAMES } from './headers.js';
import type { HeaderField, NameAddr, SipMessage, Via } from './message.js';
import { METHOD_OTHER, methodIdFromBytes, methodName } from './methods.js';

const COMMA = 0x2c;
const SEMI = 0x3b;
const EQUAL = 0x3d;
const SLASH = 0x2f;
const COLON = 0x3a;
const LAQUOT = 0x3c;
const RAQUOT = 0x3e;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const STAR = 0x2a;
const QMARK = 0x3f;

function fail(buf: Buffer, h: HeaderField, detail: string): never {
  const name = HDR_CANONICAL_NAMES[h.id] ?? buf.toString('latin1', h.nameStart, h.nameEnd);
  throw new SipParseError(`bad ${name} header: ${detail}`);
}

// ---- strings ----
//
// Parsers read bytes from msg.buf and take every string they return from msg.str(), a slice
// of the message's header text decoded once (see SipMessage.str). What nobody reads on the
// hot path (parameter records, display names) is built on first access from a TextRef, which
// holds decoded text rather than the buffer: msg.buf may be a view into memory that is reused
// once the message is processed, while a Via or NameAddr may be kept longer.

/** Replaces each folding (CRLF with surrounding whitespace) by one SP: rare, so a regex is fine. */
function unfold(s: string): string {
  return s.indexOf('\n') === -1 ? s : s.replace(/[ \t]*\r?\n[ \t]*/g, ' ');
}

/**
 * Text that lazily built values are cut from, addressed by the message's byte offsets.
 * Either the message's header text where every character came from one byte (exact: a slice
 * is the value), or the latin1 text of one header value (each character is a byte; pieces are
 * decoded as UTF-8 on demand).
 */
export class TextRef {
  constructor(private readonly str: string, private readonly base: number, private readonly exact: boolean) {}

  static forValue(buf: Buffer, h: HeaderField): TextRef {
    return new TextRef(buf.toString('latin1', h.valueStart, h.valueEnd), h.valueStart, false);
  }

  /** The value of bytes [start, end), decoded as UTF-8. */
  get(start: number, end: number): string {
    const s = this.str.slice(start - this.base, end - this.base);
    return this.exact ? s : Buffer.from(s, 'latin1').toString('utf8');
  }

  /**
   * Bytes equivalent to [start, end) for re-scanning: the same bytes, except that in exact
   * text a byte >= 0x80 comes back as 0xFD (its character is U+FFFD), which every byte class
   * and the UTF-8 decoder treat alike.
   */
  bytes(start: number, end: number): Buffer {
    return Buffer.from(this.str.slice(start - this.base, end - this.base), 'latin1');
  }
}

// ---- names without allocation for the common cases ----

/** Whether buf[start, end) equals `lower` (lower-case bytes), letters in any case. */
function matchLower(buf: Buffer, start: number, end: number, lower: Uint8Array): boolean {
  if (end - start !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    const b = buf[start + i];
    const l = lower[i];
    if (b !== l && ((b | 0x20) !== l || l < 0x61 || l > 0x7a)) return false;
  }
  return true;
}

const lowerBytes = (name: string) => Buffer.from(name, 'latin1');

/** Constant strings for the lower-case names in list, bucketed by length for matching bytes. */
class KnownNames {
  private readonly byLength: { bytes: Uint8Array; index: number }[][] = [];

  constructor(readonly names: readonly string[]) {
    names.forEach((name, index) => (this.byLength[name.length] ??= []).push({ bytes: lowerBytes(name.toLowerCase()), index }));
  }

  /** Index in names of the name equal to buf[start, end) ignoring case, or -1. */
  indexOf(buf: Buffer, start: number, end: number): number {
    const list = this.byLength[end - start];
    if (list === undefined) return -1;
    for (let i = 0; i < list.length; i++) if (matchLower(buf, start, end, list[i].bytes)) return list[i].index;
    return -1;
  }

  /** The name equal to buf[start, end) ignoring case, or undefined. */
  find(buf: Buffer, start: number, end: number): string | undefined {
    const i = this.indexOf(buf, start, end);
    return i < 0 ? undefined : this.names[i];
  }
}

// Parameter names that occur in nearly every message: returned as constants, not decoded.
const COMMON_PARAMS = new KnownNames(['branch', 'received', 'rport', 'maddr', 'ttl', 'tag', 'lr', 'transport', 'expires', 'q']);

// The parameters the parsers decode at once, identified by a switch on their length rather
// than a table lookup: this runs for every parameter of every Via and name-addr.
const P_OTHER = 0;
const P_BRANCH = 1;
const P_RECEIVED = 2;
const P_RPORT = 3;
const P_MADDR = 4;
const P_TTL = 5;
const P_TAG = 6;

// The names matched on every Via and name-addr are compared as little-endian words of up to
// four bytes (one comparison instead of a loop over a table: matchLower was a call of its own
// in the profile). `(word | fold) === lower`, fold being 0x20 on letters and 0 elsewhere,
// matches letters in any case and other bytes exactly: no byte that is not a letter becomes
// one when 0x20 is or-ed in.

/** Bytes buf[p, p + n) (n from 1 to 4) as a little-endian word; the caller checks the bounds. */
function wordAt(buf: Buffer, p: number, n: number): number {
  let w = buf[p];
  if (n > 1) w |= buf[p + 1] << 8;
  if (n > 2) w |= buf[p + 2] << 16;
  if (n > 3) w |= buf[p + 3] << 24;
  return w;
}

/** Word of the lower-case name's bytes [i, i + 4), and its fold mask, as wordAt reads them. */
function lowerWord(name: string, i: number): number {
  let w = 0;
  for (let k = 0; k < 4 && i + k < name.length; k++) w |= name.charCodeAt(i + k) << (k * 8);
  return w;
}
function foldWord(name: string, i: number): number {
  let w = 0;
  for (let k = 0; k < 4 && i + k < name.length; k++) {
    const c = name.charCodeAt(i + k);
    if (c >= 0x61 && c <= 0x7a) w |= 0x20 << (k * 8);
  }
  return w;
}

const TAG_W = lowerWord('tag', 0);
const TTL_W = lowerWord('ttl', 0);
const RPORT_W = lowerWord('rport', 0);
const MADDR_W = lowerWord('maddr', 0);
const BRANCH_W0 = lowerWord('branch', 0);
const BRANCH_W1 = lowerWord('branch', 4);
const RECEIVED_W0 = lowerWord('received', 0);
const RECEIVED_W1 = lowerWord('received', 4);
const LETTERS = 0x20202020; // fold mask of four letters: every name above is letters only

function paramId(buf: Buffer, start: number, end: number): number {
  switch (end - start) {
    case 3: {
      const w = wordAt(buf, start, 3) | LETTERS;
      return w === (TAG_W | LETTERS) ? P_TAG : w === (TTL_W | LETTERS) ? P_TTL : P_OTHER;
    }
    case 5: {
      const w = wordAt(buf, start, 4) | LETTERS;
      const last = buf[start + 4] | 0x20;
      return w === RPORT_W && last === 0x74 ? P_RPORT : w === MADDR_W && last === 0x72 ? P_MADDR : P_OTHER;
    }
    case 6:
      return (wordAt(buf, start, 4) | LETTERS) === BRANCH_W0 && (wordAt(buf, start + 4, 2) | 0x2020) === BRANCH_W1 ? P_BRANCH : P_OTHER;
    case 8:
      return (wordAt(buf, start, 4) | LETTERS) === RECEIVED_W0 && (wordAt(buf, start + 4, 4) | LETTERS) === RECEIVED_W1 ? P_RECEIVED : P_OTHER;
    default: return P_OTHER;
  }
}

const TRANSPORTS = new KnownNames(['UDP', 'TCP', 'TLS', 'SCTP', 'WS', 'WSS']);
const PROTOCOLS = TRANSPORTS.names.map((t) => 'SIP/2.0/' + t);
const SIP_W0 = lowerWord('sip/', 0);
const SIP_F0 = foldWord('sip/', 0);
const V2_0_W1 = lowerWord('2.0/', 0);
const UDP_W = lowerWord('udp', 0);
const UDP = TRANSPORTS.names.indexOf('UDP');

/** Whether buf[p, p + 8) is "SIP/2.0/", SIP in any case. */
function isSip20Slash(buf: Buffer, p: number): boolean {
  return (wordAt(buf, p, 4) | SIP_F0) === SIP_W0 && wordAt(buf, p + 4, 4) === V2_0_W1;
}

/** Index in TRANSPORTS of buf[start, end), or -1; UDP, the usual one, by one comparison. */
function transportIndex(buf: Buffer, start: number, end: number): number {
  if (end - start === 3 && (wordAt(buf, start, 3) | LETTERS) === (UDP_W | LETTERS)) return UDP;
  return TRANSPORTS.indexOf(buf, start, end);
}

/** Value of a decimal string of at most maxLen digits, else -1. */
function smallUint(s: string, maxLen: number): number {
  if (s.length === 0 || s.length > maxLen) return -1;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const d = s.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

// ---- generic parameters: *( SEMI token [ EQUAL gen-value ] ) ----

// Offsets of the parameters found by the last scanParams call, four per parameter: name
// start and end, value start and end (-1 and -1 without a value). Reused by every call
// (parsing is synchronous and never re-entered), so scanning allocates nothing.
let found = new Int32Array(64);
let foundCount = 0;

/**
 * Scans `;name[=value]` pairs from p, recording their offsets in `found`, and returns the
 * position just after the last one (p itself when there are none). LWS is allowed around ';'
 * and '=' (RFC 3261 25.1). Values are taken as written (quoted strings with their quotes).
 */
function scanParams(buf: Buffer, p: number, end: number, h: HeaderField): number {
  foundCount = 0;
  // Each byte is read once where there is no LWS (reads dominate the cost of these loops).
  while (p < end) {
    let q = p;
    let b = buf[q];
    if (b !== SEMI) {
      if (!isLWS(b)) return p;
      q = skipLWS(buf, q, end);
      if (q >= end || buf[q] !== SEMI) return p;
    }
    q = skipLWS(buf, q + 1, end);
    const ns = q;
    while (q < end && TOKEN[(b = buf[q])] === 1) q++;
    if (q === ns) fail(buf, h, 'empty parameter');
    const ne = q;
    p = q;
    let vs = -1;
    let ve = -1;
    if (q < end && isLWS(b)) {
      q = skipLWS(buf, q, end);
      b = buf[q];
    }
    if (q < end && b === EQUAL) {
      q = skipLWS(buf, q + 1, end);
      vs = q;
      if (q < end && buf[q] === DQUOTE) {
        q = skipQuoted(buf, q, end);
        if (q < 0) fail(buf, h, 'unterminated quoted string');
      } else {
        q = skipClass(buf, q, end, PARAM_VALUE);
      }
      if (q === vs) failEmptyValue(buf, ns, ne, h);
      ve = p = q;
    }
    addFound(ns, ne, vs, ve);
  }
  return p;
}

function addFound(ns: number, ne: number, vs: number, ve: number): void {
  if (foundCount * 4 === found.length) {
    const more = new Int32Array(found.length * 2);
    more.set(found);
    found = more;
  }
  const i = foundCount++ * 4;
  found[i] = ns;
  found[i + 1] = ne;
  found[i + 2] = vs;
  found[i + 3] = ve;
}

// Apart from scanParams: a closure there would put buf in a heap context on every call.
function failEmptyValue(buf: Buffer, ns: number, ne: number, h: HeaderField): never {
  fail(buf, h, `empty value for parameter ${paramName(buf, ns, ne, (a, b) => buf.toString('utf8', a, b))}`);
}

function paramName(buf: Buffer, start: number, end: number, str: (start: number, end: number) => string): string {
  return COMMON_PARAMS.find(buf, start, end) ?? str(start, end).toLowerCase();
}

/**
 * The parameter record of bytes [start, end) of the message, which scanParams accepted when
 * the value was parsed: names lower-cased, values as written, '' for flags.
 */
function buildParams(text: TextRef, start: number, end: number, h: HeaderField): Record<string, string> {
  const params = newParams();
  if (start === end) return params;
  const bytes = text.bytes(start, end);
  const str = (a: number, b: number) => text.get(start + a, start + b);
  scanParams(bytes, 0, bytes.length, h);
  for (let i = 0; i < foundCount * 4; i += 4) {
    params[paramName(bytes, found[i], found[i + 1], str)] = found[i + 2] < 0 ? '' : str(found[i + 2], found[i + 3]);
  }
  return params;
}

// ---- removal ranges shared by Via and name-addr lists ----

interface Removable {
  start: number;
  end: number;
  removeStart: number;
  removeEnd: number;
}

// The values of one header line are collected in this reused array (lineCount of them) and
// returned as a copy of their exact length: a list grown by push from [] gets room for 16
// values (144 bytes) for its usual one. Parsing is synchronous and never re-entered.
const lineValues: Removable[] = [];
let lineCount = 0;

/**
 * The values collected from header line h, as an array of their own, with their removal
 * ranges: the whole line when it holds one value; otherwise the value and the comma and
 * whitespace that separate it from its neighbour (the following one, or the preceding one
 * for the last).
 */
function takeLineValues<T extends Removable>(h: HeaderField): T[] {
  const list = lineValues;
  const n = lineCount;
  if (n === 1) {
    const v = list[0];
    v.removeStart = h.lineStart;
    v.removeEnd = h.lineEnd;
    return [v as T]; // a literal: no call into the slice builtin
  } else {
    for (let i = 0; i < n; i++) {
      const v = list[i];
      if (i < n - 1) {
        v.removeStart = v.start;
        v.removeEnd = list[i + 1].start;
      } else {
        v.removeStart = list[i - 1].end;
        v.removeEnd = v.end;
      }
    }
  }
  return list.slice(0, n) as T[];
}

/** The text lazily built values of header line h are cut from. */
function textFor(msg: SipMessage, h: HeaderField): TextRef {
  return msg.textRef() ?? TextRef.forValue(msg.buf, h);
}

// ---- Via (RFC 3261 20.42, 25.1: via-parm) ----

/** A parsed via-parm; `params` is built on first access. */
class ViaValue implements Via {
  removeStart = 0;
  removeEnd = 0;
  private _params: Record<string, string> | undefined = undefined;

  constructor(
    readonly protocol: string,
    readonly transport: string,
    readonly host: string,
    readonly port: number,
    readonly branch: string | undefined,
    readonly received: string | undefined,
    readonly rport: string | undefined,
    readonly hasRport: boolean,
    readonly maddr: string | undefined,
    readonly ttl: number | undefined,
    readonly start: number,
    readonly end: number,
    readonly header: HeaderField,
    private readonly paramsStart: number,
    private readonly text: TextRef,
  ) {}

  get params(): Record<string, string> {
    return (this._params ??= buildParams(this.text, this.paramsStart, this.end, this.header));
  }

  set params(v: Record<string, string>) {
    this._params = v;
  }
}

/** Expects SWS "/" SWS at p; returns the position after it. */
function slash(buf: Buffer, p: number, end: number, h: HeaderField): number {
  p = skipLWS(buf, p, end);
  if (p >= end || buf[p] !== SLASH) fail(buf, h, 'bad sent-protocol');
  return skipLWS(buf, p + 1, end);
}

function parseViaParm(msg: SipMessage, p: number, end: number, h: HeaderField, text: TextRef): Via {
  const buf = msg.buf;
  const start = p;
  // sent-protocol = protocol-name SLASH protocol-version SLASH transport. Nearly every Via
  // has "SIP/2.0/" and a known transport: constant strings, found without the general scan.
  let known = -1;
  if (end - p > 8 && isSip20Slash(buf, p)) {
    const trEnd = skipClass(buf, p + 8, end, TOKEN);
    known = transportIndex(buf, p + 8, trEnd);
    if (known >= 0) p = trEnd;
  }
  let transport: string;
  let protocol: string;
  if (known >= 0) {
    transport = TRANSPORTS.names[known];
    protocol = PROTOCOLS[known];
  } else {
    // Anything else (LWS around the slashes as in RFC 4475 3.1.1.1, another version or an
    // unknown transport) is rebuilt without the LWS.
    const nameEnd = skipClass(buf, p, end, TOKEN);
    p = slash(buf, nameEnd, end, h);
    const verStart = p;
    const verEnd = skipClass(buf, p, end, TOKEN);
    p = slash(buf, verEnd, end, h);
    const trStart = p;
    p = skipClass(buf, p, end, TOKEN);
    if (nameEnd === start || verEnd === verStart || p === trStart) fail(buf, h, 'bad sent-protocol');
    transport = TRANSPORTS.find(buf, trStart, p) ?? buf.toString('latin1', trStart, p).toUpperCase();
    protocol = buf.toString('latin1', start, nameEnd).toUpperCase() + '/' + buf.toString('latin1', verStart, verEnd) + '/' + transport;
  }

  // LWS sent-by
  const afterProto = p;
  p = skipLWS(buf, p, end);
  if (p === afterProto || p >= end) fail(buf, h, 'missing sent-by');
  let host: string;
  if (buf[p] === LBRACKET) {
    const hs = p + 1;
    p = skipClass(buf, hs, end, HOST);
    while (p < end && buf[p] === COLON) p = skipClass(buf, p + 1, end, HOST);
    if (p >= end || buf[p] !== RBRACKET || p === hs) fail(buf, h, 'bad IPv6 reference');
    host = msg.str(hs, p);
    p++;
  } else {
    const hs = p;
    p = skipClass(buf, p, end, HOST);
    if (p === hs) fail(buf, h, 'bad sent-by host');
    host = msg.str(hs, p);
  }
  // [ COLON port ], COLON = SWS ":" SWS
  let port = 0;
  const q = skipLWS(buf, p, end);
  if (q < end && buf[q] === COLON) {
    const ps = skipLWS(buf, q + 1, end);
    let pe = ps;
    for (let d; pe < end && (d = buf[pe] - 0x30) >= 0 && d <= 9; pe++) port = port * 10 + d;
    if (pe === ps || pe - ps > 5 || port < 1 || port > 65535) fail(buf, h, 'bad port');
    p = pe;
  }

  // Parameters: only those the Via fields expose are decoded (the last one of a name wins,
  // as in the params record).
  const paramsStart = p;
  p = scanParams(buf, p, end, h);
  let branch: string | undefined;
  let received: string | undefined;
  let rport: string | undefined;
  let maddr: string | undefined;
  let ttl: string | undefined;
  for (let i = 0; i < foundCount * 4; i += 4) {
    const id = paramId(buf, found[i], found[i + 1]);
    if (id === P_OTHER || id === P_TAG) continue;
    const value = found[i + 2] < 0 ? '' : msg.str(found[i + 2], found[i + 3]);
    if (id === P_BRANCH) branch = value;
    else if (id === P_RECEIVED) received = value;
    else if (id === P_RPORT) rport = value;
    else if (id === P_MADDR) maddr = value;
    else ttl = value;
  }
  let ttlValue: number | undefined;
  if (ttl !== undefined) {
    ttlValue = smallUint(ttl, 3);
    if (ttlValue < 0 || ttlValue > 255) fail(buf, h, 'bad ttl'); // via-ttl = 1*3DIGIT, 0-255
  }
  return new ViaValue(protocol, transport, host, port, branch, received, rport, rport !== undefined, maddr, ttlValue,
    start, p, h, paramsStart, text);
}

/** Every via-parm of Via header line h, in order. */
export function parseViaHeader(msg: SipMessage, h: HeaderField): Via[] {
  const buf = msg.buf;
  const end = h.valueEnd;
  lineCount = 0;
  let p = h.valueStart;
  if (p >= end) fail(buf, h, 'empty value');
  const text = textFor(msg, h);
  for (;;) {
    const via = parseViaParm(msg, p, end, h, text);
    lineValues[lineCount++] = via;
    p = skipLWS(buf, via.end, end);
    if (p >= end) break;
    if (buf[p] !== COMMA) fail(buf, h, 'unexpected characters after a value');
    p = skipLWS(buf, p + 1, end);
    if (p >= end) fail(buf, h, 'empty value after comma');
  }
  return takeLineValues<Via>(h);
}

// ---- name-addr / addr-spec lists (RFC 3261 20.10, 20.20, 20.30, 20.34, 20.39, 25.1) ----

/** Display name from the text of a quoted-string without its quotes: unquoted and unescaped. */
function unquote(quoted: string): string {
  const raw = unfold(quoted);
  if (raw.indexOf('\\') === -1) return raw;
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === '\\' && i + 1 < raw.length) out += raw[++i];
    else out += c;
  }
  return out;
}

const NO_NAME = 0;
const TOKEN_NAME = 1;
const QUOTED_NAME = 2;

/**
 * A parsed name-addr or addr-spec; `uri`, `displayName` and `params` are built on first access
 * (a stateless forward checks the URIs in place and reads none of them).
 */
class NameAddrValue implements NameAddr {
  removeStart = 0;
  removeEnd = 0;
  private _uri: string | undefined = undefined;
  private _params: Record<string, string> | undefined = undefined;
  /** null until computed. */
  private _displayName: string | undefined | null = null;

  constructor(
    readonly uriStart: number,
    readonly uriEnd: number,
    readonly tag: string | undefined,
    readonly start: number,
    readonly end: number,
    readonly header: HeaderField,
    readonly star: boolean | undefined,
    private readonly nameKind: number,
    private readonly nameEnd: number,
    private readonly paramsStart: number,
    private readonly text: TextRef,
  ) {}

  get uri(): string {
    return (this._uri ??= this.text.get(this.uriStart, this.uriEnd));
  }

  set uri(v: string) {
    this._uri = v;
  }

  get displayName(): string | undefined {
    if (this._displayName === null) {
      this._displayName = this.nameKind === NO_NAME ? undefined : this.nameKind === QUOTED_NAME
        ? unquote(this.text.get(this.start + 1, this.nameEnd - 1))
        : unfold(this.text.get(this.start, this.nameEnd));
    }
    return this._displayName;
  }

  set displayName(v: string | undefined) {
    this._displayName = v;
  }

  get params(): Record<string, string> {
    return (this._params ??= buildParams(this.text, this.paramsStart, this.end, this.header));
  }

  set params(v: Record<string, string>) {
    this._params = v;
  }
}

function parseNameAddr(msg: SipMessage, p: number, end: number, h: HeaderField, allowStar: boolean, text: TextRef): NameAddr {
  const buf = msg.buf;
  const start = p;
  let nameKind = NO_NAME;
  let nameEnd = p;
  let uriStart: number;
  let uriEnd: number;
  let star: boolean | undefined;

  if (allowStar && buf[p] === STAR) {
    // Contact: * (RFC 3261 10.2.2) stands alone; no URI starts with '*'
    if (skipLWS(buf, p + 1, end) < end) fail(buf, h, '* must be the only value');
    star = true;
    uriStart = p;
    uriEnd = p + 1;
    p = uriEnd;
  } else {
    if (buf[p] === DQUOTE) {
      const q = skipQuoted(buf, p, end);
      if (q < 0) fail(buf, h, 'unterminated quoted string');
      nameKind = QUOTED_NAME;
      nameEnd = q;
      p = skipLWS(buf, q, end);
      if (p >= end || buf[p] !== LAQUOT) fail(buf, h, 'expected < after the display name');
    } else if (buf[p] !== LAQUOT) {
      // *(token LWS) followed by '<' is a display name; anything else is an addr-spec
      let q = p;
      let tokensEnd = p;
      let b = 0;
      for (; q < end; q++) {
        b = buf[q];
        if (TOKEN[b] === 1) tokensEnd = q + 1;
        else if (!isLWS(b)) break;
      }
      if (q < end && b === LAQUOT) {
        nameKind = TOKEN_NAME;
        nameEnd = tokensEnd;
        p = q;
      }
    }
    if (buf[p] === LAQUOT) {
      // The URI's characters (no LWS inside <>, RFC 4475 3.1.2.14) are checked by parseUri.
      uriStart = p + 1;
      uriEnd = indexOfByte(buf, RAQUOT, uriStart);
      if (uriEnd === -1 || uriEnd >= end) fail(buf, h, 'missing >');
      if (uriEnd === uriStart) fail(buf, h, 'empty URI');
      p = uriEnd + 1;
    } else {
      // addr-spec: a URI with ',', ';' or '?' must be in <> (RFC 3261 20), so ';' starts the
      // header parameters and ',' the next value
      uriStart = p;
      while (p < end) {
        const b = buf[p];
        if (b === SEMI || b === COMMA || isLWS(b)) break;
        if (b === QMARK) fail(buf, h, 'a URI with headers must be enclosed in <>'); // RFC 4475 3.1.2.13
        if (b === LAQUOT || b === RAQUOT || b === DQUOTE) fail(buf, h, 'unexpected character');
        p++;
      }
      uriEnd = p;
      if (uriEnd === uriStart) fail(buf, h, 'missing URI');
    }
  }

  // Parameters: only the tag is decoded (the last one wins, as in the params record).
  const paramsStart = p;
  p = scanParams(buf, p, end, h);
  let tag: string | undefined;
  for (let i = 0; i < foundCount * 4; i += 4) {
    if (paramId(buf, found[i], found[i + 1]) === P_TAG) tag = found[i + 2] < 0 ? '' : msg.str(found[i + 2], found[i + 3]);
  }
  return new NameAddrValue(uriStart, uriEnd, tag, start, p, h, star, nameKind, nameEnd, paramsStart, text);
}

/** The only value of name-addr header line h (From, To): a second one is an error. */
export function parseNameAddrHeader(msg: SipMessage, h: HeaderField): NameAddr {
  const first = scanNameAddrLine(msg, h, false, true);
  first.removeStart = h.lineStart;
  first.removeEnd = h.lineEnd;
  return first;
}

/** Every value of the comma-separated name-addr list of header line h (Contact, Route, ...). */
export function parseNameAddrList(msg: SipMessage, h: HeaderField, allowStar: boolean): NameAddr[] {
  scanNameAddrLine(msg, h, allowStar, false);
  return takeLineValues<NameAddr>(h);
}

/** Parses the values of line h into lineValues (only the first when single) and returns the first. */
function scanNameAddrLine(msg: SipMessage, h: HeaderField, allowStar: boolean, single: boolean): NameAddr {
  const buf = msg.buf;
  const end = h.valueEnd;
  lineCount = 0;
  let p = h.valueStart;
  if (p >= end) fail(buf, h, 'empty value');
  const text = textFor(msg, h);
  const first = parseNameAddr(msg, p, end, h, allowStar, text);
  for (let na = first; ;) {
    if (!single) lineValues[lineCount++] = na;
    p = skipLWS(buf, na.end, end);
    if (p >= end) break;
    if (buf[p] !== COMMA) fail(buf, h, 'unexpected characters after a value');
    if (single) fail(buf, h, 'more than one value');
    p = skipLWS(buf, p + 1, end);
    if (p >= end) fail(buf, h, 'empty value after comma');
    na = parseNameAddr(msg, p, end, h, allowStar, text);
  }
  return first;
}

// ---- CSeq (RFC 3261 20.16): 1*DIGIT LWS Method ----

export interface CSeq {
  num: number;
  method: string;
  methodId: number;
}

/** Largest CSeq number: it must be less than 2**31 (RFC 3261 8.1.1.5). */
export const CSEQ_MAX = 0x7fffffff;

export function parseCSeq(buf: Buffer, h: HeaderField): CSeq {
  const end = h.valueEnd;
  const ds = h.valueStart;
  let p = ds;
  while (p < end && buf[p] >= 0x30 && buf[p] <= 0x39) p++;
  if (p === ds) fail(buf, h, 'missing sequence number');
  const num = parseDigits(buf, ds, p);
  if (num > CSEQ_MAX) fail(buf, h, 'sequence number out of range'); // RFC 4475 3.1.2.4
  const ms = skipLWS(buf, p, end);
  const me = skipClass(buf, ms, end, TOKEN);
  if (ms === p || me === ms || me !== end) fail(buf, h, 'expected a number and a method');
  const methodId = methodIdFromBytes(buf, ms, me);
  const method = methodId === METHOD_OTHER ? decodeBytes(buf, 'latin1', ms, me) : methodName(methodId);
  return { num, method, methodId };
}

/** Value of a 1*DIGIT header (Max-Forwards, Expires, ...), LWS-trimmed; -1 when not digits. */
export function headerDigits(buf: Buffer, h: HeaderField): number {
  return parseDigits(buf, h.valueStart, h.valueEnd);
}

