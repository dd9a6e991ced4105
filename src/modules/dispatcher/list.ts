// Destination sets in Kamailio's formats: the list file (`setid destination [flags [priority
// [attrs]]]`, `#` comments) and the `dispatcher` table rows (id, setid, destination, flags,
// priority, attrs, description). A bad line or row is an error naming it; nothing is half-loaded.
import { readFileSync } from 'node:fs';
import { parseUri } from '../../core/sip/uri.js';

/** Destination flag bits, Kamailio's values (dispatch.h). */
export const DS_INACTIVE = 1;   // I
export const DS_TRYING = 2;     // T: failed probes, not yet at the threshold
export const DS_DISABLED = 4;   // D: set by the admin, never selected nor probed
export const DS_PROBING = 8;    // P: keep-alives are sent to it
export const DS_NODNSARES = 16; // no DNS resolution at load
export const DS_NOPING = 32;    // N: never probed
export const DS_STATE_MASK = DS_INACTIVE | DS_TRYING | DS_DISABLED;

export interface DsAttrs {
  duid?: string;
  weight?: number;
  rweight?: number;
  maxload?: number;
  socket?: string;
  ping_from?: string;
  /** every key=value as written, including the ones above */
  all: Record<string, string>;
}

export interface DsDestination {
  setid: number;
  uri: string;
  /** where messages go: the URI's maddr or host, and its port (5060/5061 by default) */
  host: string;
  port: number;
  /** the port written in the URI, 0 if none (ds_is_from_list: then any port matches) */
  uriPort: number;
  /** the URI's transport parameter, '' if none (ds_is_from_list: then only mode 2 matches) */
  transport: string;
  flags: number;
  priority: number;
  attrsText: string;
  attrs: DsAttrs;
  description: string;
  /** "file:line" or "table dispatcher row id N", for errors and logs */
  origin: string;
}

export class DispatcherListError extends Error {
  constructor(readonly origin: string, readonly reason: string) {
    super(`${origin}: ${reason}`);
  }
}

/** Decimal or 0x-prefixed hexadecimal, as Kamailio's str2sint/hex reading accepts. */
function parseInteger(text: string, what: string, origin: string): number {
  const t = text.trim();
  const v = /^0x[0-9a-f]+$/i.test(t) ? parseInt(t.slice(2), 16) : /^-?\d+$/.test(t) ? Number(t) : NaN;
  if (!Number.isSafeInteger(v)) throw new DispatcherListError(origin, `${what} "${text}" is not an integer`);
  return v;
}

const INT_ATTRS = ['weight', 'rweight', 'maxload'] as const;

/** `duid=abc;weight=50;socket=udp:1.2.3.4:5060` (Kamailio's attrs string, ';'-separated). */
export function parseAttrs(text: string, origin: string): DsAttrs {
  const attrs: DsAttrs = { all: {} };
  for (const part of text.split(';')) {
    const p = part.trim();
    if (p === '') continue;
    const eq = p.indexOf('=');
    const key = (eq < 0 ? p : p.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? '' : p.slice(eq + 1).trim();
    if (!/^[a-z0-9_.-]+$/.test(key)) throw new DispatcherListError(origin, `bad attribute "${p}"`);
    attrs.all[key] = value;
    if ((INT_ATTRS as readonly string[]).includes(key)) {
      const n = parseInteger(value, `attribute ${key}`, origin);
      if (n < 0) throw new DispatcherListError(origin, `attribute ${key} must not be negative`);
      if (key !== 'maxload' && (n < 1 || n > 100)) throw new DispatcherListError(origin, `attribute ${key} must be 1..100`);
      attrs[key as (typeof INT_ATTRS)[number]] = n;
    } else if (key === 'duid' || key === 'socket' || key === 'ping_from') {
      attrs[key] = value;
    }
  }
  return attrs;
}

/** One destination from its fields; throws DispatcherListError naming `origin`. */
export function makeDestination(
  fields: { setid: unknown; uri: unknown; flags?: unknown; priority?: unknown; attrs?: unknown; description?: unknown },
  origin: string,
): DsDestination {
  const setid = parseInteger(String(fields.setid ?? ''), 'set id', origin);
  if (setid < 0) throw new DispatcherListError(origin, 'set id must not be negative');
  const uri = String(fields.uri ?? '').trim();
  let host: string;
  let port: number;
  let uriPort: number;
  let transport: string;
  try {
    const u = parseUri(uri);
    if (u.scheme !== 'sip' && u.scheme !== 'sips') throw new Error(`a ${u.scheme}: URI is not a SIP destination`);
    host = (u.params.maddr || u.host).replace(/^\[|\]$/g, '');
    uriPort = u.port;
    port = u.port || (u.scheme === 'sips' ? 5061 : 5060);
    transport = (u.params.transport ?? '').toLowerCase();
    if (transport !== '' && transport !== 'udp') throw new Error(`transport=${transport}: only UDP is supported so far`);
  } catch (e) {
    throw new DispatcherListError(origin, `bad destination "${uri}": ${(e as Error).message}`);
  }
  const num = (v: unknown, what: string) => (v === undefined || v === null || v === '' ? 0 : parseInteger(String(v), what, origin));
  const flags = num(fields.flags, 'flags');
  const priority = num(fields.priority, 'priority');
  const attrsText = fields.attrs === undefined || fields.attrs === null ? '' : String(fields.attrs).trim();
  return {
    setid, uri, host, port, uriPort, transport, flags, priority, attrsText,
    attrs: parseAttrs(attrsText, origin),
    description: fields.description === undefined || fields.description === null ? '' : String(fields.description),
    origin,
  };
}

/**
 * Parses list-file text; `file` names the origin in errors. Fields are separated by blanks, so
 * attrs is one token (as in Kamailio); a `#` after the fields starts a comment, anything else
 * there is an error rather than silently ignored.
 */
export function parseListText(text: string, file: string): DsDestination[] {
  const out: DsDestination[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const origin = `${file}:${i + 1}`;
    const fields = line.split(/\s+/);
    const comment = fields.findIndex((f, k) => k >= 2 && f.startsWith('#'));
    if (comment >= 0) fields.length = comment;
    if (fields.length < 2) throw new DispatcherListError(origin, 'expected "setid destination [flags [priority [attrs]]]"');
    if (fields.length > 5) throw new DispatcherListError(origin, `unexpected "${fields[5]}" after the attrs (attrs has no blanks: a=1;b=2)`);
    const [setid, uri, flags, priority, attrs] = fields;
    out.push(makeDestination({ setid, uri, flags, priority, attrs }, origin));
  });
  return out;
}

export function loadListFile(path: string): DsDestination[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new DispatcherListError(path, `cannot read the list file: ${(e as Error).message}`);
  }
  return parseListText(text, path);
}
