// The receiving thread: in sharded mode it reads datagrams and hands each to the worker owning
// its Call-ID; in inline mode (workers 0) it is the only SIP thread and runs the script itself.
import { parentPort, workerData } from 'node:worker_threads';
import { ThreadCounters } from '../stats/counters.js';
import { encodeHistogram } from '../stats/histogram.js';
import { FROM_SOCKET, InHand } from './in-hand.js';
import { CallRouter } from './router.js';
import { answerHistogram, listenSockets, createSipThread, type ThreadData } from './thread.js';

const data = workerData as ThreadData;
const sockets = await listenSockets(data);
let histogram: (() => string) | null = null;

if (data.mode === 'inline') {
  const { core } = createSipThread(data, sockets.transport);
  histogram = () => encodeHistogram(core.histogram!);
  const inHand = new InHand(data.inHand, data.sipIndex);
  sockets.read((buf, ip, port, i) => {
    inHand.begin(FROM_SOCKET); // if this thread dies now, the supervisor counts the datagram as lost
    core.receive(buf, ip, port, i);
    inHand.end();
  });
} else {
  const router = new CallRouter(data.ringsOut, sockets.doorbells, -1, new ThreadCounters(data.statsSab, data.row));
  sockets.read((buf, ip, port, i) => router.handOff(router.owner(buf), buf, ip, port, i));
}

parentPort!.on('message', (m: { type: string; id?: number; sent?: bigint }) => {
  if (m.type === 'histogram') answerHistogram(m, histogram);
});
parentPort!.postMessage({ type: 'ready' });
