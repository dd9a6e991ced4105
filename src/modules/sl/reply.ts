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

const NON_ASCII = /[^\x00-\x7f]/;

/** Received bytes as a latin1 string: one char per byte, so they go out unchanged. */
const slice = (b: Buffer, start: number, end: number): string => b.toString('latin1', start, end);

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
  const vias = msg.getHeaders(HDR.VIA);
  const b = msg.buf;
  let out = `SIP/2.0 ${code} ${bytesOf(reason.replace(/[\r\n]/g, ' '))}\r\n`;
  // the top Via line with what RFC 3261 18.2.1 / RFC 3581 add, then the other Via lines as they are
  let at = vias[0].lineStart;
  for (const add of topViaAdditions(ctx)) {
    out += slice(b, at, add.at) + add.text;
    at = add.end;
  }
  out += slice(b, at, vias[0].lineEnd);
  for (let i = 1; i < vias.length; i++) out += slice(b, vias[i].lineStart, vias[i].lineEnd);
  out += slice(b, from.lineStart, from.lineEnd);
  if (code > 100 && msg.to().tag === undefined) out += `${slice(b, to.lineStart, to.valueEnd)};tag=${toTag ?? statelessToTag(ctx)}\r\n`;
  else out += slice(b, to.lineStart, to.lineEnd);
  out += slice(b, cid.lineStart, cid.lineEnd) + slice(b, cseq.lineStart, cseq.lineEnd);
  for (const h of ctx.replyHeaders) out += bytesOf(h);
  out += `${ctx.core.serverHeader}Content-Length: 0\r\n\r\n`;
  return Buffer.from(out, 'latin1');
}

