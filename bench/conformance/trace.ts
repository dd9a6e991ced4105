// SIPp's message trace (-trace_msg: <scenario>_<pid>_messages.log in its working directory),
// read back as SIP messages: what a SIPp instance sent and received, for the conformance checks.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TracedMessage {
  direction: 'sent' | 'received';
  /** The request method, or undefined for a response. */
  method?: string;
  /** The response status, or undefined for a request. */
  status?: number;
  /** The start line (request line or status line). */
  startLine: string;
  /** Header values by lower-case name, in order; comma-joined Via values split apart. */
  headers: Map<string, string[]>;
  text: string;
}

const BLOCK = /^-{10,} [^\n]*\n(?:\w+ )?message (received|sent) [^\n]*\n\n/gm;
// Only the headers the checks read come in compact form too.
const COMPACT: Record<string, string> = { v: 'via', i: 'call-id', f: 'from', t: 'to', m: 'contact', l: 'content-length' };

/** Splits a header value on the commas between values (not inside <> or quotes). */
function splitValues(value: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === '<') depth++;
    else if (!quoted && c === '>') depth--;
    else if (!quoted && depth === 0 && c === ',') {
      out.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(value.slice(start).trim());
  return out.filter(Boolean);
}

export function parseSipMessage(text: string, direction: TracedMessage['direction']): TracedMessage {
  const head = text.split(/\r?\n\r?\n/, 1)[0]!;
  const lines = head.split(/\r?\n/).reduce<string[]>((acc, line) => {
    if (/^[ \t]/.test(line) && acc.length) acc[acc.length - 1] += ` ${line.trim()}`; // folded
    else if (line) acc.push(line);
    return acc;
  }, []);
  const startLine = lines[0] ?? '';
  const headers = new Map<string, string[]>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    let name = line.slice(0, colon).trim().toLowerCase();
    name = COMPACT[name] ?? name;
    const value = line.slice(colon + 1).trim();
    const values = name === 'via' ? splitValues(value) : [value];
    headers.set(name, [...(headers.get(name) ?? []), ...values]);
  }
  const status = /^SIP\/2\.0 (\d{3})/.exec(startLine);
  return {
    direction,
    ...(status ? { status: Number(status[1]) } : { method: startLine.split(' ', 1)[0] }),
    startLine,
    headers,
    text,
  };
}

export function parseMessageTrace(log: string): TracedMessage[] {
  const out: TracedMessage[] = [];
  const marks = [...log.matchAll(BLOCK)];
  marks.forEach((m, i) => {
    const end = i + 1 < marks.length ? marks[i + 1]!.index : log.length;
    const text = log.slice(m.index + m[0].length, end).replace(/\n+$/, '\n');
    out.push(parseSipMessage(text, m[1] as TracedMessage['direction']));
  });
  return out;
}

/** Every message of the -trace_msg log(s) SIPp left in `dir`. */
export function readMessageTrace(dir: string): TracedMessage[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('_messages.log'))
    .flatMap((f) => parseMessageTrace(readFileSync(join(dir, f), 'utf8')));
}

export const header = (m: TracedMessage, name: string): string[] => m.headers.get(name.toLowerCase()) ?? [];
export const callId = (m: TracedMessage): string => header(m, 'call-id')[0] ?? '';
/** The CSeq method (what a response answers). */
export const cseqMethod = (m: TracedMessage): string => (header(m, 'cseq')[0] ?? '').split(/\s+/)[1] ?? '';
/** A Via value's branch parameter. */
export const viaBranch = (via: string | undefined): string => /;\s*branch=([^;,\s]+)/i.exec(via ?? '')?.[1] ?? '';
/** A Via value's sent-by, host:port. */
export const viaSentBy = (via: string | undefined): string => /^SIP\/2\.0\/\w+\s+([^;\s]+)/i.exec(via ?? '')?.[1] ?? '';

/** Messages grouped by Call-ID, in order. */
export function byCall(messages: TracedMessage[]): Map<string, TracedMessage[]> {
  const calls = new Map<string, TracedMessage[]>();
  for (const m of messages) calls.set(callId(m), [...(calls.get(callId(m)) ?? []), m]);
  return calls;
}
