// A worker thread: drains the rings into it (datagrams other threads received whose Call-ID it
// owns), runs the script on each, and sends from its own sockets bound to the listening
// addresses. The kernel may also deliver datagrams to those sockets: the worker keeps the ones
// it owns and hands the others to their owners.
import { parentPort, workerData } from 'node:worker_threads';
import { encodeHistogram } from '../stats/histogram.js';
import { C } from '../stats/counters.js';
import { Doorbells, Ring, RING_BUSY, type RingRecord } from './ring.js';
import { CallRouter } from './router.js';
import { listenSockets, createSipThread, type ThreadData } from './thread.js';

const data = workerData as ThreadData;
const self = data.workerIndex;
const sockets = await listenSockets(data);
const thread = createSipThread(data, sockets.transport);
const { core, counters } = thread;
const router = new CallRouter(data.ringsOut, sockets.doorbells, self, counters);

// With node:dgram this thread's own sockets receive too; native sockets are read by the
// receiver, or by this thread when it is the only worker.
const busy = new Int32Array(data.busy);
if (!data.fds || data.readsSockets) sockets.read((buf, ip, port, i) => {
  counters.inc(C['viaduct:worker_socket_rcv']);
  const k = router.owner(buf);
  if (k === self) {
    busy[self] = 1; // if this thread dies now, the supervisor counts the datagram as lost
    core.receive(buf, ip, port, i);
    busy[self] = 0;
  } else {
    router.handOff(k, buf, ip, port, i);
  }
});

const rings = data.ringsIn.map((sab) => new Ring(sab));
const bell = sockets.doorbells.slots;
const rec: RingRecord = { payload: Buffer.alloc(0), address: '', port: 0, socketIndex: 0 };

function drain(): boolean {
  let any = false;
  for (let r = 0; r < rings.length; r++) {
    const ring = rings[r];
    const ctl = ring.ctl;
    while (ring.peek(rec)) {
      ctl[RING_BUSY] = 1; // tells the supervisor which record was in hand if this thread dies
      core.receive(rec.payload, rec.address, rec.port, rec.socketIndex);
      ring.release();
      ctl[RING_BUSY] = 0;
      any = true;
    }
  }
  return any;
}

function anyPending(): boolean {
  for (let r = 0; r < rings.length; r++) if (rings[r].hasRecord()) return true;
  return false;
}

// With native UDP the doorbell is an eventfd this thread's event loop watches.
const nativeBell = sockets.onDoorbell(self, () => loop());

/** Drain, then sleep on the doorbell; producers ring it only when we say we sleep. */
function loop(): void {
  for (;;) {
    drain();
    Atomics.store(bell, self, 1);
    if (anyPending()) { // arrived between the drain and the flag
      Atomics.store(bell, self, 0);
      continue;
    }
    if (nativeBell) return;
    const w = Atomics.waitAsync(bell, self, 1);
    if (w.async) {
      w.value.then(loop);
      return;
    }
    // 'not-equal': a producer already cleared the flag
  }
}

parentPort!.on('message', (m: { type: string; id?: number }) => {
  if (m.type === 'histogram') parentPort!.postMessage({ type: 'histogram', id: m.id, data: encodeHistogram(core.histogram!) });
});
parentPort!.postMessage({ type: 'bound' });
loop();
