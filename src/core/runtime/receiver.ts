// The receiving thread ("dispatcher" in DESIGN.md): reads datagrams and appends each to the
// ring of the worker its Call-ID hashes to. With workers=0 it runs the script itself.
import type dgram from 'node:dgram';
import { parentPort, workerData } from 'node:worker_threads';
import { C, ThreadCounters } from '../stats/counters.js';
import { encodeHistogram } from '../stats/histogram.js';
import { callIdHash } from './callid.js';
import { Ring } from './ring.js';
import { bindSockets, createSipThread, socketInfos, type ThreadData } from './thread.js';

const data = workerData as ThreadData;
const infos = socketInfos(data.settings);
const rings = data.rings.map((sab) => new Ring(sab));
const counters = new ThreadCounters(data.statsSab, data.row);
let sockets: dgram.Socket[] = [];
let onMessage: (i: number) => (buf: Buffer, rinfo: dgram.RemoteInfo) => void;
let histogram: (() => string) | null = null;

if (rings.length === 0) {
  // inline mode: this thread is the only SIP thread
  const thread = createSipThread(data, {
    send(i, buf, port, host) { sockets[i].send(buf, port, host, onSent); },
  });
  const core = thread.core;
  histogram = () => encodeHistogram(core.histogram!);
  onMessage = (i) => (buf, rinfo) => core.receive(buf, rinfo.address, rinfo.port, i);
} else {
  const n = rings.length;
  const dropId = C['viaduct:ring_full_drops'];
  onMessage = (i) => (buf, rinfo) => {
    const h = callIdHash(buf, buf.length);
    // no Call-ID: any worker will do (it will answer or count the bad message)
    const k = h < 0 ? 0 : h % n;
    if (!rings[k].push(buf, rinfo.address, rinfo.port, i)) counters.inc(dropId);
  };
}

function onSent(err: Error | null): void {
  if (err) counters.inc(C.err_requests);
}

async function bind(): Promise<void> {
  const fresh = await bindSockets(infos);
  fresh.forEach((s, i) => s.on('message', onMessage(i)));
  const old = sockets;
  sockets = fresh;
  for (const s of old) s.close();
}

parentPort!.on('message', (m: { type: string; id?: number }) => {
  if (m.type === 'rebind') {
    // a restarted worker bound after us and now gets the unicast traffic: bind again, last
    bind().then(() => parentPort!.postMessage({ type: 'rebound' }), (e) => parentPort!.postMessage({ type: 'error', message: String(e) }));
  } else if (m.type === 'histogram') {
    parentPort!.postMessage({ type: 'histogram', id: m.id, data: histogram ? histogram() : null });
  }
});

await bind();
parentPort!.postMessage({ type: 'ready' });
