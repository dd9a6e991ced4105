// A worker thread: drains its ring (datagrams the receiving thread hashed to it by Call-ID),
// runs the script on each, and sends from its own sockets bound to the listening addresses.
import { parentPort, workerData } from 'node:worker_threads';
import { C } from '../stats/counters.js';
import { encodeHistogram } from '../stats/histogram.js';
import { Ring, RING_BUSY, RING_SLEEPING, type RingRecord } from './ring.js';
import { bindSockets, createSipThread, socketInfos, type ThreadData } from './thread.js';

const data = workerData as ThreadData;
const sockets = await bindSockets(socketInfos(data.settings));
const thread = createSipThread(data, {
  send(i, buf, port, host) { sockets[i].send(buf, port, host, onSent); },
});
const { core, counters } = thread;
function onSent(err: Error | null): void {
  if (err) counters.inc(C.err_requests);
}

// A datagram can reach a worker's own socket (the kernel gives unicast to the socket bound
// last, and a restarted worker binds after the receiver until the receiver rebinds): handle it.
sockets.forEach((s, i) => s.on('message', (buf, rinfo) => {
  counters.inc(C['viaduct:worker_socket_rcv']);
  core.receive(buf, rinfo.address, rinfo.port, i);
}));

const ring = new Ring(data.rings[0]);
const rec: RingRecord = { payload: Buffer.alloc(0), address: '', port: 0, socketIndex: 0 };
const ctl = ring.ctl;

function drain(): void {
  while (ring.peek(rec)) {
    ctl[RING_BUSY] = 1; // tells the supervisor which record was in hand if this thread dies
    core.receive(rec.payload, rec.address, rec.port, rec.socketIndex);
    ring.release();
    ctl[RING_BUSY] = 0;
  }
}

/** Drain, then sleep on the doorbell; the producer wakes us only when we say we sleep. */
function loop(): void {
  for (;;) {
    drain();
    Atomics.store(ctl, RING_SLEEPING, 1);
    if (ring.peek(rec)) { // arrived between the drain and the flag
      Atomics.store(ctl, RING_SLEEPING, 0);
      continue;
    }
    const w = Atomics.waitAsync(ctl, RING_SLEEPING, 1);
    if (w.async) {
      w.value.then(loop);
      return;
    }
    // 'not-equal': the producer already cleared the flag
  }
}

parentPort!.on('message', (m: { type: string; id?: number }) => {
  if (m.type === 'histogram') parentPort!.postMessage({ type: 'histogram', id: m.id, data: encodeHistogram(core.histogram!) });
});
parentPort!.postMessage({ type: 'bound' });
loop();
