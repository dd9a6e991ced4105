// sl's reply builder: the one builder of replies viaduct sends itself (sl_send_reply, and the
// core's own 400/420/482/483). The echoed headers (Via, From, To, Call-ID, CSeq) are copied as
// the bytes received, never decoded and re-encoded: a reply is never larger than what it
// echoes plus our own lines (invalid UTF-8 re-encoded used to grow up to 3x toward a spoofed
// source).
import type { MsgContext } from '../../core/context.js';
import { fnv1a, hex32 } from '../../core/hash.js';
import { HDR } from '../../core/sip/headers.js';
import { METHOD_ACK } from '../../core/sip/methods.js';
import { canReplyTo } from '../../core/sip/validate.js';
import { slReplyCounters } from '../../core/stats/counters.js';
import { replyPort, topViaAdditions } from '../../core/via.js';
import { copyBytes, plainBytes, writeLatin1 } from '../../core/sip/bytes.js';

const NON_ASCII = /[^\x00-\x7f]/;

/** Text from the script (UTF-8 in a JS string) as the latin1 string of its UTF-8 bytes. */
function bytesOf(s: string): string {
  return NON_ASCII.test(s) ? Buffer.from(s, 'utf8').toString('latin1') : s;
}

/** The To-tag of our stateless replies: the instance prefix plus a hash of the request. */
export function statelessToTag(ctx: MsgContext): string {
  const msg = ctx.msg;
  const top = msg.topVia();
  return `${ctx.core.instanceTag}${hex32(fnv1a(msg.callId(), fnv1a(msg.from().tag ?? '', fnv1a(top.branch ?? ''))))}`;
}

/**
 * Sends a stateless reply to the current request: Via (with received/rport), From, To (with our
 * tag above 100 when the request had none), Call-ID and CSeq copied, then the headers queued by
 * append_to_reply, Server and Content-Length. 1 on success, -1 when there is nothing to answer.
 */
export function sendStatelessReply(ctx: MsgContext, code: number, reason: string): number {
  const out = buildReply(ctx, code, reason, null);
  if (out === null) return -1;
  ctx.core.transport.send(ctx.sock.index, out, replyPort(ctx), ctx.srcIp);
  ctx.replied = true;
  ctx.core.counters.incAll(slReplyCounters(code));
  return 1;
}

/**
 * The reply sendStatelessReply() sends, built and not sent (tm keeps its local replies to
 * resend them); `toTag` replaces the stateless To-tag. null when there is nothing to answer.
 */
export function buildReply(ctx: MsgContext, code: number, reason: string, toTag: string | null): Buffer | null {
  const msg = ctx.msg;
  if (!msg.isRequest || !Number.isInteger(code) || code < 100 || code > 699) return null;
  if (msg.methodId === METHOD_ACK) return null; // never reply to an ACK
  if (!canReplyTo(msg)) return null; // a header the reply copies is missing or broken
  const from = msg.getHeader(HDR.FROM)!;
  const to = msg.getHeader(HDR.TO)!;
  const cid = msg.getHeader(HDR.CALL_ID)!;
  const cseq = msg.getHeader(HDR.CSEQ)!;
  const b = msg.buf;
  const status = statusLine(code, reason);
  const adds = topViaAdditions(ctx);
  const tagged = code > 100 && msg.to().tag === undefined;
  const tag = tagged ? `;tag=${toTag ?? statelessToTag(ctx)}\r\n` : '';
  const extra = ctx.replyHeaders.length === 0 ? ctx.replyHeaders : ctx.replyHeaders.map(bytesOf);
  const tail = ctx.core.serverHeader + CONTENT_LENGTH_0;
  // Received bytes are copied as they are (never decoded), our texts written one byte per char
  // (latin1): first the size, then one buffer, no intermediate strings.
  let size = status.length + tail.length + tag.length;
  for (let i = 0; i < adds.length; i++) size += adds[i]!.text.length - (adds[i]!.end - adds[i]!.at);
  const hs = msg.headers;
  for (let i = 0; i < hs.length; i++) if (hs[i]!.id === HDR.VIA) size += hs[i]!.lineEnd - hs[i]!.lineStart;
  size += from.lineEnd - from.lineStart + cid.lineEnd - cid.lineStart + cseq.lineEnd - cseq.lineStart;
  size += tagged ? to.valueEnd - to.lineStart : to.lineEnd - to.lineStart;
  for (let i = 0; i < extra.length; i++) size += extra[i]!.length;
  const out = Buffer.allocUnsafe(size);
  const src = plainBytes(b);
  let o = writeLatin1(out, status, 0);
  // the top Via line with what RFC 3261 18.2.1 / RFC 3581 add, then the other Via lines as they are
  let top = true;
  for (let i = 0; i < hs.length; i++) {
    const h = hs[i]!;
    if (h.id !== HDR.VIA) continue;
    let at = h.lineStart;
    if (top) {
      for (let k = 0; k < adds.length; k++) {
        o += copyBytes(src, out, o, at, adds[k]!.at);
        o += writeLatin1(out, adds[k]!.text, o);
        at = adds[k]!.end;
      }
      top = false;
    }
    o += copyBytes(src, out, o, at, h.lineEnd);
  }
  o += copyBytes(src, out, o, from.lineStart, from.lineEnd);
  if (tagged) {
    o += copyBytes(src, out, o, to.lineStart, to.valueEnd);
    o += writeLatin1(out, tag, o);
  } else {
    o += copyBytes(src, out, o, to.lineStart, to.lineEnd);
  }
  o += copyBytes(src, out, o, cid.lineStart, cid.lineEnd);
  o += copyBytes(src, out, o, cseq.lineStart, cseq.lineEnd);
  for (let i = 0; i < extra.length; i++) o += writeLatin1(out, extra[i]!, o);
  writeLatin1(out, tail, o);
  return out;
}

const CONTENT_LENGTH_0 = 'Content-Length: 0\r\n\r\n';

// The status line of the last reply built: a proxy sends the same few (100 Trying) over and over.
let lastCode = 0;
let lastReason = '';
let lastStatus = '';

/** "SIP/2.0 code reason\r\n" as latin1 bytes, CR and LF in the reason made spaces. */
function statusLine(code: number, reason: string): string {
  if (code !== lastCode || reason !== lastReason) {
    lastStatus = `SIP/2.0 ${code} ${bytesOf(reason.replace(/[\r\n]/g, ' '))}\r\n`;
    lastCode = code;
    lastReason = reason;
  }
  return lastStatus;
}
