// What every SIP thread (a worker, or the receiving thread when workers=0) sets up: its UDP
// sockets, its counters row, its histogram, a SipCore with the KSR object, and the script.
import dgram from 'node:dgram';
import type { Settings } from '../config.js';
import type { SocketInfo } from '../context.js';
import { SipCore, type Transport } from '../core.js';
import { buildKSR, type KSRApi } from '../ksr.js';
import { createLogger, type Logger } from '../log.js';
import { loadScript } from '../script.js';
import { formatHostPort } from '../sip/uri.js';
import { ThreadCounters } from '../stats/counters.js';
import { createProcessingHistogram } from '../stats/histogram.js';
import type { ParamValue } from '../../modules/module.js';

/** What the control plane hands each thread (structured-clonable). */
export interface ThreadData {
  role: 'worker' | 'receiver';
  name: string;                 // "worker 1", "receiver"
  row: number;                  // this thread's counters row
  scriptFile: string;
  settings: Settings;
  modparams: Record<string, Record<string, ParamValue>>;
  statsSab: SharedArrayBuffer;
  rings: SharedArrayBuffer[];   // the receiver: all; a worker: [its own]
  instanceTag: string;          // to-tag prefix of this server instance
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

/** Binds one UDP socket per listen entry (SO_REUSEADDR, so workers share the address). */
export async function bindSockets(infos: SocketInfo[]): Promise<dgram.Socket[]> {
  return Promise.all(infos.map((s) => new Promise<dgram.Socket>((resolve, reject) => {
    const sock = dgram.createSocket({ type: s.family === 6 ? 'udp6' : 'udp4', reuseAddr: true, ipv6Only: s.family === 6 });
    sock.once('error', reject);
    sock.bind({ address: s.bindHost, port: s.port }, () => {
      sock.off('error', reject);
      resolve(sock);
    });
  })));
}

export function udpTransport(sockets: dgram.Socket[], log: Logger, counters: ThreadCounters, errId: number): Transport {
  const onSent = (err: Error | null): void => {
    if (err) {
      counters.inc(errId);
      log.dbg(`send failed: ${err.message}`);
    }
  };
  return {
    send(i, data, port, host) {
      sockets[i].send(data, port, host, onSent);
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
export function createSipThread(data: ThreadData, transport: Transport): SipThread {
  const log = createLogger(data.settings.logLevel, `[${data.name}]`);
  const counters = new ThreadCounters(data.statsSab, data.row);
  const sockets = socketInfos(data.settings);
  const core = new SipCore(data.settings, sockets, transport, counters, log, createProcessingHistogram(), data.instanceTag);
  const ksr = buildKSR(core, data.modparams);
  const script = loadScript(data.scriptFile, ksr);
  const fn = (n: string) => script.fn(n) as (() => unknown) | undefined;
  core.routes = {
    request: fn('ksr_request_route'),
    reply: fn('ksr_reply_route'),
    onsend: fn('ksr_onsend_route'),
    named: fn,
  };
  return { core, ksr, log, counters };
}
