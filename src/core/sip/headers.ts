// Header names mapped to small integer ids, so the parser tags each header line once and
// everything after compares integers instead of strings.

export const HDR = {
  OTHER: 0,
  VIA: 1,
  FROM: 2,
  TO: 3,
  CALL_ID: 4,
  CSEQ: 5,
  CONTACT: 6,
  MAX_FORWARDS: 7,
  ROUTE: 8,
  RECORD_ROUTE: 9,
  CONTENT_LENGTH: 10,
  CONTENT_TYPE: 11,
  USER_AGENT: 12,
  SERVER: 13,
  SUPPORTED: 14,
  REQUIRE: 15,
  PROXY_REQUIRE: 16,
  UNSUPPORTED: 17,
  ALLOW: 18,
  EXPIRES: 19,
  AUTHORIZATION: 20,
  PROXY_AUTHORIZATION: 21,
  WWW_AUTHENTICATE: 22,
  PROXY_AUTHENTICATE: 23,
  PATH: 24,
  DATE: 25,
  ACCEPT: 26,
  SUBJECT: 27,
  EVENT: 28,
  REFER_TO: 29,
  MIN_EXPIRES: 30,
  ORGANIZATION: 31,
  PRIORITY: 32,
  TIMESTAMP: 33,
  CONTENT_ENCODING: 34,
  CONTENT_DISPOSITION: 35,
  ALLOW_EVENTS: 36,
  SESSION_EXPIRES: 37,
  P_ASSERTED_IDENTITY: 38,
  REFERRED_BY: 39,
  ACCEPT_ENCODING: 40,
  ACCEPT_LANGUAGE: 41,
  ALERT_INFO: 42,
  CALL_INFO: 43,
  ERROR_INFO: 44,
  IN_REPLY_TO: 45,
  MIME_VERSION: 46,
  REPLY_TO: 47,
  RETRY_AFTER: 48,
  WARNING: 49,
  AUTHENTICATION_INFO: 50,
  CONTENT_LANGUAGE: 51,
  RSEQ: 52,
  RACK: 53,
  SUBSCRIPTION_STATE: 54,
  MIN_SE: 55,
  P_PREFERRED_IDENTITY: 56,
  PRIVACY: 57,
  DIVERSION: 58,
  SERVICE_ROUTE: 59,
  REASON: 60,
  REPLACES: 61,
  IDENTITY: 62,
  SIP_IF_MATCH: 63,
  SIP_ETAG: 64,
  ACCEPT_CONTACT: 65,
  REJECT_CONTACT: 66,
  REQUEST_DISPOSITION: 67,
  FLOW_TIMER: 68,
} as const;

/** One more than the largest HDR id: size for per-id tables. */
export const HDR_COUNT = 69;

// [id, canonical name, compact form (RFC 3261 7.3.3 and the IANA SIP header registry)]
const DEFS: readonly (readonly [number, string, string?])[] = [
  [HDR.VIA, 'Via', 'v'],
  [HDR.FROM, 'From', 'f'],
  [HDR.TO, 'To', 't'],
  [HDR.CALL_ID, 'Call-ID', 'i'],
  [HDR.CSEQ, 'CSeq'],
  [HDR.CONTACT, 'Contact', 'm'],
  [HDR.MAX_FORWARDS, 'Max-Forwards'],
  [HDR.ROUTE, 'Route'],
  [HDR.RECORD_ROUTE, 'Record-Route'],
  [HDR.CONTENT_LENGTH, 'Content-Length', 'l'],
  [HDR.CONTENT_TYPE, 'Content-Type', 'c'],
  [HDR.USER_AGENT, 'User-Agent'],
  [HDR.SERVER, 'Server'],
  [HDR.SUPPORTED, 'Supported', 'k'],
  [HDR.REQUIRE, 'Require'],
  [HDR.PROXY_REQUIRE, 'Proxy-Require'],
  [HDR.UNSUPPORTED, 'Unsupported'],
  [HDR.ALLOW, 'Allow'],
  [HDR.EXPIRES, 'Expires'],
  [HDR.AUTHORIZATION, 'Authorization'],
  [HDR.PROXY_AUTHORIZATION, 'Proxy-Authorization'],
  [HDR.WWW_AUTHENTICATE, 'WWW-Authenticate'],
  [HDR.PROXY_AUTHENTICATE, 'Proxy-Authenticate'],
  [HDR.PATH, 'Path'],
  [HDR.DATE, 'Date'],
  [HDR.ACCEPT, 'Accept'],
  [HDR.SUBJECT, 'Subject', 's'],
  [HDR.EVENT, 'Event', 'o'],
  [HDR.REFER_TO, 'Refer-To', 'r'],
  [HDR.MIN_EXPIRES, 'Min-Expires'],
  [HDR.ORGANIZATION, 'Organization'],
  [HDR.PRIORITY, 'Priority'],
  [HDR.TIMESTAMP, 'Timestamp'],
  [HDR.CONTENT_ENCODING, 'Content-Encoding', 'e'],
  [HDR.CONTENT_DISPOSITION, 'Content-Disposition'],
  [HDR.ALLOW_EVENTS, 'Allow-Events', 'u'],
  [HDR.SESSION_EXPIRES, 'Session-Expires', 'x'],
  [HDR.P_ASSERTED_IDENTITY, 'P-Asserted-Identity'],
  [HDR.REFERRED_BY, 'Referred-By', 'b'],
  [HDR.ACCEPT_ENCODING, 'Accept-Encoding'],
  [HDR.ACCEPT_LANGUAGE, 'Accept-Language'],
  [HDR.ALERT_INFO, 'Alert-Info'],
  [HDR.CALL_INFO, 'Call-Info'],
  [HDR.ERROR_INFO, 'Error-Info'],
  [HDR.IN_REPLY_TO, 'In-Reply-To'],
  [HDR.MIME_VERSION, 'MIME-Version'],
  [HDR.REPLY_TO, 'Reply-To'],
  [HDR.RETRY_AFTER, 'Retry-After'],
  [HDR.WARNING, 'Warning'],
  [HDR.AUTHENTICATION_INFO, 'Authentication-Info'],
  [HDR.CONTENT_LANGUAGE, 'Content-Language'],
  [HDR.RSEQ, 'RSeq'],
  [HDR.RACK, 'RAck'],
  [HDR.SUBSCRIPTION_STATE, 'Subscription-State'],
  [HDR.MIN_SE, 'Min-SE'],
  [HDR.P_PREFERRED_IDENTITY, 'P-Preferred-Identity'],
  [HDR.PRIVACY, 'Privacy'],
  [HDR.DIVERSION, 'Diversion'],
  [HDR.SERVICE_ROUTE, 'Service-Route'],
  [HDR.REASON, 'Reason'],
  [HDR.REPLACES, 'Replaces'],
  [HDR.IDENTITY, 'Identity', 'y'],
  [HDR.SIP_IF_MATCH, 'SIP-If-Match'],
  [HDR.SIP_ETAG, 'SIP-ETag'],
  [HDR.ACCEPT_CONTACT, 'Accept-Contact', 'a'],
  [HDR.REJECT_CONTACT, 'Reject-Contact', 'j'],
  [HDR.REQUEST_DISPOSITION, 'Request-Disposition', 'd'],
  [HDR.FLOW_TIMER, 'Flow-Timer'],
];

/** Canonical spelling of each known header id (used when writing headers). */
export const HDR_CANONICAL_NAMES: Record<number, string> = {};

const byLowerName = new Map<string, number>();
const compact = new Uint8Array(128);

// Byte lookup: full names are bucketed by (length, first letter) and compared four bytes at a
// time, as little-endian words of the lower-case name and of a fold mask (0x20 on letters,
// 0 elsewhere): `(word | fold) === lower` matches letters in any case and '-' exactly.
interface Candidate {
  id: number;
  lower: Int32Array;
  fold: Int32Array;
}
const MAX_NAME = 31;
/** Names up to this length can be looked up from packed words (see headerIdFromWords). */
export const PACKED_NAME_MAX = 16;
const BUCKET_BITS = 5;
const buckets: (Candidate[] | null)[] = new Array((MAX_NAME + 1) << BUCKET_BITS).fill(null);

function nameWords(lower: string, mask: boolean): Int32Array {
  const words = new Int32Array((lower.length + 3) >> 2);
  for (let i = 0; i < lower.length; i++) {
    const c = lower.charCodeAt(i);
    const b = mask ? (c >= 0x61 && c <= 0x7a ? 0x20 : 0) : c;
    words[i >> 2] |= b << ((i & 3) * 8);
  }
  return words;
}

for (const [id, name, short] of DEFS) {
  HDR_CANONICAL_NAMES[id] = name;
  const lower = name.toLowerCase();
  byLowerName.set(lower, id);
  const key = (name.length << BUCKET_BITS) | (lower.charCodeAt(0) & 31);
  (buckets[key] ??= []).push({ id, lower: nameWords(lower, false), fold: nameWords(lower, true) });
  if (short !== undefined) {
    byLowerName.set(short, id);
    compact[short.charCodeAt(0)] = id;
  }
}

function nameMatches(buf: Uint8Array, start: number, len: number, c: Candidate): boolean {
  const lower = c.lower;
  const fold = c.fold;
  let i = 0;
  let w = 0;
  for (; i + 4 <= len; i += 4, w++) {
    const x = buf[start + i] | (buf[start + i + 1] << 8) | (buf[start + i + 2] << 16) | (buf[start + i + 3] << 24);
    if ((x | fold[w]) !== lower[w]) return false;
  }
  if (i === len) return true;
  let x = 0;
  for (let k = 0; i + k < len; k++) x |= buf[start + i + k] << (k * 8);
  return (x | fold[w]) === lower[w];
}

/** Header id of a header name, case-insensitive, compact forms included; HDR.OTHER when unknown. */
export function headerIdOf(name: string): number {
  return byLowerName.get(name.toLowerCase()) ?? HDR.OTHER;
}

// The same candidates for names up to PACKED_NAME_MAX bytes, flattened for headerIdFromWords
// (once per header line): per candidate, its four lower-case words and four fold masks side by
// side (zero past the name), the candidates of a bucket contiguous. Four word comparisons in
// one typed array, instead of loads through candidate objects and their arrays.
const PACKED_WORDS: number[] = [];
const packedIds: number[] = [];
const packedFirst = new Uint16Array(buckets.length);
const packedEnd = new Uint16Array(buckets.length);
for (let key = 0; key < buckets.length; key++) {
  packedFirst[key] = packedIds.length;
  for (const c of buckets[key] ?? []) {
    if (c.lower.length > PACKED_NAME_MAX >> 2) continue;
    packedIds.push(c.id);
    for (let w = 0; w < 4; w++) PACKED_WORDS.push(c.lower[w] ?? 0, c.fold[w] ?? 0);
  }
  packedEnd[key] = packedIds.length;
}
const packedWords = Int32Array.from(PACKED_WORDS);
const packedId = Uint8Array.from(packedIds);

/**
 * Header id of a name of `len` bytes (2 to PACKED_NAME_MAX) given as four little-endian words
 * of its bytes (zero past the end), e.g. packed while the name was scanned for its colon:
 * reading bytes again costs more than comparing words.
 */
export function headerIdFromWords(len: number, w0: number, w1: number, w2: number, w3: number): number {
  const key = (len << BUCKET_BITS) | (w0 & 31);
  const end = packedEnd[key];
  const words = packedWords;
  for (let c = packedFirst[key]; c < end; c++) {
    const o = c << 3;
    if ((w0 | words[o + 1]) === words[o] && (w1 | words[o + 3]) === words[o + 2] &&
      (w2 | words[o + 5]) === words[o + 4] && (w3 | words[o + 7]) === words[o + 6]) {
      return packedId[c];
    }
  }
  return HDR.OTHER;
}

/** Header id of the header name in buf[start, end) without decoding it; HDR.OTHER when unknown. */
export function headerIdFromBytes(buf: Uint8Array, start: number, end: number): number {
  const len = end - start;
  if (len === 1) {
    const c = buf[start] | 0x20;
    return c >= 0x61 && c <= 0x7a ? compact[c] : HDR.OTHER;
  }
  if (len > MAX_NAME || len <= 0) return HDR.OTHER;
  const candidates = buckets[(len << BUCKET_BITS) | (buf[start] & 31)];
  if (candidates === null) return HDR.OTHER;
  for (let c = 0; c < candidates.length; c++) {
    if (nameMatches(buf, start, len, candidates[c])) return candidates[c].id;
  }
  return HDR.OTHER;
}
