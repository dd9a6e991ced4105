/**
 * Datagrams the kernel dropped on our UDP sockets (receive buffer full, checksum errors), from
 * the `drops` column of /proc/net/udp and /proc/net/udp6. Read at scrape time on the main thread:
 * nothing runs per message or while idle. Sockets are matched by local address:port; with
 * node:dgram every SIP thread binds its own socket on the same address (SO_REUSEPORT), so the
 * lines of one address are summed.
 */
import { readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { endianness } from 'node:os';

/** What is needed of a listen socket: its name (`udp:IP:PORT`), bind address, port. */
export interface UdpSocketRef {
  name: string;
  bindHost: string;
  port: number;
}

const LITTLE_ENDIAN = endianness() === 'LE';

/** The 32-bit word as the kernel prints it (%08X of a network-order word read in host order). */
function hexWord(bytes: readonly number[]): string {
  const b = LITTLE_ENDIAN ? [...bytes].reverse() : bytes;
  return b.map((x) => x.toString(16).padStart(2, '0')).join('').toUpperCase();
}

function ipv4Bytes(ip: string): number[] {
  return ip.split('.').map(Number);
}

/** The 16 bytes of an IPv6 address (`::` expanded, a trailing dotted quad allowed). */
function ipv6Bytes(ip: string): number[] {
  let text = ip.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = ipv4Bytes(quad[1]!);
    text = text.slice(0, -quad[1]!.length) + `${((a! << 8) | b!).toString(16)}:${((c! << 8) | d!).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') as [string, string] : [text, null];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === null ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.flatMap((g) => {
    const v = parseInt(g, 16);
    return [v >> 8, v & 0xff];
  });
}

/** The local_address column /proc/net/udp{,6} shows for a socket bound to host:port. */
export function procLocalAddress(host: string, port: number): string {
  const bytes = isIPv6(host.replace(/^\[|\]$/g, '').replace(/%.*$/, '')) ? ipv6Bytes(host) : ipv4Bytes(host);
  let addr = '';
  for (let i = 0; i < bytes.length; i += 4) addr += hexWord(bytes.slice(i, i + 4));
  return `${addr}:${port.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** local_address -> drops, summed, from the text of /proc/net/udp or udp6. */
export function parseProcNetUdp(text: string, into = new Map<string, number>()): Map<string, number> {
  const lines = text.split('\n');
  const header = lines[0]?.trim().split(/\s+/) ?? [];
  const dropsAt = header.indexOf('drops');
  if (dropsAt < 0) return into;
  // The header has two words for the rows' "tx_queue:rx_queue" and "tr:tm->when" columns:
  // count from the end, where drops is the last column of both.
  const fromEnd = header.length - dropsAt;
  for (let i = 1; i < lines.length; i++) {
    const cols = lines[i]!.trim().split(/\s+/);
    if (cols.length < 3) continue;
    const drops = Number(cols[cols.length - fromEnd]);
    if (!Number.isFinite(drops)) continue;
    into.set(cols[1]!, (into.get(cols[1]!) ?? 0) + drops);
  }
  return into;
}

function readProc(file: string, into: Map<string, number>): boolean {
  try {
    parseProcNetUdp(readFileSync(file, 'latin1'), into);
    return true;
  } catch {
    return false; // no such file (no IPv6, not Linux)
  }
}

/**
 * Drops per socket name, or null when /proc/net/udp cannot be read (not Linux). A socket the
 * kernel does not list (gone while a thread restarts) reads 0.
 */
export function udpKernelDrops(sockets: readonly UdpSocketRef[], files = ['/proc/net/udp', '/proc/net/udp6']): Map<string, number> | null {
  const byAddress = new Map<string, number>();
  if (!files.map((f) => readProc(f, byAddress)).some(Boolean)) return null;
  return new Map(sockets.map((s) => [s.name, byAddress.get(procLocalAddress(s.bindHost, s.port)) ?? 0]));
}
