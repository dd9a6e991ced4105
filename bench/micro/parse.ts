// Micro-benchmark of the lazy SIP parser: parse a typical INVITE and read what a stateless
// proxy reads (Call-ID, CSeq, top Via, From tag). Run: node dist/bench/micro/parse.js [N]
import { parseMessage } from '../../src/core/sip/parser.js';

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
