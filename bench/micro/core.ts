// Cost of the JavaScript on the per-message path: SipCore.receive() for the six messages of
// SIPp's default call (INVITE, 180, 200, ACK, BYE, 200) through a stateless forward() script,
// with a transport that drops what it is given. Prints CPU ns and bytes allocated per message.
//   node --min-semi-space-size=64 --max-semi-space-size=64 dist/bench/micro/core.js [iterations] [rounds]
//
// A/B in one process: `--against DIR` loads a second build (DIR holds its dist/src, e.g. a copy
// of dist/ made before a change) and alternates rounds between the two, so that both see the
// same machine load; the best round of each counts.
//   node dist/bench/micro/core.js --against /path/to/copy 30000 20
import { PerformanceObserver } from 'node:perf_hooks';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { coreOf } from './build.js';
import { commonHeaders as common, SDP as sdp, sippRequest as req, UAC as uac } from './sipp-call.js';

type Receive = (buf: Buffer, srcIp: string, srcPort: number, sockIndex: number) => void;

/** A SipCore of the build whose `src/` is at srcUrl, forwarding everything, and the call it receives. */
async function setUp(srcUrl: URL): Promise<{ receive: Receive; msgs: [Buffer, number][]; sent: () => number }> {
  let sent = 0;
  let lastSent = '';
  let keepSent = true; // while setting up: the text of what was sent (the buffer is reused)
  // copiesOnSend, as the native transport: forwards are serialized into one reused buffer
  const { core, KSR } = await coreOf(srcUrl,
    { copiesOnSend: true, send(_i, data) { sent++; if (keepSent) lastSent = data.toString('latin1'); } }, { histogram: true });
  core.routes = { request: () => KSR.forward_uri('sip:127.0.0.1:5070'), named: () => undefined };

  // Replies carry the Via the proxy added: take it from what forward() produced.
  const viaOf = (s: string): string => {
    const i = s.indexOf('\r\nVia: ') + 2;
    return s.slice(i, s.indexOf('\r\n', i));
  };
  const reply = (code: string, n: number, method: string, via: string, body = '') =>
    Buffer.from(`SIP/2.0 ${code}\r\n${via}\r\nVia: SIP/2.0/UDP ${uac};branch=z9hG4bK-1-${n}\r\n${common(n, method, ';tag=uas1')}` +
      `Contact: <sip:127.0.0.1:5070;transport=UDP>\r\n` + (body ? `Content-Type: application/sdp\r\n` : '') +
      `Content-Length: ${body.length}\r\n\r\n${body}`);

  const invite = req('INVITE', 1, '', 'z9hG4bK-1-1', sdp);
  core.receive(invite, '127.0.0.1', 5061, 0);
  const inviteVia = viaOf(lastSent);
  const ack = req('ACK', 1, ';tag=uas1', 'z9hG4bK-1-2');
  const bye = req('BYE', 2, ';tag=uas1', 'z9hG4bK-1-3');
  core.receive(bye, '127.0.0.1', 5061, 0);
  const byeVia = viaOf(lastSent);
  keepSent = false;
  const msgs: [Buffer, number][] = [
    [invite, 5061], [reply('180 Ringing', 1, 'INVITE', inviteVia), 5070], [reply('200 OK', 1, 'INVITE', inviteVia, sdp), 5070],
    [ack, 5061], [bye, 5061], [reply('200 OK', 2, 'BYE', byeVia), 5070],
  ];
  return { receive: core.receive.bind(core), msgs, sent: () => sent };
}

function runCalls(receive: Receive, msgs: [Buffer, number][], calls: number): void {
  for (let i = 0; i < calls; i++) for (const [m, port] of msgs) receive(m, '127.0.0.1', port, 0);
}

/** CPU time (user + system) per message: other processes on a shared machine stretch wall-clock time far more. */
function cpuNsPerMessage(receive: Receive, msgs: [Buffer, number][], calls: number): number {
  const cpu0 = process.cpuUsage();
  runCalls(receive, msgs, calls);
  const cpu = process.cpuUsage(cpu0);
  return ((cpu.user + cpu.system) * 1000) / (calls * msgs.length);
}

/**
 * Bytes allocated per message: the heap's growth over calls during which no collection ran
 * (a young generation larger than the window makes that likely: --min-semi-space-size=64
 * --max-semi-space-size=64). NaN when a collection ran in every attempt.
 */
async function bytesPerMessage(receive: Receive, msgs: [Buffer, number][]): Promise<number> {
  let collections = 0;
  const gcWatch = new PerformanceObserver((list) => { collections += list.getEntries().length; });
  gcWatch.observe({ entryTypes: ['gc'] });
  const settle = () => new Promise((r) => setTimeout(r, 10)); // let pending gc entries arrive
  let allocated = NaN;
  for (let attempt = 0; attempt < 5 && Number.isNaN(allocated); attempt++) {
    const calls = 1000;
    await settle();
    collections = 0;
    const heap0 = process.memoryUsage().heapUsed;
    runCalls(receive, msgs, calls);
    const grown = process.memoryUsage().heapUsed - heap0;
    await settle();
    if (collections === 0) allocated = grown / (calls * msgs.length);
  }
  gcWatch.disconnect();
  return allocated;
}

const args = process.argv.slice(2);
const againstAt = args.indexOf('--against');
const against = againstAt >= 0 ? args.splice(againstAt, 2)[1] : undefined;
const iterations = Number(args[0] ?? 100000);
const rounds = Number(args[1] ?? 5);

const builds = [{ name: 'this build', ...(await setUp(new URL('../../src/', import.meta.url))) }];
if (against !== undefined) builds.push({ name: against, ...(await setUp(pathToFileURL(resolve(against, 'dist/src') + '/'))) });
const best = builds.map(() => Infinity);
for (let round = 0; round < rounds; round++) {
  builds.forEach((b, i) => {
    const before = b.sent();
    const ns = cpuNsPerMessage(b.receive, b.msgs, iterations);
    best[i] = Math.min(best[i], ns);
    const forwarded = b.sent() - before;
    console.log(`round ${round} ${b.name}: ${ns.toFixed(0)} ns CPU per message (${(ns * 6 / 1000).toFixed(1)} us per call), forwarded ${forwarded}/${iterations * b.msgs.length}`);
  });
}
for (let i = 0; i < builds.length; i++) {
  const bytes = await bytesPerMessage(builds[i].receive, builds[i].msgs);
  console.log(`${builds[i].name}: best ${best[i].toFixed(0)} ns CPU per message; ` +
    (Number.isNaN(bytes) ? 'allocation not measured (a GC ran in every window: run node with --min-semi-space-size=64 --max-semi-space-size=64)' : `${bytes.toFixed(0)} bytes allocated per message`));
}
if (builds.length === 2) console.log(`this build / ${against}: ${(best[0] / best[1]).toFixed(3)}`);
