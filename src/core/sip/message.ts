// A received SIP message, parsed on demand (DESIGN.md "How the hot path is written").
//
// parseMessage() reads the first line and the header line boundaries only: per header it
// records byte offsets and a small integer id computed from the name bytes. Every value is
// decoded and parsed the first time something asks for it, then cached on the message.

import { CR, HT, LF, SP, decodeUnfolded, isLWS, isToken, parseDigits } from './chars.js';
import { decodeBytes, indexOfByte } from './bytes.js';
import { SipLimitError, SipParseError } from './errors.js';
import { type CSeq, TextRef, parseCSeq, parseNameAddrHeader, parseNameAddrList, parseViaHeader } from './fields.js';
import { HDR, HDR_CANONICAL_NAMES, PACKED_NAME_MAX, headerIdFromBytes, headerIdFromWords, headerIdOf } from './headers.js';
import { METHOD_OTHER, METHOD_UNDEF, methodIdFromBytes, methodName } from './methods.js';
import { type SipUri, parseUri } from './uri.js';

/** One header line (with its folded continuation lines). All offsets are byte offsets into msg.buf. */
export interface HeaderField {
  id: number;
  nameStart: number;
  nameEnd: number;
  /** Value trimmed of surrounding LWS; may contain folded CRLF+WSP. */
  valueStart: number;
  valueEnd: number;
  /** The whole line(s), including the final CRLF. */
  lineStart: number;
  lineEnd: number;
}

export interface Via {
  /** 'SIP/2.0/UDP': upper-case, without LWS. */
  protocol: string;
  /** Upper-case: 'UDP', 'TCP', 'TLS', 'SCTP', 'WS', 'WSS', or an unknown token. */
  transport: string;
  /** IPv6 without []. */
  host: string;
  /** 0 if absent. */
  port: number;
  branch: string | undefined;
  received: string | undefined;
  /** '' when present without value. */
  rport: string | undefined;
  hasRport: boolean;
  maddr: string | undefined;
  ttl: number | undefined;
  /** All via-params; names lower-cased, values as written, '' for flags. Built on first access. */
  params: Record<string, string>;
  /** This via-parm's bytes. */
  start: number;
  end: number;
  /**
   * Bytes to cut to remove just this value: the whole header line if it is the only value on
   * its line, else the value plus one separating comma and whitespace.
   */
  removeStart: number;
  removeEnd: number;
  header: HeaderField;
}

export interface NameAddr {
  /** Unquoted and unescaped; undefined when absent. Built on first access. */
  displayName: string | undefined;
  uri: string;
  /** Byte offsets of the URI text (inside <> when present). */
  uriStart: number;
  uriEnd: number;
  /** Header parameters (not URI parameters); names lower-cased, values as written. Built on first access. */
  params: Record<string, string>;
  tag: string | undefined;
  start: number;
  end: number;
  /** As for Via. */
  removeStart: number;
  removeEnd: number;
  header: HeaderField;
  /** Contact: * */
  star?: boolean;
}

const VERSION_2_0 = 'SIP/2.0';
const VIA_BIT = 1 << HDR.VIA;

export class SipMessage {
  buf: Buffer;
  isRequest = false;
  /** Requests; '' on replies. */
  method = '';
  /** Requests; 0 on replies. */
  methodId = METHOD_UNDEF;
  ruriStart = 0;
  ruriEnd = 0;
  /** SIP-Version of the first line, e.g. 'SIP/2.0' ('SIP/' upper-cased). */
  version = VERSION_2_0;
  /** Replies; 0 on requests. */
  status = 0;
  /** Offset just after the first line's CRLF. */
  firstLineEnd = 0;
  headers: HeaderField[] = [];
  /** Offset of the empty line (its CRLF) that ends the headers. */
  headersEnd = 0;
  bodyStart = 0;
  /** From Content-Length, or the rest of the datagram when it is absent. */
  bodyLength = 0;

  // Lazily computed values. @internal: set by parseMessage or by the accessors below.
  _reasonStart = 0;
  _reasonEnd = 0;
  _contentLength = -1;
  /** Bit (1 << id) of each header id below 32 present in the message (see hasHeader). */
  _present = 0;
  /** Bit (1 << id) of each header id below 32 present more than once. */
  _repeated = 0;
  /** Whether some header line is folded (continues on a line starting with SP or HTAB). */
  _folded = false;
  private _text: string | undefined = undefined;
  private _exact = false;
  private _textRef: TextRef | undefined = undefined;
  private _ruri: string | undefined = undefined;
  private _reason: string | undefined = undefined;
  private _callId: string | undefined = undefined;
  private _cseq: CSeq | undefined = undefined;
  private _firstVias: Via[] | undefined = undefined;
  private _vias: Via[] | undefined = undefined;
  private _from: NameAddr | undefined = undefined;
  private _to: NameAddr | undefined = undefined;
  private _maxForwards = -2;
  private _routes: NameAddr[] | undefined = undefined;
  private _recordRoutes: NameAddr[] | undefined = undefined;
  private _contacts: NameAddr[] | undefined = undefined;
  private _requestUri: SipUri | undefined = undefined;

  constructor(buf: Buffer) {
    this.buf = buf;
  }

  /**
   * @internal Bytes [start, end) of the first line and headers, decoded as UTF-8. Decoding
   * costs about the same for 5 bytes as for 500, so the whole head is decoded once and values
   * are cut from it by byte offset. That is exact when every character came from one byte
   * (ASCII, or a lone invalid byte decoded as U+FFFD: the usual case); otherwise each piece is
   * decoded on its own.
   */
  str(start: number, end: number): string {
    if (this._text === undefined) this.decodeHead();
    return this._exact ? this._text!.slice(start, end) : this.buf.toString('utf8', start, end);
  }

  /** @internal The decoded head when its offsets are byte offsets (see str), else undefined. */
  exactText(): string | undefined {
    if (this._text === undefined) this.decodeHead();
    return this._exact ? this._text : undefined;
  }

  /** @internal The decoded head for values built later, or undefined when it is not exact. */
  textRef(): TextRef | undefined {
    if (this._text === undefined) this.decodeHead();
    if (this._exact) this._textRef ??= new TextRef(this._text!, 0, true);
    return this._textRef;
  }

  private decodeHead(): void {
    this._text = decodeBytes(this.buf, 'utf8', 0, this.headersEnd);
    this._exact = this._text.length === this.headersEnd;
  }

  /** Request-URI text as written (requests; '' on replies). */
  get ruri(): string {
    if (this._ruri === undefined) this._ruri = this.isRequest ? this.str(this.ruriStart, this.ruriEnd) : '';
    return this._ruri;
  }

  /** Reason phrase (replies; '' on requests). */
  get reason(): string {
    if (this._reason === undefined) this._reason = this.isRequest ? '' : this.str(this._reasonStart, this._reasonEnd);
    return this._reason;
  }

  headerName(h: HeaderField): string {
    return this.buf.toString('latin1', h.nameStart, h.nameEnd);
  }

  /** Value with each folding (CRLF and surrounding whitespace) collapsed to one SP. */
  headerValue(h: HeaderField): string {
    return this._folded ? decodeUnfolded(this.buf, h.valueStart, h.valueEnd) : this.str(h.valueStart, h.valueEnd);
  }

  /** Whether a header with this id is present. */
  hasHeader(id: number): boolean {
    return id < 32 ? (this._present & (1 << id)) !== 0 : this.getHeader(id) !== undefined;
  }

  /** First header with this id, or this name (case-insensitive; compact forms match too). */
  getHeader(idOrName: number | string): HeaderField | undefined {
    const hs = this.headers;
    const id = typeof idOrName === 'number' ? idOrName : headerIdOf(idOrName);
    if (id > 0 && id < 32 && (this._present & (1 << id)) === 0) return undefined;
    for (let i = 0; i < hs.length; i++) if (this.matches(hs[i], id, idOrName)) return hs[i];
    return undefined;
  }

  getHeaders(idOrName: number | string): HeaderField[] {
    const hs = this.headers;
    const id = typeof idOrName === 'number' ? idOrName : headerIdOf(idOrName);
    const out: HeaderField[] = [];
    if (id > 0 && id < 32 && (this._present & (1 << id)) === 0) return out;
    for (let i = 0; i < hs.length; i++) if (this.matches(hs[i], id, idOrName)) out.push(hs[i]);
    return out;
  }

  getHeaderValue(idOrName: number | string): string | undefined {
    const h = this.getHeader(idOrName);
    return h === undefined ? undefined : this.headerValue(h);
  }

  /** Unknown headers asked for by name are matched on their name bytes. */
  private matches(h: HeaderField, id: number, idOrName: number | string): boolean {
    return h.id === id && (id !== HDR.OTHER || typeof idOrName === 'number' || this.nameIs(h, idOrName));
  }

  /** Case-insensitive comparison of a header's name bytes with name. */
  private nameIs(h: HeaderField, name: string): boolean {
    const buf = this.buf;
    if (h.nameEnd - h.nameStart !== name.length) return false;
    for (let i = 0; i < name.length; i++) {
      const a = buf[h.nameStart + i];
      const b = name.charCodeAt(i);
      if (a === b) continue;
      const la = a | 0x20;
      if (la !== (b | 0x20) || la < 0x61 || la > 0x7a) return false;
    }
    return true;
  }

  /** The header with this id, which must be present. */
  private required(id: number): HeaderField {
    const h = this.getHeader(id);
    if (h === undefined) throw new SipParseError(`missing ${HDR_CANONICAL_NAMES[id]} header`);
    return h;
  }

  callId(): string {
    if (this._callId === undefined) {
      const v = this.headerValue(this.required(HDR.CALL_ID));
      if (v === '') throw new SipParseError('bad Call-ID header: empty value');
      this._callId = v;
    }
    return this._callId;
  }

  cseq(): CSeq {
    return (this._cseq ??= parseCSeq(this.buf, this.required(HDR.CSEQ)));
  }

  /** The first Via value (of the first Via line); throws when there is none. */
  topVia(): Via {
    const list = this._vias ?? this.firstVias();
    if (list.length === 0) throw new SipParseError('missing Via header');
    return list[0];
  }

  /** Values of the first Via line only: what most replies and forwards need. */
  private firstVias(): Via[] {
    if (this._firstVias === undefined) {
      const h = this.getHeader(HDR.VIA);
      this._firstVias = h === undefined ? [] : parseViaHeader(this, h);
    }
    return this._firstVias;
  }

  /** Every Via value in order across all Via lines ([] when there is none). */
  vias(): Via[] {
    if (this._vias === undefined) {
      // One Via line (the usual request): its values are all, without a walk over the headers.
      let list = this.firstVias();
      if ((this._repeated & VIA_BIT) !== 0) {
        // Each further line's values joined on: arrays of their exact length, as the lines'.
        const hs = this.headers;
        let first = true;
        for (let i = 0; i < hs.length; i++) {
          if (hs[i].id !== HDR.VIA) continue;
          if (!first) list = list.concat(parseViaHeader(this, hs[i]));
          first = false;
        }
      }
      this._vias = list;
    }
    return this._vias;
  }

  from(): NameAddr {
    return (this._from ??= this.single(HDR.FROM));
  }

  to(): NameAddr {
    return (this._to ??= this.single(HDR.TO));
  }

  private single(id: number): NameAddr {
    return parseNameAddrHeader(this, this.required(id));
  }

  private all(id: number): NameAddr[] {
    let list: NameAddr[] | undefined;
    if (this.hasHeader(id)) {
      const hs = this.headers;
      for (let i = 0; i < hs.length; i++) {
        if (hs[i].id !== id) continue;
        const values = parseNameAddrList(this, hs[i], id === HDR.CONTACT);
        list = list === undefined ? values : list.concat(values);
      }
    }
    return list ?? [];
  }

  /** -1 when absent; throws when not 1*DIGIT (range is checked by validateMessage). */
  maxForwards(): number {
    if (this._maxForwards === -2) {
      const h = this.getHeader(HDR.MAX_FORWARDS);
      let v = -1;
      if (h !== undefined) {
        v = parseDigits(this.buf, h.valueStart, h.valueEnd);
        if (v < 0) throw new SipParseError('bad Max-Forwards header');
      }
      this._maxForwards = v;
    }
    return this._maxForwards;
  }

  /** -1 when absent. */
  contentLength(): number {
    return this._contentLength;
  }

  routes(): NameAddr[] {
    return (this._routes ??= this.all(HDR.ROUTE));
  }

  recordRoutes(): NameAddr[] {
    return (this._recordRoutes ??= this.all(HDR.RECORD_ROUTE));
  }

  contacts(): NameAddr[] {
    return (this._contacts ??= this.all(HDR.CONTACT));
  }

  requestUri(): SipUri {
    if (!this.isRequest) throw new SipParseError('not a request');
    return (this._requestUri ??= parseUri(this.ruri));
  }

  /** The body as a view into buf (copy it to keep it beyond the current message). */
  body(): Buffer {
    return this.buf.subarray(this.bodyStart, this.bodyStart + this.bodyLength);
  }
}

// ---------------------------------------------------------------------------------------
// Framing: first line and header line boundaries.

const COLON = 0x3a;

/** Whether buf[p..] starts with "SIP/" in any case (the SIP-Version literal is case-insensitive). */
function startsWithSipSlash(buf: Buffer, p: number, end: number): boolean {
  return p + 4 <= end && (buf[p] | 0x20) === 0x73 && (buf[p + 1] | 0x20) === 0x69 &&
    (buf[p + 2] | 0x20) === 0x70 && buf[p + 3] === 0x2f;
}

/**
 * End of a SIP-Version ("SIP/" 1*DIGIT "." 1*DIGIT) starting at p, or -1. The version
 * string itself is produced by versionString.
 */
function versionEnd(buf: Buffer, p: number, end: number): number {
  if (!startsWithSipSlash(buf, p, end)) return -1;
  let q = p + 4;
  const major = q;
  while (q < end && buf[q] >= 0x30 && buf[q] <= 0x39) q++;
  if (q === major || q >= end || buf[q] !== 0x2e) return -1;
  const minor = ++q;
  while (q < end && buf[q] >= 0x30 && buf[q] <= 0x39) q++;
  return q === minor ? -1 : q;
}

function versionString(buf: Buffer, start: number, end: number): string {
  if (end - start === 7 && buf[start + 4] === 0x32 && buf[start + 5] === 0x2e && buf[start + 6] === 0x30) return VERSION_2_0;
  return 'SIP/' + buf.toString('latin1', start + 4, end);
}

/** Why a request line is malformed: only computed once it is known to be (cold path). */
function requestLineProblem(buf: Buffer, start: number, end: number): string {
  const line = buf.toString('latin1', start, end);
  if (line.startsWith(' ') || line.startsWith('\t')) return 'leading whitespace in request line';
  if (line.endsWith(' ') || line.endsWith('\t')) return 'trailing whitespace in request line'; // RFC 4475 3.1.2.10
  if (line.includes('  ')) return 'multiple SP in request line'; // RFC 4475 3.1.2.9
  const parts = line.split(' ');
  if (parts.length > 3) return 'whitespace in Request-URI'; // RFC 4475 3.1.2.8
  if (parts.length < 3) return 'bad request line: no SIP version';
  if (!/^[-.!%*_+`'~0-9A-Za-z]+$/.test(parts[0])) return 'bad request line: bad method';
  if (!/^SIP\/[0-9]+\.[0-9]+$/i.test(parts[2])) return 'bad request line: bad SIP version';
  return 'bad request line';
}

function parseRequestLine(msg: SipMessage, buf: Buffer, start: number, end: number): void {
  // Method SP Request-URI SP SIP-Version: exactly two SPs. The Request-URI characters are
  // checked by parseUri when the URI is asked for (validateMessage does).
  const methodEnd = indexOfByte(buf, SP, start);
  const uriEnd = methodEnd === -1 || methodEnd >= end ? -1 : indexOfByte(buf, SP, methodEnd + 1);
  const methodId = methodEnd > start ? methodIdFromBytes(buf, start, methodEnd) : METHOD_UNDEF;
  const ok = methodId !== METHOD_UNDEF && uriEnd > methodEnd + 1 && uriEnd < end &&
    versionEnd(buf, uriEnd + 1, end) === end && (methodId !== METHOD_OTHER || isToken(buf, start, methodEnd));
  if (!ok) throw new SipParseError(requestLineProblem(buf, start, end));
  msg.isRequest = true;
  msg.methodId = methodId;
  msg.method = methodId === METHOD_OTHER ? decodeBytes(buf, 'latin1', start, methodEnd) : methodName(methodId);
  msg.ruriStart = methodEnd + 1;
  msg.ruriEnd = uriEnd;
  msg.version = versionString(buf, uriEnd + 1, end);
}

function parseStatusLine(msg: SipMessage, buf: Buffer, start: number, end: number): void {
  const vEnd = versionEnd(buf, start, end);
  let p = vEnd + 1;
  const codeStart = p;
  if (vEnd > 0 && vEnd < end && buf[vEnd] === SP) {
    while (p < end && buf[p] >= 0x30 && buf[p] <= 0x39) p++;
  }
  // Status-Code digits, then SP Reason-Phrase (possibly empty, RFC 4475 3.1.1.13) or nothing.
  // The range 100-699 is left to validateMessage, which drops such replies (RFC 4475 3.1.2.19).
  if (p === codeStart || (p < end && buf[p] !== SP)) throw new SipParseError('bad status line');
  msg.version = versionString(buf, start, vEnd);
  msg.status = parseDigits(buf, codeStart, p);
  msg._reasonStart = p < end ? p + 1 : end;
  msg._reasonEnd = end;
}

/** What parseMessage accepts of a message it receives (the sip_max_* settings). */
export interface ParseLimits {
  /** Header lines (a folded line and its continuations count once). */
  maxHeaders: number;
  /** Bytes of one header line, name to CRLF, continuation lines included. */
  maxHeaderSize: number;
}

/** For messages we made or stored ourselves. */
export const NO_LIMITS: ParseLimits = Object.freeze({ maxHeaders: 0x7fffffff, maxHeaderSize: 0x7fffffff });

/**
 * Parses the framing of one datagram: the first line, the header line boundaries and the
 * body extent. buf may be a view into shared memory; the message keeps a reference to it, so
 * it must not outlive the buffer's current contents (decoded values are copies). Over a limit
 * it throws SipLimitError as soon as the limit is passed, having spent no more than the limit's
 * worth of work.
 */
export function parseMessage(buf: Buffer, limits: ParseLimits = NO_LIMITS): SipMessage {
  const len = buf.length;
  const msg = new SipMessage(buf);
  const maxHeaders = limits.maxHeaders;
  const maxHeaderSize = limits.maxHeaderSize;

  // Leading CRLFs are ignored (RFC 3261 7.5).
  let p = 0;
  while (p < len && (buf[p] === CR || buf[p] === LF)) p++;
  if (p === len) throw new SipParseError('empty message');
  const lineStart = p;
  p = indexOfByte(buf, LF, p);
  if (p === -1) throw new SipParseError('first line not terminated');
  const lineEnd = p > lineStart && buf[p - 1] === CR ? p - 1 : p;
  if (startsWithSipSlash(buf, lineStart, lineEnd)) parseStatusLine(msg, buf, lineStart, lineEnd);
  else parseRequestLine(msg, buf, lineStart, lineEnd);
  p++;
  msg.firstLineEnd = p;

  // Header lines: name [WSP] ":" value, continuation lines start with SP or HTAB.
  const headers = msg.headers;
  let contentLength = -1;
  let present = 0;
  let repeated = 0;
  for (;;) {
    if (p >= len) throw new SipParseError('missing empty line after headers');
    const b = buf[p];
    if (b === CR || b === LF) {
      msg.headersEnd = p;
      if (b === CR) {
        if (p + 1 >= len || buf[p + 1] !== LF) throw new SipParseError('bad header line');
        p++;
      }
      p++;
      break;
    }
    const start = p;
    // Line end first, by memchr (far cheaper than a JS byte loop); a line that starts with SP
    // or HTAB continues the header (folding, RFC 3261 7.3.1).
    const firstLf = indexOfByte(buf, LF, p);
    let lf = firstLf;
    while (lf !== -1 && lf + 1 < len && (buf[lf + 1] === SP || buf[lf + 1] === HT)) lf = indexOfByte(buf, LF, lf + 1);
    if (lf === -1) throw new SipParseError('missing empty line after headers');
    if (lf !== firstLf) msg._folded = true;
    p = lf + 1;
    if (p - start > maxHeaderSize) throw new SipLimitError(`header line over ${maxHeaderSize} bytes`);
    if (headers.length === maxHeaders) throw new SipLimitError(`more than ${maxHeaders} headers`);
    // name [WSP] ":" on the first line. Names are short, so a JS loop finds the colon faster
    // than the native call, and it packs the first bytes into words on the way: the id lookup
    // then compares words instead of reading every byte again. A name that maps to an id is a
    // token by construction; any other name is checked byte by byte.
    let colon = start;
    let w0 = 0;
    let w1 = 0;
    let w2 = 0;
    let w3 = 0;
    for (; colon < firstLf; colon++) {
      const c = buf[colon];
      if (c === COLON) break;
      const k = colon - start;
      const byte = c << ((k & 3) << 3);
      if (k < 4) w0 |= byte;
      else if (k < 8) w1 |= byte;
      else if (k < 12) w2 |= byte;
      else if (k < 16) w3 |= byte;
    }
    if (colon === firstLf) throw new SipParseError('bad header line');
    let nameEnd = colon;
    while (nameEnd > start && (buf[nameEnd - 1] === SP || buf[nameEnd - 1] === HT)) nameEnd--;
    const nameLen = nameEnd - start;
    const id = nameLen > 1 && nameLen <= PACKED_NAME_MAX && nameEnd === colon
      ? headerIdFromWords(nameLen, w0, w1, w2, w3)
      : headerIdFromBytes(buf, start, nameEnd);
    if (id === HDR.OTHER && !isToken(buf, start, nameEnd)) throw new SipParseError('bad header line');
    // Value: trimmed of LWS, which may include the CRLF of a fold right after the colon.
    let valueStart = colon + 1;
    while (valueStart < lf && isLWS(buf[valueStart])) valueStart++;
    let valueEnd = lf;
    while (valueEnd > valueStart && isLWS(buf[valueEnd - 1])) valueEnd--;
    if (valueStart === lf) valueStart = valueEnd = colon + 1; // empty value, e.g. "Subject:"
    headers.push({ id, nameStart: start, nameEnd, valueStart, valueEnd, lineStart: start, lineEnd: p });
    if (id < 32) {
      const bit = 1 << id;
      repeated |= present & bit;
      present |= bit;
    }
    if (id === HDR.CONTENT_LENGTH) {
      if (contentLength >= 0) throw new SipParseError('duplicate Content-Length'); // RFC 4475 3.3.9
      contentLength = parseDigits(buf, valueStart, valueEnd);
      if (contentLength < 0) {
        throw new SipParseError(buf[valueStart] === 0x2d ? 'negative Content-Length' : 'bad Content-Length'); // RFC 4475 3.1.2.3
      }
    }
  }
  msg.bodyStart = p;
  msg._contentLength = contentLength;
  msg._present = present;
  msg._repeated = repeated;
  if (contentLength < 0) {
    msg.bodyLength = len - p;
  } else {
    // Extra bytes after the body are ignored (RFC 3261 18.3, RFC 4475 3.1.1.8); fewer is an error.
    if (contentLength > len - p) throw new SipParseError('Content-Length larger than the message'); // RFC 4475 3.1.2.2
    msg.bodyLength = contentLength;
  }
  return msg;
}
