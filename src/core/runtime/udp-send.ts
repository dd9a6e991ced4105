// Sending a datagram without dgram.send()'s per-call overhead. socket.send() does a DNS
// "lookup" even for an IP literal (a nextTick hop), an async-hooks scope and allocates a
// SendWrap request for every datagram; the UDP handle underneath takes the same call with a
// reusable request and tries a synchronous send first. Measured in bench/micro/udp-send.ts.
// If this Node has no such handle (the internals changed), we fall back to socket.send().
import type dgram from 'node:dgram';
import { isIP } from 'node:net';

interface UdpHandle {
  send(req: object, list: Buffer[], count: number, port: number, ip: string, hasCallback: boolean): number;
}

type SendWrapCtor = new () => object;

function internals(): { SendWrap: SendWrapCtor } | null {
  try {
    // process.binding is deprecated but present in Node 20-22; nothing else exposes SendWrap
    const binding = (process as unknown as { binding(n: string): { SendWrap?: SendWrapCtor } }).binding('udp_wrap');
    return binding.SendWrap ? { SendWrap: binding.SendWrap } : null;
  } catch {
    return null;
  }
}

function handleOf(sock: dgram.Socket): UdpHandle | null {
  const sym = Object.getOwnPropertySymbols(sock).find((s) => s.description === 'state symbol');
  const handle = sym ? (sock as unknown as Record<symbol, { handle?: UdpHandle }>)[sym]?.handle : undefined;
  return handle && typeof handle.send === 'function' ? handle : null;
}

export type SendFn = (data: Buffer, port: number, host: string) => void;

/**
 * A send function for a bound socket. `onError` gets send failures (negative libuv codes on
 * the fast path, 'error' events on the fallback).
 */
export function fastSender(sock: dgram.Socket, onError: (code: number | Error) => void): SendFn {
  const slow: SendFn = (data, port, host) => sock.send(data, port, host);
  const i = internals();
  const handle = handleOf(sock);
  if (!i || !handle) return slow;
  let req = new i.SendWrap();
  let list: Buffer[] = [Buffer.alloc(0)];
  return (data, port, host) => {
    if (isIP(host) === 0) {
      slow(data, port, host); // a name needs the resolver: take the ordinary path
      return;
    }
    list[0] = data;
    const r = handle.send(req, list, 1, port, host, false);
    // > 0: sent synchronously (bytes + 1). 0: queued in libuv, which now owns req and list.
    if (r === 0) {
      (req as { list?: Buffer[] }).list = list; // keeps the bytes alive until libuv is done
      req = new i.SendWrap();
      list = [Buffer.alloc(0)];
    } else if (r < 0) {
      onError(r);
    }
  };
}
