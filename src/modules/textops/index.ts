// textops and hdr: header and text operations on the current message (KSR.textops.*, KSR.hdr.*).
// Additions and removals are lumps, applied when the message is forwarded.
import type { MsgContext } from '../../core/context.js';
import { defineModule, kemi, ok } from '../module.js';

const regexCache = new Map<string, RegExp>();
/** textops matches case-insensitively, line by line (REG_ICASE | REG_NEWLINE in Kamailio). */
function re(pattern: string): RegExp {
  let r = regexCache.get(pattern);
  if (r === undefined) {
    r = new RegExp(pattern, 'im');
    if (regexCache.size > 256) regexCache.clear();
    regexCache.set(pattern, r);
  }
  return r;
}

function withCrlf(text: string): string {
  return text.endsWith('\r\n') ? text : text.endsWith('\n') ? `${text.slice(0, -1)}\r\n` : `${text}\r\n`;
}

// The header operations KSR.hdr and KSR.textops share.

/** append_hf: after the last header */
function append(ctx: MsgContext, text: string): number {
  ctx.lumps.insert(ctx.msg.headersEnd, withCrlf(text));
  return 1;
}

/** append_hf(text, name): after the first header called name */
function appendAfter(ctx: MsgContext, text: string, name: string): number {
  const h = ctx.msg.getHeader(name);
  if (!h) return -1;
  ctx.lumps.insert(h.lineEnd, withCrlf(text));
  return 1;
}

/** insert_hf: before the first header */
function insert(ctx: MsgContext, text: string): number {
  ctx.lumps.insert(ctx.msg.firstLineEnd, withCrlf(text));
  return 1;
}

/** insert_hf(text, name): before the first header called name */
function insertBefore(ctx: MsgContext, text: string, name: string): number {
  const h = ctx.msg.getHeader(name);
  if (!h) return -1;
  ctx.lumps.insert(h.lineStart, withCrlf(text));
  return 1;
}

/** remove_hf: every header called name (compact forms too); the count, or -1 if none */
function remove(ctx: MsgContext, name: string): number {
  const hs = ctx.msg.getHeaders(name);
  for (const h of hs) ctx.lumps.remove(h.lineStart, h.lineEnd);
  return hs.length ? hs.length : -1;
}

const isPresent = (ctx: MsgContext, name: string): number => ok(ctx.msg.getHeader(name) !== undefined);

/** a header for the next locally generated reply (sl_send_reply) */
function appendToReply(ctx: MsgContext, text: string): number {
  ctx.replyHeaders.push(withCrlf(text));
  return 1;
}

/** The message up to the end of its body, as text. */
const messageText = (ctx: MsgContext): string => ctx.msg.buf.toString('utf8', 0, ctx.msg.bodyStart + ctx.msg.bodyLength);

export const hdrModule = defineModule({
  name: 'hdr',
  functions: {
    append: kemi(['str'], 'int', append),
    append_after: kemi(['str', 'str'], 'int', appendAfter),
    insert: kemi(['str'], 'int', insert),
    insert_before: kemi(['str', 'str'], 'int', insertBefore),
    remove: kemi(['str'], 'int', remove),
    is_present: kemi(['str'], 'int', isPresent),
    /** the first header's value, or null */
    get: kemi(['str'], 'xval', (ctx, name) => ctx.msg.getHeaderValue(name) ?? null),
    gete: kemi(['str'], 'xval', (ctx, name) => ctx.msg.getHeaderValue(name) ?? ''),
    append_to_reply: kemi(['str'], 'int', appendToReply),
  },
});

export default defineModule({
  name: 'textops',
  functions: {
    /** search(re): the regular expression matches somewhere in the message */
    search: kemi(['str'], 'int', (ctx, pattern) => ok(re(pattern).test(messageText(ctx)))),
    search_body: kemi(['str'], 'int', (ctx, pattern) => ok(re(pattern).test(ctx.msg.body().toString('utf8')))),
    is_present_hf: kemi(['str'], 'int', isPresent),
    append_hf: kemi(['str'], 'int', append),
    append_hf_hdr: kemi(['str', 'str'], 'int', appendAfter),
    insert_hf: kemi(['str'], 'int', insert),
    insert_hf_hdr: kemi(['str', 'str'], 'int', insertBefore),
    remove_hf: kemi(['str'], 'int', remove),
    append_to_reply: kemi(['str'], 'int', appendToReply),
  },
});
