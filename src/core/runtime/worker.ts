// A worker thread: runs the script on the datagrams whose Call-ID it owns. In sharded mode it
// drains the rings into it (datagrams the receiving thread, or with node:dgram another worker,
// received); in single mode it reads the sockets itself. With node:dgram in sharded mode its own
// socket, bound to the listening address, may receive too: it keeps what it owns and hands the
// rest to the owners.
import { parentPort, workerData } from 'node:worker_threads';
import { encodeHistogram } from '../stats/histogram.js';
import { C } from '../stats/counters.js';
import { FROM_RING, FROM_SOCKET, InHand } from './in-hand.js';
import { Ring, type RingRecord } from './ring.js';
import { CallRouter } from './router.js';
import { answerHistogram, listenSockets, createSipThread, type ThreadData } from './thread.js';
import type { OnDatagram } from './udp-native.js';

const data = workerData as ThreadData;
const self = data.workerIndex;
const sockets = await listenSockets(data);
const thread = createSipThread(data, sockets.transport);
const { core, counters } = thread;
const inHand = new InHand(data.inHand, data.sipIndex);

/** A datagram this worker owns, read from a socket. */
const receiveOwn: OnDatagram = (buf, ip, port, i) => {
  counters.inc(C['viaduct:worker_socket_rcv']);
  inHand.begin(FROM_SOCKET); // if this thread dies now, the supervisor counts the datagram as lost
  core.receive(buf, ip, port, i);
  inHand.end();
};

if (data.readsSockets) {
  if (data.mode === 'single') {
    sockets.read(receiveOwn);
  } else {
    const router = new CallRouter(data.ringsOut, sockets.doorbells, self, counters);
    sockets.read((buf, ip, port, i) => {
      const k = router.owner(buf);
      if (k === self) receiveOwn(buf, ip, port, i);
      else router.handOff(k, buf, ip, port, i);
    });
  }
}

const rings = data.ringsIn.map((sab) => new Ring(sab));
const bell = sockets.doorbells.slots;
const rec: RingRecord = { payload: Buffer.alloc(0), address: '', port: 0, socketIndex: 0 };

function drain(): boolean {
  let any = false;
  for (let r = 0; r < rings.length; r++) {
    const ring = rings[r];
    while (ring.peek(rec)) {
      inHand.begin(FROM_RING + r); // tells the supervisor which record was in hand if this thread dies
      core.receive(rec.payload, rec.address, rec.port, rec.socketIndex);
      // idle before release: dying between the two repeats a processed record, never skips one
      inHand.end();
      ring.release();
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
const nativeBell = rings.length > 0 && sockets.onDoorbell(self, () => loop());

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

parentPort!.on('message', (m: { type: string; id?: number; sent?: bigint }) => {
  if (m.type === 'histogram') answerHistogram(m, () => encodeHistogram(core.histogram!));
});
parentPort!.postMessage({ type: 'bound' });
if (rings.length > 0) loop();
