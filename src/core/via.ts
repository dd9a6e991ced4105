// The one place that knows what a proxy adds to the top Via of a received request (RFC 3261
// 18.2.1 "received", RFC 3581 "rport"): forwarding writes the additions as lumps, local replies
// splice them into the copied Via line.
import type { MsgContext } from './context.js';
import type { SipMessage, Via } from './sip/message.js';

/** One insertion into the received bytes: `text` at byte offset `at`. */
export interface ViaAddition { at: number; text: string }

/** Offset just after ";rport" in a Via when it has no value, else -1. */
function rportValueOffset(msg: SipMessage, v: Via): number {
  const text = msg.buf.toString('latin1', v.start, v.end);
  const m = /;\s*rport(?=\s*(?:;|$))/i.exec(text);
  return m ? v.start + m.index + m[0].length : -1;
}

const NONE: readonly ViaAddition[] = Object.freeze([]);

/**
 * The top Via's additions, in offset order: the rport value (when the client asked with a bare
 * ";rport", or force_rport() was called) and ";received=" when the source address differs from
 * the Via host or rport is in use. The common case, nothing to add, allocates nothing.
 */
export function topViaAdditions(ctx: MsgContext): readonly ViaAddition[] {
  const msg = ctx.msg;
  const top = msg.topVia();
  const rport = top.hasRport || ctx.forceRport;
  if (!rport && top.host === ctx.srcIp) return NONE;
  const out: ViaAddition[] = [];
  if (top.hasRport && top.rport === '') {
    const at = rportValueOffset(msg, top);
    if (at >= 0) out.push({ at, text: `=${ctx.srcPort}` });
  } else if (!top.hasRport && ctx.forceRport) {
    out.push({ at: top.end, text: `;rport=${ctx.srcPort}` });
  }
  if (top.received === undefined) out.push({ at: top.end, text: `;received=${ctx.srcIp}` });
  return out;
}

/** Where a reply to the current request goes: the source address; the Via port unless rport. */
export function replyPort(ctx: MsgContext): number {
  const top = ctx.msg.topVia();
  return top.hasRport || ctx.forceRport ? ctx.srcPort : top.port || 5060;
}
