import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { endianness, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseProcNetUdp, procLocalAddress, udpKernelDrops } from '../../../src/rpc/udp-drops.js';

// As Linux 6.x prints them (x86_64): header words and row columns do not line up one to one.
const UDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
 6455: 0100007F:13C4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 30859 2 000000000d380566 17
 6456: 0100007F:13C4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 30860 2 000000000d380567 3
 8680: 00000000:65F4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 27886 2 000000003e387c8d 0
`;
const UDP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 00000000000000000000000001000000:13C4 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 30111 2 0000000012345678 42
`;

describe('/proc/net/udp drops', () => {
  const le = endianness() === 'LE';
  let dir: string | undefined;
  const sockets: Socket[] = [];
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
    sockets.splice(0).forEach((s) => s.close());
  });

  it('writes addresses as the kernel does (host-order words, hex port)', () => {
    expect(procLocalAddress('127.0.0.1', 5060)).toBe(le ? '0100007F:13C4' : '7F000001:13C4');
    expect(procLocalAddress('0.0.0.0', 26100)).toBe('00000000:65F4');
    if (!le) return;
    expect(procLocalAddress('::1', 5060)).toBe('00000000000000000000000001000000:13C4');
    expect(procLocalAddress('[::1]', 5060)).toBe('00000000000000000000000001000000:13C4');
    expect(procLocalAddress('2001:db8::5', 1)).toBe('B80D0120000000000000000005000000:0001');
    expect(procLocalAddress('::ffff:127.0.0.1', 1)).toBe('0000000000000000FFFF00000100007F:0001');
  });

  it('sums the drops of every socket bound to one address (node:dgram: one per thread)', () => {
    expect(parseProcNetUdp(UDP)).toEqual(new Map([['0100007F:13C4', 20], ['00000000:65F4', 0]]));
    expect(parseProcNetUdp('')).toEqual(new Map());
    expect(parseProcNetUdp('garbage\nmore garbage')).toEqual(new Map());
  });

  it('reads udp and udp6 by socket name; a socket the kernel does not list reads 0; no files: null', () => {
    if (!le) return;
    dir = mkdtempSync(join(tmpdir(), 'viaduct-udp-drops-'));
    writeFileSync(join(dir, 'udp'), UDP);
    writeFileSync(join(dir, 'udp6'), UDP6);
    const files = [join(dir, 'udp'), join(dir, 'udp6')];
    const drops = udpKernelDrops([
      { name: 'udp:127.0.0.1:5060', bindHost: '127.0.0.1', port: 5060 },
      { name: 'udp:[::1]:5060', bindHost: '::1', port: 5060 },
      { name: 'udp:127.0.0.1:5070', bindHost: '127.0.0.1', port: 5070 },
    ], files);
    expect(drops).toEqual(new Map([['udp:127.0.0.1:5060', 20], ['udp:[::1]:5060', 42], ['udp:127.0.0.1:5070', 0]]));
    expect(udpKernelDrops([], [join(dir, 'none')])).toBeNull();
  });

  it("finds this machine's real sockets in /proc/net/udp and udp6", async () => {
    const bound = async (type: 'udp4' | 'udp6', host: string): Promise<number> => {
      const s = createSocket(type);
      sockets.push(s);
      await new Promise<void>((resolve) => s.bind(0, host, resolve));
      return s.address().port;
    };
    const p4 = await bound('udp4', '127.0.0.1');
    const p6 = await bound('udp6', '::1');
    const text = (f: string) => parseProcNetUdp(readFileSync(f, 'latin1'));
    expect(text('/proc/net/udp').get(procLocalAddress('127.0.0.1', p4))).toBe(0);
    expect(text('/proc/net/udp6').get(procLocalAddress('::1', p6))).toBe(0);
  });
});
