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

function run(n: number): { ns: number; sink: number } {
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const msg = parseMessage(INVITE);
    sink += msg.callId().length + msg.cseq().num + msg.topVia().branch!.length + msg.from().tag!.length;
  }
  const ns = Number(process.hrtime.bigint() - t0) / n;
  return { ns, sink };
}

const n = Number(process.argv[2] ?? 1_000_000);
run(Math.min(n, 200_000)); // warm-up: let the JIT settle
const { ns, sink } = run(n);
console.log(`parse INVITE (${INVITE.length} bytes) + Call-ID, CSeq, top Via, From tag: ${ns.toFixed(0)} ns/msg over ${n} messages (sink ${sink % 10})`);
