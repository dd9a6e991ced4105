// Cost of the JavaScript of a stateful relay (bench/scripts/relay.js: record_route + t_relay, the
// in-dialog requests loose-routed) per call, in one process, without sockets: the messages of the
// bench's uac-rr.xml / uas-rr.xml call (INVITE, 180, 200, ACK, BYE, 200; the proxy adds the 100)
// fed to SipCore.receive(). Calls go in batches, one message kind at a time, so that the replies
// can carry the Via branch tm chose; building the messages is not timed. Transactions stay in
// tm's tables for wt_timer as in a real run.
//   node dist/bench/micro/relay.js [calls per batch] [batches]
//   node dist/bench/micro/relay.js --against DIR 5000 10   (A/B against another build's dist/)
//   --store: tm writes to a shared-memory transaction store as in a SIP worker (tm/shm.ts)
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoPath } from '../paths.js';
import { coreOf } from './build.js';
import { SDP } from './sipp-call.js';

const UAC = '127.0.0.1:5080';
const UAS = '127.0.0.1:5070';

type Receive = (buf: Buffer, srcIp: string, srcPort: number, sockIndex: number) => void;

interface Build {
  name: string;
  receive: Receive;
  /** The Via and Record-Route lines the proxy put on the last request it sent to the uas. */
  sentTo: Map<string, string>;
  sent: () => number;
}

async function setUp(name: string, srcUrl: URL): Promise<Build> {
  let sent = 0;
  const sentTo = new Map<string, string>();
  const { core, KSR } = await coreOf(srcUrl, {
    copiesOnSend: true,
    send(_i, data, port) {
      sent++;
      if (port !== 5070) return;
      // keep what the uas would copy into its reply: the proxy's Via, Record-Route, Call-ID
      const s = data.toString('latin1');
      const via = s.slice(s.indexOf('\r\nVia: ') + 2, s.indexOf('\r\n', s.indexOf('\r\nVia: ') + 2));
      const rr = /\r\n(Record-Route: [^\r]*)/.exec(s)?.[1] ?? '';
      const callId = /\r\nCall-ID: ([^\r]*)/.exec(s)![1]!;
      sentTo.set(callId + (s.startsWith('BYE') ? ' BYE' : ''), `${via}\r\n${rr ? `${rr}\r\n` : ''}`);
    },
  });
  // bench/scripts/relay.js itself, loaded as the server loads it (the build's own loader)
  const { loadScript } = await import(new URL('core/script.js', srcUrl).href) as typeof import('../../src/core/script.js');
  const script = loadScript(repoPath('bench/scripts/relay.js'), KSR);
  if (withStore) {
    // --store: tm writes its transactions to a shared-memory store, as a SIP worker does (row 1)
    const { TmStore } = await import(new URL('modules/tm/store/store.js', srcUrl).href) as typeof import('../../src/modules/tm/store/store.js');
    const { attachStore } = await import(new URL('modules/tm/shm.js', srcUrl).href) as typeof import('../../src/modules/tm/shm.js');
    const { counterId } = await import(new URL('core/stats/counters.js', srcUrl).href) as typeof import('../../src/core/stats/counters.js');
    attachStore(new TmStore(TmStore.create(65536, 2304), 1), core, counterId('tm:shm_full'));
  }
  core.routes = { request: script.fn('ksr_request_route')!, named: (n: string) => script.fn(n) };
  return { name, receive: core.receive.bind(core), sentTo, sent: () => sent };
}

const dialog = (id: string, method: string, cseq: number, totag: string) =>
  `From: "SIPp Caller" <sip:caller@${UAC}>;tag=${id}SIPpTag00\r\nTo: <sip:service@127.0.0.1:5060>${totag}\r\n` +
  `Call-ID: ${id}\r\nCSeq: ${cseq} ${method}\r\n`;

const uacVia = (id: string, n: number) => `Via: SIP/2.0/UDP ${UAC};branch=z9hG4bK-${id}-${n}\r\n`;

function invite(id: string): Buffer {
  return Buffer.from(`INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\n${uacVia(id, 1)}${dialog(id, 'INVITE', 1, '')}` +
    `Contact: <sip:caller@${UAC}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: ${SDP.length}\r\n\r\n${SDP}`, 'latin1');
}

function inDialog(id: string, method: string, cseq: number, n: number): Buffer {
  return Buffer.from(`${method} sip:${UAS};transport=UDP SIP/2.0\r\n${uacVia(id, n)}Route: <sip:127.0.0.1:5060;lr>\r\n` +
    `${dialog(id, method, cseq, `;tag=${id}uas`)}Contact: <sip:caller@${UAC}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`, 'latin1');
}

/** A uas reply: the proxy's lines (Via, Record-Route) over the uac's Via. */
function reply(proxyLines: string, id: string, status: string, method: string, cseq: number, n: number, body = ''): Buffer {
  return Buffer.from(`SIP/2.0 ${status}\r\n${proxyLines}${uacVia(id, n)}${dialog(id, method, cseq, `;tag=${id}uas`)}` +
    `Contact: <sip:${UAS};transport=UDP>\r\n${body ? 'Content-Type: application/sdp\r\n' : ''}Content-Length: ${body.length}\r\n\r\n${body}`, 'latin1');
}

let serial = 0;

/** One batch of calls through `b`; returns CPU µs per call (the receive() calls only). */
function batch(b: Build, calls: number): number {
  const ids = Array.from({ length: calls }, () => `${++serial}-relay@127.0.0.1`);
  let cpu = 0;
  const feed = (msgs: Buffer[], port: number) => {
    const t0 = process.cpuUsage();
    for (const m of msgs) b.receive(m, '127.0.0.1', port, 0);
    const t = process.cpuUsage(t0);
    cpu += t.user + t.system;
  };
  const fromProxy = (id: string) => {
    const lines = b.sentTo.get(id);
    if (lines === undefined) throw new Error(`${b.name}: the proxy did not relay ${id}`);
    return lines;
  };
  feed(ids.map(invite), 5080);
  feed(ids.map((id) => reply(fromProxy(id), id, '180 Ringing', 'INVITE', 1, 1)), 5070);
  feed(ids.map((id) => reply(fromProxy(id), id, '200 OK', 'INVITE', 1, 1, SDP)), 5070);
  feed(ids.map((id) => inDialog(id, 'ACK', 1, 2)), 5080);
  feed(ids.map((id) => inDialog(id, 'BYE', 2, 3)), 5080);
  feed(ids.map((id) => reply(fromProxy(`${id} BYE`), id, '200 OK', 'BYE', 2, 3)), 5070);
  for (const id of ids) {
    b.sentTo.delete(id);
    b.sentTo.delete(`${id} BYE`);
  }
  return cpu / calls;
}

const args = process.argv.slice(2);
const storeAt = args.indexOf('--store');
const withStore = storeAt >= 0;
if (withStore) args.splice(storeAt, 1);
const againstAt = args.indexOf('--against');
const against = againstAt >= 0 ? args.splice(againstAt, 2)[1] : undefined;
const calls = Number(args[0] ?? 5000);
const batches = Number(args[1] ?? 10);

const builds = [await setUp('this build', new URL('../../src/', import.meta.url))];
if (against !== undefined) builds.push(await setUp(against, pathToFileURL(resolve(against, 'dist/src') + '/')));
const best = builds.map(() => Infinity);
const sentPerCall = builds.map(() => 0);
const perBatch: number[][] = builds.map(() => []);
for (let i = 0; i < batches; i++) {
  // alternate which build goes first: the first one of a pair was seen to run ~30% faster
  for (const k of i % 2 === 0 ? builds.keys() : [...builds.keys()].reverse()) {
    const b = builds[k]!;
    const before = b.sent();
    const us = batch(b, calls);
    sentPerCall[k] = (b.sent() - before) / calls;
    if (i > 0) {
      best[k] = Math.min(best[k]!, us); // the first batch warms up
      perBatch[k]!.push(us);
    }
    console.log(`batch ${i} ${b.name}: ${us.toFixed(1)} µs CPU per call, ${sentPerCall[k]!.toFixed(2)} datagrams sent per call`);
    await new Promise((r) => setTimeout(r, 20)); // timers (the wheel) run between batches
  }
}
for (const [k, b] of builds.entries()) console.log(`${b.name}: best ${best[k]!.toFixed(1)} µs CPU per call`);
if (builds.length === 2) {
  // the machine's load changes between batches: the median of the ratios of a batch pair is steadier than the best
  const ratios = perBatch[0]!.map((us, i) => us / perBatch[1]![i]!).sort((a, b) => a - b);
  console.log(`this build / ${against}: best ${(best[0]! / best[1]!).toFixed(3)}, median of ${ratios.length} batch pairs ${ratios[ratios.length >> 1]!.toFixed(3)}`);
}
