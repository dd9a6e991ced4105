// textops and hdr: header and text operations on the current message (KSR.textops.*, KSR.hdr.*).
// Additions and removals are lumps, applied when the message is forwarded.
import type { SipCore } from '../../core/core.js';
import { defineModule, ok } from '../module.js';

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

/** The header operations shared by KSR.hdr and KSR.textops. */
export function headerOps(core: SipCore) {
  const msg = () => core.ctx.msg;
  return {
    /** append_hf: after the last header */
    append(text: string): number {
      core.ctx.lumps.insert(msg().headersEnd, withCrlf(text));
      return 1;
    },
    /** append_hf(text, name): after the first header called name */
    append_after(text: string, name: string): number {
      const h = msg().getHeader(name);
      if (!h) return -1;
      core.ctx.lumps.insert(h.lineEnd, withCrlf(text));
      return 1;
    },
    /** insert_hf: before the first header */
    insert(text: string): number {
      core.ctx.lumps.insert(msg().firstLineEnd, withCrlf(text));
      return 1;
    },
    /** insert_hf(text, name): before the first header called name */
    insert_before(text: string, name: string): number {
      const h = msg().getHeader(name);
      if (!h) return -1;
      core.ctx.lumps.insert(h.lineStart, withCrlf(text));
      return 1;
    },
    /** remove_hf: every header called name (compact forms too); the count, or -1 if none */
    remove(name: string): number {
      const hs = msg().getHeaders(name);
      for (const h of hs) core.ctx.lumps.remove(h.lineStart, h.lineEnd);
      return hs.length ? hs.length : -1;
    },
    is_present(name: string): number {
      return ok(msg().getHeader(name) !== undefined);
    },
    /** the first header's value, or null */
    get(name: string): string | null {
      return msg().getHeaderValue(name) ?? null;
    },
    /** a header for the next locally generated reply (sl_send_reply) */
    append_to_reply(text: string): number {
      core.ctx.replyHeaders.push(withCrlf(text));
      return 1;
    },
  };
}

export const hdrModule = defineModule({
  name: 'hdr',
  kemi: (core) => {
    const h = headerOps(core);
    return { ...h, gete: (name: string): string => h.get(name) ?? '' };
  },
});

export default defineModule({
  name: 'textops',
  kemi: (core) => {
    const h = headerOps(core);
    const text = (): string => {
      const m = core.ctx.msg;
      return m.buf.toString('utf8', 0, m.bodyStart + m.bodyLength);
    };
    return {
      /** search(re): the regular expression matches somewhere in the message */
      search: (pattern: string): number => ok(re(pattern).test(text())),
      search_body: (pattern: string): number => ok(re(pattern).test(core.ctx.msg.body().toString('utf8'))),
      is_present_hf: (name: string): number => h.is_present(name),
      append_hf: (txt: string, name?: string): number => (name === undefined ? h.append(txt) : h.append_after(txt, name)),
      insert_hf: (txt: string, name?: string): number => (name === undefined ? h.insert(txt) : h.insert_before(txt, name)),
      remove_hf: (name: string): number => h.remove(name),
      append_to_reply: (txt: string): number => h.append_to_reply(txt),
    };
  },
});
