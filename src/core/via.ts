// The one place that knows what a proxy adds to the top Via of a received request (RFC 3261
// 18.2.1 "received", RFC 3581 "rport"): forwarding writes the additions as lumps, local replies
// splice them into the copied Via line.
import type { MsgContext } from './context.js';
import type { SipMessage, Via } from './sip/message.js';

/** One change to the received bytes: [at, end) replaced by `text` (end === at: an insertion). */
export interface ViaAddition { at: number; end: number; text: string }

const paramPattern = (name: string): RegExp => new RegExp(`;\\s*${name}(?:\\s*=\\s*([^;,\\s]*))?(?=\\s*(?:;|,|$))`, 'i');
const RPORT = paramPattern('rport');
const RECEIVED = paramPattern('received');

/**
 * The byte range of a Via parameter's value: [start, end), empty (start === end) just after the
 * name when it has no value; null when the Via has no such parameter.
 */
function paramValueRange(msg: SipMessage, v: Via, pattern: RegExp): [number, number] | null {
  const text = msg.buf.toString('latin1', v.start, v.end);
  const m = pattern.exec(text);
  if (!m) return null;
  const end = v.start + m.index + m[0].length;
  return [end - (m[1]?.length ?? 0), end];
}

const NONE: readonly ViaAddition[] = Object.freeze([]);

/**
 * The top Via's changes, in offset order (RFC 3261 18.2.1, RFC 3581): ";received=" with the
 * source address when it differs from the Via host or rport is in use, and the source port as
 * rport's value when the client asked (bare ";rport") or force_rport() was called. A received or
 * rport value the sender wrote itself is overwritten with what we saw: replies are routed by
 * them, and a sender must not pick where they go. The common case, nothing to change, allocates
 * nothing.
 */
export function topViaAdditions(ctx: MsgContext): readonly ViaAddition[] {
  const msg = ctx.msg;
  const top = msg.topVia();
  const rport = top.hasRport || ctx.forceRport;
  if (!rport && top.host === ctx.srcIp && top.received === undefined) return NONE;
  const out: ViaAddition[] = [];
  const port = String(ctx.srcPort);
  if (top.hasRport) {
    if (top.rport !== port) {
      const r = paramValueRange(msg, top, RPORT);
      if (r) out.push({ at: r[0], end: r[1], text: r[0] === r[1] ? `=${port}` : port });
    }
  } else if (ctx.forceRport) {
    out.push({ at: top.end, end: top.end, text: `;rport=${port}` });
  }
  if (top.received === undefined) {
    if (rport || top.host !== ctx.srcIp) out.push({ at: top.end, end: top.end, text: `;received=${ctx.srcIp}` });
  } else if (top.received !== ctx.srcIp) {
    const r = paramValueRange(msg, top, RECEIVED);
    if (r) out.push({ at: r[0], end: r[1], text: r[0] === r[1] ? `=${ctx.srcIp}` : ctx.srcIp });
  }
  if (out.length > 1) out.sort((x, y) => x.at - y.at);
  return out;
}
/** Where a reply to the current request goes: the source address; the Via port unless rport. */
export function replyPort(ctx: MsgContext): number {
  const top = ctx.msg.topVia();
  return top.hasRport || ctx.forceRport ? ctx.srcPort : top.port || 5060;
}
