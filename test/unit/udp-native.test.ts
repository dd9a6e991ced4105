// The native UDP addon over real loopback sockets: batches, source addresses, sends by IP
// literal and by name, errors. `make build` compiles it; this fails if it did not.
import { afterEach, describe, expect, it } from 'vitest';
import { nativeUdp, nativeTransport, openSockets, watchSockets } from '../../src/core/runtime/udp-native.js';
import { ThreadCounters, createStatsBuffer, C } from '../../src/core/stats/counters.js';
import { createLogger } from '../../src/core/log.js';
import type { SocketInfo } from '../../src/core/context.js';

const udp = nativeUdp().udp!;

function info(family: 4 | 6, host: string, port: number, index = 0): SocketInfo {
  return { index, family, bindHost: host, port, viaHost: host, viaPort: port, name: `udp:${host}:${port}` };
}

const until = async (cond: () => boolean, ms = 2000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('native UDP addon', () => {
  const open: number[] = [];
  afterEach(() => {
    for (const fd of open.splice(0)) {
      udp.unwatch(fd);
      udp.close(fd);
    }
  });

  it('is built and loads', () => {
    expect(nativeUdp().why).toBe('native');
    expect(udp.BATCH).toBeGreaterThan(1);
  });

  it('delivers datagrams with their source address and port, in order, several per batch', async () => {
    const [a, b] = openSockets(udp, [info(4, '127.0.0.1', 0), info(4, '127.0.0.1', 0, 1)], 1 << 20);
    open.push(a!, b!);
    const got: { text: string; ip: string; port: number; sock: number }[] = [];
    watchSockets(udp, [a!], 1 << 20, (buf, ip, port, sock) => got.push({ text: buf.toString(), ip, port, sock }));
    const to = udp.localPort(a!);
    for (let i = 0; i < 50; i++) expect(udp.send(b!, Buffer.from(`msg ${i}`), to, '127.0.0.1')).toBe(`msg ${i}`.length);
    await until(() => got.length === 50);
    expect(got.map((g) => g.text)).toEqual(Array.from({ length: 50 }, (_, i) => `msg ${i}`));
    expect(new Set(got.map((g) => `${g.ip}:${g.port}:${g.sock}`))).toEqual(new Set([`127.0.0.1:${udp.localPort(b!)}:0`]));
  });

  it('handles IPv6 sources and a 64 KiB-class datagram', async () => {
    const [a, b] = openSockets(udp, [info(6, '::1', 0), info(6, '::1', 0)], 1 << 20);
    open.push(a!, b!);
    const got: { len: number; ip: string; port: number }[] = [];
    watchSockets(udp, [a!], 1 << 20, (buf, ip, port) => got.push({ len: buf.length, ip, port }));
    const big = Buffer.alloc(60000, 0x41);
    expect(udp.send(b!, big, udp.localPort(a!), '::1')).toBe(60000);
    await until(() => got.length === 1);
    expect(got[0]).toEqual({ len: 60000, ip: '::1', port: udp.localPort(b!) });
  });

  it('queues sends made during a batch, copied, and sends them in order when it ends; refused ones are counted', async () => {
    const [a, b, c] = openSockets(udp, [info(4, '127.0.0.1', 0), info(4, '127.0.0.1', 0), info(4, '127.0.0.1', 0)], 1 << 20);
    open.push(a!, b!, c!);
    const counters = new ThreadCounters(createStatsBuffer(1), 0);
    udp.countSendErrors(counters.row, C['viaduct:send_errors']);
    const relayed: string[] = [];
    watchSockets(udp, [c!], 1 << 20, (buf) => relayed.push(buf.toString()));
    const scratch = Buffer.alloc(64);
    let returned = 0;
    watchSockets(udp, [a!], 1 << 20, (buf) => {
      // relay through one reused buffer: what leaves must be what it held at send time
      const n = buf.copy(scratch);
      returned += udp.send(a!, scratch.subarray(0, n), udp.localPort(c!), '127.0.0.1');
      scratch.fill(0x2a);
      // from a loopback socket to a TEST-NET address: the kernel refuses it (EINVAL) at flush
      udp.send(a!, buf, 5060, '192.0.2.1');
    });
    const texts = Array.from({ length: 40 }, (_, i) => `relay ${i}`);
    for (const t of texts) udp.send(b!, Buffer.from(t), udp.localPort(a!), '127.0.0.1');
    await until(() => relayed.length === 40);
    expect(relayed).toEqual(texts);
    expect(returned).toBe(texts.join('').length);
    expect(counters.row[C['viaduct:send_errors']]).toBe(40);
  });

  it('says why a socket cannot be opened', () => {
    const [a] = openSockets(udp, [info(4, '127.0.0.1', 0)], 0);
    open.push(a!);
    expect(() => openSockets(udp, [info(4, '192.0.2.1', 5060)], 0)).toThrow(/cannot listen on udp:192\.0\.2\.1:5060: bind: Cannot assign requested address/);
  });

  it('refuses a port another socket holds, even one bound with SO_REUSEADDR: address in use', () => {
    const [a] = openSockets(udp, [info(4, '127.0.0.1', 0)], 0);
    open.push(a!);
    const port = udp.localPort(a!);
    expect(() => openSockets(udp, [info(4, '127.0.0.1', port)], 0)).toThrow(`cannot listen on udp:127.0.0.1:${port}: address in use (another process holds this port)`);
  });

  it('keeps a socket nobody reads with a minimal receive buffer, and reads it with the full one', async () => {
    const [a, b] = openSockets(udp, [info(4, '127.0.0.1', 0), info(4, '127.0.0.1', 0)], 1 << 20);
    open.push(a!, b!);
    const port = udp.localPort(a!);
    const datagram = Buffer.alloc(200, 'x');
    // not read yet: the kernel keeps only a few of 100 datagrams (peers retransmit what it drops)
    for (let i = 0; i < 100; i++) udp.send(b!, datagram, port, '127.0.0.1');
    let got = 0;
    watchSockets(udp, [a!], 1 << 20, () => got++);
    await new Promise((r) => setTimeout(r, 100));
    expect(got).toBeGreaterThan(0);
    expect(got).toBeLessThan(20);
    // read, with the full buffer: a burst of 100 arrives whole even while this thread is busy
    udp.unwatch(a!);
    const before = got;
    for (let i = 0; i < 100; i++) udp.send(b!, datagram, port, '127.0.0.1');
    watchSockets(udp, [a!], 1 << 20, () => got++);
    await until(() => got - before === 100);
  });

  it('returns -errno for an address that is not an IP literal; the transport resolves names and counts failures', async () => {
    const [a, b] = openSockets(udp, [info(4, '127.0.0.1', 0), info(4, '127.0.0.1', 0)], 1 << 20);
    open.push(a!, b!);
    expect(udp.send(b!, Buffer.from('x'), 5060, 'localhost')).toBe(-22);
    const got: string[] = [];
    watchSockets(udp, [a!], 1 << 20, (buf) => got.push(buf.toString()));
    const counters = new ThreadCounters(createStatsBuffer(1), 0);
    const t = nativeTransport(udp, [b!], [info(4, '127.0.0.1', udp.localPort(b!))], createLogger('err', '[test]'), counters);
    t.send(0, Buffer.from('by name'), udp.localPort(a!), 'localhost');
    await until(() => got.length === 1);
    expect(got).toEqual(['by name']);
    t.send(0, Buffer.from('nowhere'), 5060, 'no-such-host.invalid');
    await until(() => counters.row[C['viaduct:send_errors']] === 1, 5000);
  });
});
