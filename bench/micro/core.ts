// Cost of the JavaScript on the per-message path: SipCore.receive() for the six messages of
// SIPp's default call (INVITE, 180, 200, ACK, BYE, 200) through a stateless forward() script,
// with a transport that drops what it is given. Prints CPU ns and bytes allocated per message.
//   node --min-semi-space-size=64 --max-semi-space-size=64 dist/bench/micro/core.js [iterations] [rounds]
import { PerformanceObserver } from 'node:perf_hooks';
import { resolveSettings } from '../../src/core/config.js';
import { SipCore } from '../../src/core/core.js';
import { createLogger } from '../../src/core/log.js';
import { socketInfos } from '../../src/core/runtime/thread.js';
import { createStatsBuffer, ThreadCounters } from '../../src/core/stats/counters.js';
import { createProcessingHistogram } from '../../src/core/stats/histogram.js';
import { commonHeaders as common, SDP as sdp, sippRequest as req, UAC as uac } from './sipp-call.js';

const settings = resolveSettings(undefined, { listen: ['udp:127.0.0.1:5060'], alias: [], modparams: [] }, 1);
let sent = 0;
let lastSent = '';
let keepSent = true; // while setting up: the text of what was sent (the buffer is reused)
// copiesOnSend, as the native transport: forwards are serialized into one reused buffer
const core = new SipCore(settings, socketInfos(settings),
  { copiesOnSend: true, send(_i, data) { sent++; if (keepSent) lastSent = data.toString('latin1'); } },
  new ThreadCounters(createStatsBuffer(1), 0), createLogger('err', 'bench'), createProcessingHistogram(), 'vdbench-');
core.routes = { request: () => core.forwardRequest('sip:127.0.0.1:5070'), named: () => undefined };


// Replies carry the Via the proxy added: take it from what forward() produced.
function viaOf(s: string): string {
  const i = s.indexOf('\r\nVia: ') + 2;
  return s.slice(i, s.indexOf('\r\n', i));
}
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
const msgs: [Buffer, number][] = [
  [invite, 5061], [reply('180 Ringing', 1, 'INVITE', inviteVia), 5070], [reply('200 OK', 1, 'INVITE', inviteVia, sdp), 5070],
  [ack, 5061], [bye, 5061], [reply('200 OK', 2, 'BYE', byeVia), 5070],
];

// CPU time (user + system) rather than wall-clock: other processes on a shared machine stretch
// wall-clock time far more than they stretch this thread's CPU time. The best round counts.
keepSent = false;
const iterations = Number(process.argv[2] ?? 100000);
const rounds = Number(process.argv[3] ?? 5);
let best = Infinity;
for (let round = 0; round < rounds; round++) {
  sent = 0;
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < iterations; i++) for (const [m, port] of msgs) core.receive(m, '127.0.0.1', port, 0);
  const cpu = process.cpuUsage(cpu0);
  const ns = ((cpu.user + cpu.system) * 1000) / (iterations * msgs.length);
  best = Math.min(best, ns);
  console.log(`round ${round}: ${ns.toFixed(0)} ns CPU per message (${(ns * 6 / 1000).toFixed(1)} us per call), forwarded ${sent}/${iterations * msgs.length}`);
}

// Bytes allocated per message: the heap's growth over calls during which no collection ran
// (a young generation larger than the window makes that likely: --min-semi-space-size=64 --max-semi-space-size=64).
let collections = 0;
const gcWatch = new PerformanceObserver((list) => { collections += list.getEntries().length; });
gcWatch.observe({ entryTypes: ['gc'] });
let allocated = NaN;
for (let attempt = 0; attempt < 5 && Number.isNaN(allocated); attempt++) {
  const calls = 1000;
  await new Promise((r) => setTimeout(r, 10)); // let pending gc entries arrive
  collections = 0;
  const heap0 = process.memoryUsage().heapUsed;
  for (let i = 0; i < calls; i++) for (const [m, port] of msgs) core.receive(m, '127.0.0.1', port, 0);
  const grown = process.memoryUsage().heapUsed - heap0;
  await new Promise((r) => setTimeout(r, 10));
  if (collections === 0) allocated = grown / (calls * msgs.length);
}
gcWatch.disconnect();
console.log(`best ${best.toFixed(0)} ns CPU per message; ${Number.isNaN(allocated) ? 'allocation not measured (a GC ran in every window: run node with --min-semi-space-size=64 --max-semi-space-size=64)' : `${allocated.toFixed(0)} bytes allocated per message`}`);
