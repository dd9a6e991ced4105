// Settings: what kamailio.cfg's global parameters and modparam lines say, for viaduct.
// A script exports `settings`; command-line flags override it field by field.
import { isIP } from 'node:net';

export interface ListenSpec {
  proto: 'udp';
  host: string;        // literal IP the socket binds (IPv6 without brackets)
  port: number;
  family: 4 | 6;
  advertiseHost?: string; // what we write in Via/Record-Route instead of host
  advertisePort?: number;
  text: string;        // as the user wrote it, for messages
}

export type LogLevelName = 'alert' | 'crit' | 'err' | 'warn' | 'notice' | 'info' | 'dbg';

export interface Settings {
  listen: ListenSpec[];
  workers: number;
  alias: string[];           // "host[:port]" names is_myself() also accepts
  http: { host: string; port: number } | null;
  logLevel: LogLevelName;
  modparams: Record<string, Record<string, string | number>>;
  ringBytes: number;         // size of each ring between two threads
  udpBufferBytes: number;    // SO_RCVBUF/SO_SNDBUF per socket (the kernel caps it at net.core.rmem_max)
  watchdogMs: number;        // a SIP thread stuck this long in one message is restarted; 0: no watchdog
  sipMaxMsgSize: number;     // bytes of a received message; more is answered 513 (Message Too Large)
  sipMaxHeaders: number;     // header lines of a received message; more is answered 513
  sipMaxHeaderSize: number;  // bytes of one received header line; more is answered 513
  serverHeader: string;      // header line of the replies we send ("Server: viaduct"); '': none
  userAgentHeader: string;   // header line of the requests we originate (probes); '': none
}

/** What a script may export as `settings` (all optional, loosely typed as users write it). */
export interface ScriptSettings {
  listen?: string | string[];
  workers?: number;
  alias?: string | string[];
  advertise?: string;
  http?: string | false;
  log_level?: LogLevelInput;
  logLevel?: LogLevelInput;
  modparams?: Record<string, Record<string, string | number>>;
  ring_bytes?: number;
  udp_buffer_bytes?: number;
  watchdog_ms?: number;
  sip_max_msg_size?: number;
  sip_max_headers?: number;
  sip_max_header_size?: number;
  /** Kamailio's core parameters of the same names. */
  server_header?: string;
  server_signature?: boolean | number | 'yes' | 'no' | 'on' | 'off';
  user_agent_header?: string;
}

export class ConfigError extends Error {}

export const DEFAULT_LISTEN = 'udp:127.0.0.1:5060';
export const DEFAULT_HTTP = '127.0.0.1:9060';
/** How long a SIP thread may spend in one message before the watchdog restarts it. */
export const DEFAULT_WATCHDOG_MS = 2000;
// Limits on what a received message may hold (RFC 3261 leaves them to the implementation).
// Kamailio's buffer is 65535 bytes (BUF_SIZE) with no count of headers; these defaults never
// refuse a message that crossed 70 hops (Max-Forwards) adding a Via and a Record-Route at each,
// and bound what one datagram can make a thread do.
export const DEFAULT_SIP_MAX_MSG_SIZE = 65535;
export const DEFAULT_SIP_MAX_HEADERS = 256;
export const DEFAULT_SIP_MAX_HEADER_SIZE = 16384;
export const DEFAULT_SERVER_HEADER = 'Server: viaduct';
export const DEFAULT_USER_AGENT_HEADER = 'User-Agent: viaduct';

/** A header line setting (server_header...): "Name: value", one line; '' means none. */
function headerSetting(name: string, v: unknown, dflt: string): string {
  if (v === undefined) return dflt;
  if (typeof v !== 'string') throw new ConfigError(`${name} must be a string such as "${dflt}", got ${JSON.stringify(v)}`);
  const line = v.replace(/\r?\n$/, '');
  if (line !== '' && !/^[A-Za-z0-9!%'*+\-.^_`|~]+[ \t]*:[^\r\n]*$/.test(line)) {
    throw new ConfigError(`${name} must be one header line such as "${dflt}", got ${JSON.stringify(v)}`);
  }
  return line;
}

/** server_signature: yes/no as Kamailio's cfg writes it (1/0, yes/no, on/off, true/false). */
function signatureSetting(v: unknown): boolean {
  if (v === undefined) return true;
  if (v === true || v === 1 || v === 'yes' || v === 'on' || v === 'true' || v === '1') return true;
  if (v === false || v === 0 || v === 'no' || v === 'off' || v === 'false' || v === '0') return false;
  throw new ConfigError(`server_signature must be yes or no, got ${JSON.stringify(v)}`);
}

/** Splits "host:port" where host may be "[v6]". Port 0 when absent. */
export function splitHostPort(s: string): { host: string; port: number } {
  let host: string;
  let rest = '';
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) throw new ConfigError(`unterminated IPv6 reference in "${s}"`);
    host = s.slice(1, close);
    rest = s.slice(close + 1);
  } else {
    const colon = s.lastIndexOf(':');
    // a bare IPv6 literal without brackets has several colons and no port
    if (colon >= 0 && s.indexOf(':') === colon) { host = s.slice(0, colon); rest = s.slice(colon); } else { host = s; }
  }
  let port = 0;
  if (rest) {
    if (!/^:\d{1,5}$/.test(rest)) throw new ConfigError(`bad port in "${s}"`);
    port = Number(rest.slice(1));
    if (port < 1 || port > 65535) throw new ConfigError(`port out of range in "${s}"`);
  }
  if (!host) throw new ConfigError(`missing host in "${s}"`);
  return { host, port };
}

/** Parses Kamailio's listen syntax: "udp:IP:PORT [advertise HOST:PORT]". */
export function parseListen(text: string): ListenSpec {
  const m = /^\s*(?:(udp|tcp|tls|ws|wss|sctp):)?(.+?)(?:\s+advertise\s+(\S+))?\s*$/i.exec(text);
  if (!m) throw new ConfigError(`bad listen "${text}"`);
  const proto = (m[1] ?? 'udp').toLowerCase();
  if (proto !== 'udp') throw new ConfigError(`listen "${text}": only udp is supported so far`);
  const { host, port } = splitHostPort(m[2]);
  const family = isIP(host);
  if (family === 0) throw new ConfigError(`listen "${text}": the address must be a literal IPv4 or IPv6 address`);
  const spec: ListenSpec = { proto: 'udp', host, port: port || 5060, family: family as 4 | 6, text: text.trim() };
  if (m[3]) {
    const adv = splitHostPort(m[3]);
    spec.advertiseHost = adv.host;
    spec.advertisePort = adv.port || spec.port;
  }
  return spec;
}

function parseHttp(s: string): { host: string; port: number } | null {
  if (s === 'off' || s === 'false' || s === '') return null;
  const hp = splitHostPort(s);
  if (!hp.port) throw new ConfigError(`--http "${s}" needs a port`);
  return hp;
}

/** What a user may write for a log level: our names, Kamailio's usual spellings, or a number as
 *  kamailio.cfg's `debug=` takes it (-5 ALERT ... 3 DEBUG). */
export type LogLevelInput = LogLevelName | 'debug' | 'error' | 'warning' | 'critical' | number | `${number}`;

const LOG_LEVEL_ALIASES: Record<string, LogLevelName> = {
  alert: 'alert', bug: 'alert', crit: 'crit', critical: 'crit', err: 'err', error: 'err',
  warn: 'warn', warning: 'warn', notice: 'notice', info: 'info', dbg: 'dbg', debug: 'dbg',
};

/** A log level as the user wrote it -> ours. A number is Kamailio's: the most verbose of our
 *  levels that it includes (-4 L_BUG and -3 L_CRIT2 have no messages of ours: as -5). */
export function parseLogLevel(v: string | number): LogLevelName {
  const text = String(v).trim().toLowerCase();
  const named = LOG_LEVEL_ALIASES[text];
  if (named) return named;
  if (/^[-+]?\d+$/.test(text) && Number(text) >= -5 && Number(text) <= 3) {
    const n = Number(text);
    let best: LogLevelName = 'alert';
    for (const [name, value] of Object.entries(LOG_LEVEL_VALUES) as [LogLevelName, number][]) if (value <= n && value > LOG_LEVEL_VALUES[best]) best = name;
    return best;
  }
  throw new ConfigError(`log level "${v}" is not one of alert, crit, err, warn, notice, info, debug (or Kamailio's -5..3)`);
}

function toArray(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** A sip_max_* setting: an integer from min (below it no ordinary message passes) to 2^31-1. */
function limit(name: string, v: number | undefined, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < min || v > 0x7fffffff) throw new ConfigError(`${name} must be an integer of at least ${min}, got ${v}`);
  return v;
}

/** Command-line overrides, as parsed by the CLI. */
export interface CliOverrides {
  listen: string[];
  workers?: number;
  http?: string;
  alias: string[];
  modparams: string[]; // MODULE:NAME=VALUE
  logLevel?: string;
  watchdogMs?: number;
}

export function resolveSettings(script: ScriptSettings | undefined, cli: CliOverrides, cpuCount: number): Settings {
  const s = script ?? {};
  const listenTexts = cli.listen.length ? cli.listen : toArray(s.listen);
  const listen = (listenTexts.length ? listenTexts : [DEFAULT_LISTEN]).map(parseListen);
  if (s.advertise && !cli.listen.length) {
    const adv = splitHostPort(s.advertise);
    for (const l of listen) if (!l.advertiseHost) { l.advertiseHost = adv.host; l.advertisePort = adv.port || l.port; }
  }
  // One worker per core beyond the receiving thread; on one or two cores inline is cheapest.
  const workers = cli.workers ?? s.workers ?? (cpuCount > 2 ? cpuCount - 1 : 0);
  if (!Number.isInteger(workers) || workers < 0 || workers > 64) throw new ConfigError(`workers must be an integer 0..64, got ${workers}`);
  const level = parseLogLevel(cli.logLevel ?? s.log_level ?? s.logLevel ?? 'info');
  const httpText = cli.http ?? (s.http === false ? 'off' : s.http) ?? DEFAULT_HTTP;
  const modparams: Settings['modparams'] = {};
  for (const [mod, params] of Object.entries(s.modparams ?? {})) modparams[mod] = { ...params };
  for (const mp of cli.modparams) {
    const m = /^([A-Za-z0-9_]+):([A-Za-z0-9_]+)=(.*)$/.exec(mp);
    if (!m) throw new ConfigError(`--modparam "${mp}" is not MODULE:NAME=VALUE`);
    (modparams[m[1]] ??= {})[m[2]] = /^-?\d+$/.test(m[3]) ? Number(m[3]) : m[3];
  }
  const ringBytes = s.ring_bytes ?? 2 << 20;
  // The default 208 KB holds ~100 datagrams: a 15 ms stall at carrier rates overflows it.
  const udpBufferBytes = s.udp_buffer_bytes ?? 4 << 20;
  // sockets start with the kernel's minimal buffer and are raised to this when read (lifecycle)
  if (!Number.isInteger(udpBufferBytes) || udpBufferBytes < 65536) throw new ConfigError(`udp_buffer_bytes must be an integer of at least 65536: ${udpBufferBytes}`);
  const watchdogMs = cli.watchdogMs ?? s.watchdog_ms ?? DEFAULT_WATCHDOG_MS;
  if (!Number.isInteger(watchdogMs) || watchdogMs < 0) throw new ConfigError(`watchdog_ms must be a whole number of milliseconds (0: off), got ${watchdogMs}`);
  const sipMaxMsgSize = limit('sip_max_msg_size', s.sip_max_msg_size, DEFAULT_SIP_MAX_MSG_SIZE, 1024);
  const sipMaxHeaders = limit('sip_max_headers', s.sip_max_headers, DEFAULT_SIP_MAX_HEADERS, 16);
  const sipMaxHeaderSize = limit('sip_max_header_size', s.sip_max_header_size, DEFAULT_SIP_MAX_HEADER_SIZE, 256);
  // Kamailio: server_signature off removes both the Server and the User-Agent header
  const signature = signatureSetting(s.server_signature);
  const serverHeader = headerSetting('server_header', s.server_header, DEFAULT_SERVER_HEADER);
  const userAgentHeader = headerSetting('user_agent_header', s.user_agent_header, DEFAULT_USER_AGENT_HEADER);
  return {
    listen, workers, logLevel: level, modparams, ringBytes, udpBufferBytes, watchdogMs, sipMaxMsgSize, sipMaxHeaders, sipMaxHeaderSize,
    serverHeader: signature ? serverHeader : '',
    userAgentHeader: signature ? userAgentHeader : '',
    alias: [...toArray(s.alias), ...cli.alias],
    http: parseHttp(httpText),
  };
}

export const LOG_LEVEL_VALUES: Record<LogLevelName, number> = {
  // Kamailio's numeric levels (L_ALERT -5 ... L_DBG 3)
  alert: -5, crit: -2, err: -1, warn: 0, notice: 1, info: 2, dbg: 3,
};
