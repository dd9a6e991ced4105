// Micro-benchmark of the lazy SIP parser: parse a typical INVITE and read what a stateless
// proxy reads (Call-ID, CSeq, top Via, From tag); then the SIP part of bench/micro/core.ts:
// parse + validate + the accessors SipCore reads, for the six messages of SIPp's default call.
// Run: node dist/bench/micro/parse.js [N]
import { HDR } from '../../src/core/sip/headers.js';
import { parseMessage } from '../../src/core/sip/parser.js';
import { validateMessage } from '../../src/core/sip/validate.js';
import { commonHeaders as common, SDP as sdp, sippRequest as req, UAC as uac } from './sipp-call.js';

const INVITE = Buffer.from(
  'INVITE sip:+15551234567@carrier.example.com;user=phone SIP/2.0\r\n' +
  'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\r\n' +
  'Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1234abcd;received=198.51.100.7\r\n' +
  'Max-Forwards: 69\r\n' +
  'Record-Route: <sip:192.0.2.10;lr>\r\n' +
  'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774\r\n' +
  'To: <sip:+15551234567@carrier.example.com;user=phone>\r\n' +
  'Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n' +
  'CSeq: 314159 INVITE\r\n' +
  'Contact: <sip:alice@10.0.0.5:5060;transport=udp>\r\n' +
  'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, PRACK\r\n' +
  'Supported: replaces, timer\r\n' +
  'User-Agent: ExamplePhone/1.0\r\n' +
  'Content-Type: application/sdp\r\n' +
  'Content-Length: 142\r\n' +
  '\r\n' +
  'v=0\r\n' +
  'o=alice 2890844526 2890844526 IN IP4 10.0.0.5\r\n' +
  's=-\r\n' +
  'c=IN IP4 10.0.0.5\r\n' +
  't=0 0\r\n' +
  'm=audio 49170 RTP/AVP 0 8 101\r\n' +
  'a=rtpmap:101 telephone-event/8000\r\n',
);

// The eager alternative the lazy parser is measured against, side by side in one run
// (DESIGN.md "Measuring"): decode the whole message, split it into header lines, build a
// name -> value table, then answer the same four questions with string operations.
function param(value: string, name: string): string {
  for (const part of value.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim().toLowerCase() === name) return part.slice(eq + 1).trim();
  }
  return '';
}

function eager(buf: Buffer): number {
  const lines = buf.toString('utf8').split('\r\n');
  const headers: Record<string, string> = {};
  for (let i = 1; i < lines.length && lines[i] !== ''; i++) {
    const colon = lines[i].indexOf(':');
    const name = lines[i].slice(0, colon).trim().toLowerCase();
    headers[name] ??= lines[i].slice(colon + 1).trim();
  }
  const cseq = parseInt(headers.cseq, 10);
  const branch = param(headers.via.split(',')[0], 'branch');
  const tag = param(headers.from.slice(headers.from.indexOf('>') + 1), 'tag');
  return headers['call-id'].length + cseq + branch.length + tag.length;
}

function lazy(buf: Buffer): number {
  const msg = parseMessage(buf);
  return msg.callId().length + msg.cseq().num + msg.topVia().branch!.length + msg.from().tag!.length;
}

// CPU time (user + system) of this process, so that other processes sharing the machine
// (which stretch wall-clock time) disturb the figure less; wall-clock is printed too.
function run(fn: (buf: Buffer) => number, n: number): { cpuNs: number; wallNs: number; sink: number } {
  let sink = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) sink += fn(INVITE);
  const wallNs = Number(process.hrtime.bigint() - t0) / n;
  const cpu = process.cpuUsage(cpu0);
  return { cpuNs: ((cpu.user + cpu.system) * 1000) / n, wallNs, sink };
}

const n = Number(process.argv[2] ?? 1_000_000);
run(lazy, Math.min(n, 200_000)); // warm-up: let the JIT settle
run(eager, Math.min(n, 200_000));
const lz = run(lazy, n);
const eg = run(eager, n);
console.log(
  `parse INVITE (${INVITE.length} bytes) + Call-ID, CSeq, top Via, From tag: ` +
  `${lz.cpuNs.toFixed(0)} ns/msg CPU (${lz.wallNs.toFixed(0)} ns/msg wall) over ${n} messages`,
);
console.log(
  `eager split-into-strings parse answering the same: ${eg.cpuNs.toFixed(0)} ns/msg CPU; ` +
  `lazy/eager = ${(lz.cpuNs / eg.cpuNs).toFixed(2)} (sink ${(lz.sink + eg.sink) % 10})`,
);

// ---- the SIP side of SipCore.receive() for SIPp's default call (as in bench/micro/core.ts) ----

const reply = (code: string, n: number, method: string, body = '') =>
  Buffer.from(`SIP/2.0 ${code}\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKvd1a2b3c4d.5e6f7a8b\r\n` +
    `Via: SIP/2.0/UDP ${uac};branch=z9hG4bK-1-${n}\r\n${common(n, method, ';tag=uas1')}` +
    `Contact: <sip:127.0.0.1:5070;transport=UDP>\r\n` + (body ? `Content-Type: application/sdp\r\n` : '') +
    `Content-Length: ${body.length}\r\n\r\n${body}`);
const CALL = [
  req('INVITE', 1, '', 'z9hG4bK-1-1', sdp), reply('180 Ringing', 1, 'INVITE'), reply('200 OK', 1, 'INVITE', sdp),
  req('ACK', 1, ';tag=uas1', 'z9hG4bK-1-2'), req('BYE', 2, ';tag=uas1', 'z9hG4bK-1-3'), reply('200 OK', 2, 'BYE'),
];

/** What SipCore.receive() asks of one message on the stateless forward path. */
function proxyPath(buf: Buffer): number {
  const msg = parseMessage(buf);
  if (msg.isRequest) {
    if (validateMessage(msg) !== null) throw new Error('rejected');
    let n = msg.to().tag?.length ?? 0;
    n += msg.maxForwards() + msg.getHeader(HDR.MAX_FORWARDS)!.valueStart + (msg.getHeader(HDR.ROUTE) === undefined ? 1 : 0);
    n += msg.ruri.length + msg.callId().length + msg.from().tag!.length + msg.cseq().num;
    const top = msg.topVia();
    for (const v of msg.vias()) n += v.branch!.length;
    return n + top.host.length + top.port + (top.hasRport ? 1 : 0) + (top.received === undefined ? 1 : 0) + top.end;
  }
  let n = msg.cseq().methodId;
  if (validateMessage(msg) !== null) throw new Error('dropped');
  const vias = msg.vias();
  const next = vias[1];
  n += vias[0].host.length + vias[0].port + vias[0].removeEnd;
  return n + (next.received ?? next.maddr ?? next.host).length + (next.rport ? 1 : next.port);
}

function call(): number {
  let n = 0;
  for (let i = 0; i < CALL.length; i++) n += proxyPath(CALL[i]);
  return n;
}

const calls = Math.max(1, Math.floor(n / 6));
let best = Infinity;
for (let round = 0; round < 5; round++) {
  const r = run(call, calls);
  best = Math.min(best, r.cpuNs / CALL.length);
}
console.log(`SIPp call through parse + validate + SipCore's accessors: ${best.toFixed(0)} ns/msg CPU (best of 5 rounds of ${calls} calls)`);
