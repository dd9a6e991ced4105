// The native UDP path (native/udp/udp.c): sockets opened once by the main thread, read by the
// receiving thread in batches (one recvmmsg and one call into JavaScript per wake-up), written
// by any SIP thread on the same descriptor (what a batch sends leaves in one sendmmsg when it
// ends; other sends use sendto). node:dgram is the fallback when the addon is not built (no
// compiler, other OS) or VIADUCT_UDP=dgram asks for it.
import { lookup } from 'node:dns';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { SocketInfo } from '../context.js';
import type { Transport } from '../core.js';
import { L_DBG, type Logger } from '../log.js';
import { defineLayout } from '../shm/layout.js';
import { C, type ThreadCounters } from '../stats/counters.js';

export interface NativeUdp {
  readonly BATCH: number;
  readonly SLOT: number;
  readonly META: number;
  readonly META_TEXT: number;
  /** Opens and binds a socket (not shared: no SO_REUSEADDR; IPv6 sockets IPv6-only); throws with `errno`. */
  open(ip: string, port: number, sendBufferBytes: number, receiveBufferBytes: number): number;
  /** SO_RCVBUF. */
  setReceiveBuffer(fd: number, bytes: number): void;
  close(fd: number): void;
  localPort(fd: number): number;
  /**
   * Bytes sent, or -errno (-EINVAL: `ip` is not an IP literal of the socket's family). Inside a
   * watch/bellWatch callback the datagram is copied and queued instead, and every queued one
   * leaves in one sendmmsg() when the callback returns; failures then go to countSendErrors.
   */
  send(fd: number, data: Uint8Array, port: number, ip: string): number;
  /** Where this thread counts queued datagrams the kernel refused: row[index] += 1. */
  countSendErrors(row: Float64Array, index: number): void;
  /** Calls onBatch(count) with datagrams in slots 0..count-1, valid during the call only. */
  watch(fd: number, slots: Uint8Array, meta: Uint8Array, onBatch: (count: number) => void): number;
  unwatch(fd: number): void;
  /** An eventfd for a worker's doorbell. */
  bellCreate(): number;
  bellRing(fd: number): void;
  /** Calls onRing(0) on this thread when the bell rang (the eventfd is reset first). */
  bellWatch(fd: number, onRing: (zero: number) => void): number;
}

const EINVAL = 22;

/**
 * The metadata the addon writes per received datagram (udp.c's META block, same order): the
 * length, the source port and family (4 or 6), the 16 raw address bytes (to recognise a known
 * peer without a string), the length of the address text, then the text. loadAddon checks that
 * the addon agrees.
 */
export const UDP_META = defineLayout({
  length: 'i32',
  port: 'i32',
  family: 'i32',
  address: ['i32', 4],
  textLength: 'i32',
  text: ['u8', 64],
}, { align: 8 });
const M_LENGTH = UDP_META.length;
const M_PORT = UDP_META.port;
const M_ADDR = UDP_META.address;
const M_TEXT_LENGTH = UDP_META.textLength;
const M_TEXT = UDP_META.text;

function checkMeta(udp: NativeUdp): NativeUdp {
  if (udp.META !== UDP_META.BYTES || udp.META_TEXT !== UDP_META.text) {
    throw new Error(`metadata layout differs (addon META=${udp.META} META_TEXT=${udp.META_TEXT}, expected ${UDP_META.BYTES} ${UDP_META.text}): rebuild it (make native)`);
  }
  return udp;
}

/** native/udp/build/viaduct_udp.node from the repository root, for src/ (tests) and dist/src/. */
function addonPath(): string | null {
  for (const up of ['../../../', '../../../../']) {
    const p = new URL(`${up}native/udp/build/viaduct_udp.node`, import.meta.url).pathname;
    if (existsSync(p)) return p;
  }
  return null;
}

let loaded: { udp: NativeUdp | null; why: string } | undefined;

/** The addon, or null with the reason node:dgram is used instead. */
export function nativeUdp(): { udp: NativeUdp | null; why: string } {
  if (loaded) return loaded;
  if (process.env.VIADUCT_UDP === 'dgram') return (loaded = { udp: null, why: 'VIADUCT_UDP=dgram' });
  if (process.platform !== 'linux') return (loaded = { udp: null, why: `no native UDP on ${process.platform}` });
  const path = addonPath();
  if (!path) return (loaded = { udp: null, why: 'native/udp not built (make native)' });
  try {
    return (loaded = { udp: checkMeta(createRequire(import.meta.url)(path) as NativeUdp), why: 'native' });
  } catch (e) {
    return (loaded = { udp: null, why: `cannot load ${path}: ${(e as Error).message}` });
  }
}

const EADDRINUSE = 98;

/** The start-up error for a socket that cannot be bound; `code` is Node's name for the errno. */
export function listenError(socketName: string, code: string | undefined, message: string): Error {
  if (code === 'EADDRINUSE') return new Error(`cannot listen on ${socketName}: address in use (another process holds this port)`);
  return new Error(`cannot listen on ${socketName}: ${message}`);
}

/**
 * The receive buffer of a socket nobody reads yet (the kernel's minimum, a few datagrams). While
 * the threads start, what peers send is dropped as if the port were closed, and they retransmit;
 * a full buffer would instead hand the threads seconds of stale requests whose retransmissions
 * queue behind them, and forwarding both copies makes the next hop see a request again after it
 * answered (SIPp's uas aborts such calls). The reading thread raises it when it starts reading.
 */
export const NOT_READ_BUFFER_BYTES = 1;

/**
 * Opens every listen socket; a failure closes the ones opened and says which socket. The receive
 * buffer stays minimal until a thread reads the socket (watchSockets raises it to bufferBytes).
 */
export function openSockets(udp: NativeUdp, infos: SocketInfo[], bufferBytes: number): number[] {
  const fds: number[] = [];
  for (const s of infos) {
    try {
      fds.push(udp.open(s.bindHost, s.port, bufferBytes, NOT_READ_BUFFER_BYTES));
    } catch (e) {
      fds.forEach((fd) => udp.close(fd));
      const errno = (e as { errno?: number }).errno;
      throw listenError(s.name, errno === EADDRINUSE ? 'EADDRINUSE' : undefined, (e as Error).message);
    }
  }
  return fds;
}

export type OnDatagram = (buf: Buffer, srcIp: string, srcPort: number, sockIndex: number) => void;

/**
 * Reads the sockets on this thread. The Buffer handed to `onDatagram` is a view of a reused
 * slot: it is valid until `onDatagram` returns (a consumer that keeps bytes copies them).
 */
export function watchSockets(udp: NativeUdp, fds: number[], bufferBytes: number, onDatagram: OnDatagram): void {
  const { BATCH, SLOT } = udp;
  const META = UDP_META.BYTES;
  fds.forEach((fd, sockIndex) => {
    udp.setReceiveBuffer(fd, bufferBytes); // from now on it is read (see openSockets)
    const slots = Buffer.alloc(BATCH * SLOT);
    const slotsBuffer = slots.buffer;
    const slotsOffset = slots.byteOffset;
    const meta = Buffer.alloc(BATCH * META);
    const m32 = new Int32Array(meta.buffer, meta.byteOffset, meta.length >> 2);
    const stride = META >> 2;
    // the source address as a string, reused while the peer stays the same (it mostly does)
    const last = new Int32Array(4);
    let lastIp = '';
    udp.watch(fd, slots, meta, (count) => {
      for (let i = 0; i < count; i++) {
        const o = i * stride;
        const a = o + M_ADDR;
        if (m32[a] !== last[0] || m32[a + 1] !== last[1] || m32[a + 2] !== last[2] || m32[a + 3] !== last[3] || lastIp === '') {
          const t = i * META + M_TEXT;
          lastIp = meta.toString('latin1', t, t + m32[o + M_TEXT_LENGTH]);
          last[0] = m32[a]; last[1] = m32[a + 1]; last[2] = m32[a + 2]; last[3] = m32[a + 3];
        }
        // Buffer.from(arrayBuffer, ...) makes the view at half the cost of subarray()
        onDatagram(Buffer.from(slotsBuffer, slotsOffset + i * SLOT, m32[o + M_LENGTH]), lastIp, m32[o + M_PORT], sockIndex);
      }
    });
  });
}

/** Sends on the shared descriptors; a host name is resolved first, failures are counted. */
export function nativeTransport(udp: NativeUdp, fds: number[], infos: SocketInfo[], log: Logger, counters: ThreadCounters): Transport {
  udp.countSendErrors(counters.row, C['viaduct:send_errors']);
  const failed = (why: string): void => {
    counters.inc(C['viaduct:send_errors']);
    log.limited(L_DBG, 'core:send', `send failed: ${why}`);
  };
  return {
    copiesOnSend: true, // sent or queued, the bytes are copied when send returns (the name path copies first)
    send(i, data, port, host) {
      const r = udp.send(fds[i], data, port, host);
      if (r >= 0) return;
      if (r !== -EINVAL) return failed(`errno ${-r} sending to ${host}:${port}`);
      // not an IP literal of this socket's family: a name (rare for a proxy; Kamailio resolves too)
      const copy = Buffer.from(data); // the caller's bytes may be a reused slot
      lookup(host, { family: infos[i].family }, (err, address) => {
        if (err) return failed(`${host}: ${err.message}`);
        const r2 = udp.send(fds[i], copy, port, address);
        if (r2 < 0) failed(`errno ${-r2} sending to ${address}:${port}`);
      });
    },
  };
}
