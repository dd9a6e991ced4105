// The receiving thread ("dispatcher" in DESIGN.md): reads datagrams and hands each to the
// worker owning its Call-ID. With workers=0 it runs the script itself.
import { parentPort, workerData } from 'node:worker_threads';
import { ThreadCounters } from '../stats/counters.js';
import { encodeHistogram } from '../stats/histogram.js';
import { CallRouter } from './router.js';
import { listenSockets, createSipThread, type ThreadData } from './thread.js';

const data = workerData as ThreadData;
const sockets = await listenSockets(data);
let histogram: (() => string) | null = null;

if (data.ringsOut.length === 0) {
  // inline mode: this thread is the only SIP thread
  const { core } = createSipThread(data, sockets.transport);
  histogram = () => encodeHistogram(core.histogram!);
  const busy = new Int32Array(data.busy); // slot 0: the inline thread (see server.ts restart)
  sockets.read((buf, ip, port, i) => {
    busy[0] = 1;
    core.receive(buf, ip, port, i);
    busy[0] = 0;
  });
} else {
  const router = new CallRouter(data.ringsOut, sockets.doorbells, -1, new ThreadCounters(data.statsSab, data.row));
  sockets.read((buf, ip, port, i) => router.handOff(router.owner(buf), buf, ip, port, i));
}

parentPort!.on('message', (m: { type: string; id?: number }) => {
  if (m.type === 'histogram') parentPort!.postMessage({ type: 'histogram', id: m.id, data: histogram ? histogram() : null });
});
parentPort!.postMessage({ type: 'ready' });
