// Raw UDP helpers: send one datagram and collect the replies, listen on a port for a while.
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';

export interface Datagram {
  data: Buffer;
  from: { address: string; port: number };
}

const socketFor = (host: string): Socket => createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });

function bind(sock: Socket, address?: string, port = 0): Promise<void> {
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind({ address, port, exclusive: true }, () => {
      sock.off('error', reject);
      resolve();
    });
  });
}

/**
 * Sends `bytes` to host:port from a fresh socket bound to the loopback address of the
 * same family (port `localPort`, or any) and returns every datagram received on that
 * socket within `waitReplyMs` (0: do not wait). Stops early after `maxReplies`.
 */
export async function sendUdp(
  host: string,
  port: number,
  bytes: Buffer | string,
  opts: { waitReplyMs?: number; maxReplies?: number; localPort?: number } = {},
): Promise<Datagram[]> {
  const { waitReplyMs = 0, maxReplies = Infinity, localPort } = opts;
  const sock = socketFor(host);
  const replies: Datagram[] = [];
  try {
    await bind(sock, isIPv6(host) ? '::1' : '127.0.0.1', localPort ?? 0);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, waitReplyMs);
      sock.on('message', (data, rinfo) => {
        replies.push({ data, from: { address: rinfo.address, port: rinfo.port } });
        if (replies.length >= maxReplies) {
          clearTimeout(timer);
          resolve();
        }
      });
      sock.send(typeof bytes === 'string' ? Buffer.from(bytes) : bytes, port, host, (err) => {
        if (err) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    return replies;
  } finally {
    sock.close();
  }
}

/** A socket bound to address:port that records what arrives until closed. */
export class UdpListener {
  readonly received: Datagram[] = [];
  private constructor(readonly socket: Socket) {
    socket.on('message', (data, rinfo) => {
      this.received.push({ data, from: { address: rinfo.address, port: rinfo.port } });
      for (const w of this.waiters.splice(0)) w();
    });
  }
  private waiters: Array<() => void> = [];

  /** Rejects (EADDRINUSE...) when the port cannot be bound. */
  static async open(address: string, port: number): Promise<UdpListener> {
    const sock = socketFor(address);
    await bind(sock, address, port);
    return new UdpListener(sock);
  }

  /** Resolves when a datagram satisfying `match` has arrived, false after `timeoutMs`. */
  waitFor(match: (d: Datagram) => boolean, timeoutMs: number): Promise<boolean> {
    if (this.received.some(match)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      const check = () => {
        if (this.received.some(match)) {
          clearTimeout(timer);
          resolve(true);
        } else this.waiters.push(check);
      };
      this.waiters.push(check);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
