// What every SIP thread (a worker, or the receiving thread when workers=0) sets up: its UDP
// sockets, its counters row, its histogram, a SipCore with the KSR object, and the script.
import dgram from 'node:dgram';
import { parentPort } from 'node:worker_threads';
import type { Settings } from '../config.js';
import type { SocketInfo } from '../context.js';
import { SipCore, type Transport } from '../core.js';
import { buildKSR, type KSRApi } from '../ksr.js';
import { createLogger, L_DBG, type Logger } from '../log.js';
import { loadScript } from '../script.js';
import { formatHostPort } from '../sip/uri.js';
import { fastSender } from './udp-send.js';
import { warmUp } from './warm-up.js';
import { listenError, nativeTransport, nativeUdp, NOT_READ_BUFFER_BYTES, watchSockets, type OnDatagram } from './udp-native.js';
import type { TopologyMode } from './topology.js';
import { Doorbells } from './ring.js';
import { C, ThreadCounters } from '../stats/counters.js';
import { createProcessingHistogram } from '../stats/histogram.js';
import type { ParamValue } from '../../modules/module.js';

/** What the control plane hands each thread (structured-clonable). */
export interface ThreadData {
  role: 'worker' | 'receiver';
  mode: TopologyMode;           // how the threads are arranged (topology.ts)
  name: string;                 // "worker 1", "receiver"
  row: number;                  // this thread's counters row
  sipIndex: number;             // this thread's in-hand slots (in-hand.ts); -1: it runs no script
  scriptFile: string;
  settings: Settings;
  modparams: Record<string, Record<string, ParamValue>>;
  statsSab: SharedArrayBuffer;
  workerIndex: number;          // 0-based; -1 for the receiving thread
  ringsOut: (SharedArrayBuffer | null)[]; // [k]: this thread's ring into worker k (null: none); [] outside sharded mode
  ringsIn: SharedArrayBuffer[];           // a worker: every ring into it
  bells: SharedArrayBuffer;               // one doorbell per worker
  inHand: SharedArrayBuffer;              // what every SIP thread is processing (in-hand.ts)
  instanceTag: string;          // to-tag prefix of this server instance
  /** Native UDP (udp-native.ts): the listen sockets' descriptors, shared by every thread; null: node:dgram. */
  fds: number[] | null;
  /** Whether this thread reads the sockets (the receiving thread; workers: see Topology.workersRead). */
  readsSockets: boolean;
  /** With native UDP: one eventfd per worker, its doorbell (see Doorbells). */
  bellFds: number[] | null;
  /** Per module, what its set-up on the main thread hands the threads (dispatcher: its table). */
  moduleData: Record<string, unknown>;
}

export function socketInfos(settings: Settings): SocketInfo[] {
  return settings.listen.map((l, index) => ({
    index,
    family: l.family,
    bindHost: l.host,
    port: l.port,
    viaHost: l.advertiseHost ? formatHostPort(l.advertiseHost, 0) : formatHostPort(l.host, 0),
    viaPort: l.advertisePort ?? l.port,
    name: `udp:${formatHostPort(l.host, l.port)}`,
  }));
}

/** This thread's view of the listen sockets: how to send on them and how to read them. */
export interface ThreadSockets {
  transport(log: Logger, counters: ThreadCounters): Transport;
  read(onDatagram: OnDatagram): void;
  /** The workers' doorbells as this thread rings them. */
  doorbells: Doorbells;
  /** Calls `onRing` when another thread rings this worker's doorbell; false: use Atomics.waitAsync. */
  onDoorbell(worker: number, onRing: () => void): boolean;
}

/** The native sockets the main thread opened, or this thread's own node:dgram sockets. */
export async function listenSockets(data: ThreadData): Promise<ThreadSockets> {
  const infos = socketInfos(data.settings);
  const fds = data.fds;
  const udp = nativeUdp().udp;
  const bellFds = data.bellFds;
  // the workers' doorbells: eventfds with native UDP, else Atomics.notify/waitAsync
  const bells = bellFds && udp
    ? { doorbells: new Doorbells(data.bells, (k: number) => udp.bellRing(bellFds[k]!)), onDoorbell: (k: number, onRing: () => void) => (udp.bellWatch(bellFds[k]!, onRing), true) }
    : { doorbells: new Doorbells(data.bells), onDoorbell: () => false };
  if (fds && udp) {
    return {
      transport: (log, counters) => nativeTransport(udp, fds, infos, log, counters),
      read: (onDatagram) => watchSockets(udp, fds, data.settings.udpBufferBytes, onDatagram),
      ...bells,
    };
  }
  const sockets = await bindSockets(infos, data.settings.udpBufferBytes);
  return {
    transport: (log, counters) => udpTransport(sockets, log, counters),
    read: (onDatagram) => sockets.forEach((s, i) => {
      s.setRecvBufferSize(data.settings.udpBufferBytes); // from now on it is read (see bindSockets)
      s.on('message', (buf, rinfo) => onDatagram(buf, rinfo.address, rinfo.port, i));
    }),
    ...bells,
  };
}

/**
 * node:dgram: checks on the main thread that no other process holds the listen ports, by binding
 * each without SO_REUSEADDR (which fails while any socket is bound there) and closing it again.
 * The threads then bind with SO_REUSEADDR to share the address among themselves. What remains:
 * a process that binds with SO_REUSEADDR after this check can still share the port.
 */
export async function checkPortsFree(infos: SocketInfo[]): Promise<void> {
  for (const s of infos) {
    await new Promise<void>((resolve, reject) => {
      const sock = dgram.createSocket({ type: s.family === 6 ? 'udp6' : 'udp4', ipv6Only: s.family === 6 });
      sock.once('error', (e) => { sock.close(); reject(listenError(s.name, (e as NodeJS.ErrnoException).code, e.message)); });
      sock.bind({ address: s.bindHost, port: s.port }, () => sock.close(() => resolve()));
    });
  }
}

/**
 * Binds one UDP socket per listen entry (SO_REUSEADDR, so workers share the address). Its
 * receive buffer stays minimal until the thread reads it, as with native UDP (openSockets).
 */
async function bindSockets(infos: SocketInfo[], bufferBytes: number): Promise<dgram.Socket[]> {
  return Promise.all(infos.map((s) => new Promise<dgram.Socket>((resolve, reject) => {
    const sock = dgram.createSocket({
      type: s.family === 6 ? 'udp6' : 'udp4', reuseAddr: true, ipv6Only: s.family === 6,
      recvBufferSize: NOT_READ_BUFFER_BYTES, sendBufferSize: bufferBytes,
    });
    sock.once('error', (e) => reject(listenError(s.name, (e as NodeJS.ErrnoException).code, e.message)));
    sock.bind({ address: s.bindHost, port: s.port }, () => {
      sock.removeAllListeners('error');
      resolve(sock);
    });
  })));
}

/** Sends from the listening sockets (see udp-send.ts); failures are counted and logged. */
function udpTransport(sockets: dgram.Socket[], log: Logger, counters: ThreadCounters): Transport {
  const onError = (err: number | Error): void => {
    counters.inc(C['viaduct:send_errors']);
    log.limited(L_DBG, 'core:send', `send failed: ${typeof err === 'number' ? `libuv error ${err}` : err.message}`);
  };
  for (const s of sockets) s.on('error', onError);
  const senders = sockets.map((s) => fastSender(s, onError));
  return {
    send(i, data, port, host) {
      senders[i](data, port, host);
    },
  };
}

export interface SipThread {
  core: SipCore;
  ksr: KSRApi;
  log: Logger;
  counters: ThreadCounters;
}

/** Builds the core and loads the script into this thread. Sockets are attached by the caller. */
export function createSipThread(data: ThreadData, makeTransport: (log: Logger, counters: ThreadCounters) => Transport): SipThread {
  const counters = new ThreadCounters(data.statsSab, data.row);
  const log = createLogger(data.settings.logLevel, `[${data.name}]`, { counters });
  const transport = makeTransport(log, counters);
  const sockets = socketInfos(data.settings);
  const core = new SipCore(data.settings, sockets, transport, counters, log, createProcessingHistogram(), data.instanceTag);
  const handlers = new Map<string, (d: unknown) => void>();
  const ksr = buildKSR(core, data.modparams, data.moduleData, {
    row: data.row,
    onMessage: (m, h) => handlers.set(m, h),
    toMain: (m, d) => parentPort?.postMessage({ type: 'module', module: m, data: d }),
  });
  // what a module's set-up broadcasts later (a dispatcher reload) arrives as {type: 'module'};
  // {type: 'send'}: a datagram the main thread originates, when only this thread can send (node:dgram)
  parentPort?.on('message', (m: { type: string; module?: string; data?: unknown; sock?: number; bytes?: Uint8Array; port?: number; host?: string }) => {
    if (m.type === 'module' && m.module) handlers.get(m.module)?.(m.data);
    else if (m.type === 'send') transport.send(m.sock!, Buffer.from(m.bytes!.buffer, m.bytes!.byteOffset, m.bytes!.byteLength), m.port!, m.host!);
  });
  const script = loadScript(data.scriptFile, ksr);
  const fn = (n: string) => script.fn(n) as (() => unknown) | undefined;
  warmUp(data.settings, sockets, data.instanceTag); // before its own core sees a message
  core.routes = {
    request: fn('ksr_request_route'),
    reply: fn('ksr_reply_route'),
    onsend: fn('ksr_onsend_route'),
    named: fn,
  };
  return { core, ksr, log, counters };
}

/**
 * Answers the main thread's scrape-time question: the histogram's encoding (null without one),
 * and how long the question waited for this thread's event loop, from the main thread's
 * monotonic timestamp (process.hrtime is the same clock in every thread).
 */
export function answerHistogram(m: { id?: number; sent?: bigint }, encode: (() => string) | null): void {
  const delayMs = m.sent === undefined ? null : Number(process.hrtime.bigint() - m.sent) / 1e6;
  parentPort!.postMessage({ type: 'histogram', id: m.id, data: encode ? encode() : null, delayMs });
}
