// Transactions as the tm logic will store them: a ~1 KB INVITE relayed on one branch with a 180
// sent back upstream, and a BYE. Used by bench/micro/tm-store.ts and the store's tests (test/unit/tm/).
import { TM_STATE, tmKey, type TmRecord } from '../../src/modules/tm/store/record.js';

const SDP = 'v=0\r\no=user1 53655765 2353687637 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n' +
  'm=audio 6000 RTP/AVP 0 8 18 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:18 G729/8000\r\n' +
  'a=fmtp:18 annexb=no\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n' +
  'a=x-padding:0123456789012345678901234567890123456789012345678901234567890123456789\r\n'.repeat(3);

function request(method: string, i: number, vias: string, body: string): Buffer {
  return Buffer.from(`${method} sip:bob@192.0.2.20:5060 SIP/2.0\r\n${vias}` +
    `From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774-${i}\r\nTo: <sip:bob@biloxi.example.com>\r\n` +
    `Call-ID: a84b4c76e66710-${i}@pc33.atlanta.example.com\r\nCSeq: 314159 ${method}\r\n` +
    `Contact: <sip:alice@192.0.2.10:5060>\r\nMax-Forwards: 70\r\nUser-Agent: SIPp/viaduct bench\r\n` +
    (body ? 'Content-Type: application/sdp\r\n' : '') + `Content-Length: ${body.length}\r\n\r\n${body}`, 'latin1');
}

const callerVia = (i: number) => `Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds-${i}\r\n`;
const proxyVia = (i: number) => `Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKd7a1.${i}.0\r\n`;

export function inviteRecord(i: number, owner = 2, now = 1_700_000_000_000): TmRecord {
  const req = request('INVITE', i, callerVia(i), SDP);
  const out = request('INVITE', i, proxyVia(i) + 'Record-Route: <sip:127.0.0.1;lr>\r\n' + callerVia(i), SDP);
  return {
    key: tmKey(`z9hG4bK776asdhds-${i}`, '192.0.2.10:5060', 'INVITE'),
    owner, callId: `a84b4c76e66710-${i}@pc33.atlanta.example.com`, method: 'INVITE',
    state: TM_STATE.PROCEEDING, created: now, lifetimeDeadline: now + 180_000,
    request: req,
    reply: Buffer.from(`SIP/2.0 180 Ringing\r\n${callerVia(i)}From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774-${i}\r\n` +
      `To: <sip:bob@biloxi.example.com>;tag=a6c85cf\r\nCall-ID: a84b4c76e66710-${i}@pc33.atlanta.example.com\r\nCSeq: 314159 INVITE\r\n` +
      'Record-Route: <sip:127.0.0.1;lr>\r\nContact: <sip:bob@192.0.2.20>\r\nContent-Length: 0\r\n\r\n', 'latin1'),
    replyCode: 180,
    onReply: 'OurReplyRoute', onFailure: 'MANAGE_FAILURE', onBranch: '', onBranchFailure: '',
    msgFlags: 1 << 3, tFlags: 0,
    avps: new Map<string, (string | number)[]>([['caller', ['alice']], ['attempt', [1]]]),
    branches: [{
      uri: 'sip:bob@192.0.2.20:5060', dst: 'udp:192.0.2.20:5060', socket: 'udp:127.0.0.1:5060',
      branchId: `z9hG4bKd7a1.${i}.0`, state: TM_STATE.PROCEEDING, lastCode: 180,
      retrInterval: 500, retrNext: 0, frDeadline: now + 120_000, flags: 0, request: out,
    }],
  };
}

export function byeRecord(i: number, owner = 2, now = 1_700_000_000_000): TmRecord {
  const req = request('BYE', i, callerVia(i), '');
  return {
    key: tmKey(`z9hG4bKbye-${i}`, '192.0.2.10:5060', 'BYE'),
    owner, callId: `a84b4c76e66710-${i}@pc33.atlanta.example.com`, method: 'BYE',
    state: TM_STATE.COMPLETED, created: now, lifetimeDeadline: now + 32_000,
    request: req,
    reply: Buffer.from(`SIP/2.0 200 OK\r\n${callerVia(i)}CSeq: 314160 BYE\r\nContent-Length: 0\r\n\r\n`, 'latin1'),
    replyCode: 200,
    onReply: '', onFailure: '', onBranch: '', onBranchFailure: '', msgFlags: 0, tFlags: 0, avps: null,
    branches: [{
      uri: 'sip:bob@192.0.2.20:5060', dst: 'udp:192.0.2.20:5060', socket: 'udp:127.0.0.1:5060',
      branchId: `z9hG4bKbye.${i}.0`, state: TM_STATE.COMPLETED, lastCode: 200,
      retrInterval: 500, retrNext: 0, frDeadline: 0, flags: 0, request: request('BYE', i, proxyVia(i) + callerVia(i), ''),
    }],
  };
}
