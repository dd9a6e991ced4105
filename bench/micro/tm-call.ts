// What the shared-memory transaction store adds to a stateful call: SipCore.receive() for SIPp's
// default call (INVITE, 180, 200, ACK, BYE, 200) through a t_relay() script, each call with its
// own Call-ID and branches, rounds alternating between tm without a store and tm writing every
// transaction to one (shm.ts: save, sync, drop), so that both see the same machine load. Prints
// CPU µs per call of each and the difference. The transport drops what it is given.
//   node dist/bench/micro/tm-call.js [calls per round] [rounds]
import { performance } from 'node:perf_hooks';
import { counterId } from '../../src/core/stats/counters.js';
import { threadWheel } from '../../src/core/timer/wheel.js';
import { attachStore } from '../../src/modules/tm/shm.js';
import { TmStore } from '../../src/modules/tm/store/store.js';
import { coreOf } from './build.js';
import { SDP, UAC } from './sipp-call.js';

const CALLS = Number(process.argv[2] ?? 5000);
const ROUNDS = Number(process.argv[3] ?? 10);

let lastFwd = '';
const { core, KSR } = await coreOf(new URL('../../src/', import.meta.url), {
  send(_i, data, port) { if (port === 5070) lastFwd = data.toString('latin1'); },
});
core.routes = { request: () => KSR.tm.t_relay(), named: () => undefined };
const store = new TmStore(TmStore.create(4 * CALLS, 2304), 2);
const shmFull = counterId('tm:shm_full');

const viaOf = (s: string): string => {
  const i = s.indexOf('\r\nVia: ') + 2;
  return s.slice(i, s.indexOf('\r\n', i));
};
const head = (n: number, cseq: number, method: string, totag: string) =>
  `From: sipp <sip:sipp@127.0.0.1:5061>;tag=${n}SIPpTag001\r\nTo: service <sip:service@127.0.0.1:5060>${totag}\r\n` +
  `Call-ID: ${n}-12345@127.0.0.1\r\nCSeq: ${cseq} ${method}\r\n`;
const request = (method: string, n: number, cseq: number, totag: string, branch: string, body = '') =>
  Buffer.from(`${method} sip:service@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP ${UAC};branch=${branch}\r\n${head(n, cseq, method, totag)}` +
    `Contact: sip:sipp@127.0.0.1:5061\r\nMax-Forwards: 70\r\nSubject: Performance Test\r\n` +
    (body ? 'Content-Type: application/sdp\r\n' : '') + `Content-Length: ${body.length}\r\n\r\n${body}`);
const reply = (code: string, n: number, cseq: number, method: string, via: string, branch: string, body = '') =>
  Buffer.from(`SIP/2.0 ${code}\r\n${via}\r\nVia: SIP/2.0/UDP ${UAC};branch=${branch}\r\n${head(n, cseq, method, ';tag=uas1')}` +
    `Contact: <sip:127.0.0.1:5070;transport=UDP>\r\n` + (body ? 'Content-Type: application/sdp\r\n' : '') +
    `Content-Length: ${body.length}\r\n\r\n${body}`);

function call(n: number): void {
  core.receive(request('INVITE', n, 1, '', `z9hG4bK-${n}-1`, SDP), '127.0.0.1', 5061, 0);
  const iv = viaOf(lastFwd);
  core.receive(reply('180 Ringing', n, 1, 'INVITE', iv, `z9hG4bK-${n}-1`), '127.0.0.1', 5070, 0);
  core.receive(reply('200 OK', n, 1, 'INVITE', iv, `z9hG4bK-${n}-1`, SDP), '127.0.0.1', 5070, 0);
  core.receive(request('ACK', n, 1, ';tag=uas1', `z9hG4bK-${n}-2`), '127.0.0.1', 5061, 0);
  core.receive(request('BYE', n, 2, ';tag=uas1', `z9hG4bK-${n}-3`), '127.0.0.1', 5061, 0);
  core.receive(reply('200 OK', n, 2, 'BYE', viaOf(lastFwd), `z9hG4bK-${n}-3`), '127.0.0.1', 5070, 0);
}

let next = 0;
/** CPU µs per call of one round; then the wait timers free its transactions (not timed). */
function round(withStore: boolean): number {
  attachStore(withStore ? store : null, core, shmFull);
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < CALLS; i++) call(next++);
  const cpu = process.cpuUsage(cpu0);
  threadWheel().tick(performance.now() + 600_000);
  return (cpu.user + cpu.system) / CALLS;
}

round(false); // warm up both paths
round(true);
let a = Infinity;
let b = Infinity;
for (let r = 0; r < ROUNDS; r++) {
  a = Math.min(a, round(false));
  b = Math.min(b, round(true));
}
const left = store.counts();
console.log(`tm call (INVITE+180+200+ACK+BYE+200), best of ${ROUNDS} rounds of ${CALLS} calls, CPU per call:`);
console.log(`  without the store ${a.toFixed(2)} µs, with it ${b.toFixed(2)} µs: +${(b - a).toFixed(2)} µs (+${((b / a - 1) * 100).toFixed(1)}%)`);
console.log(`  store after the rounds: ${left.current} records, ${left.created} written, ${left.freed} freed, ${left.full} refused`);
