// Transactions as tm keeps them (TxRecord): a ~1 KB INVITE relayed on one branch with a 180
// sent back upstream, and a BYE with its 200. Used by bench/micro/tm-store.ts and the store's
// tests (test/unit/tm/). Times are on the thread's performance.now() clock, as tm's.
import { METHOD_BYE, METHOD_INVITE } from '../../src/core/sip/methods.js';
import { BR_COMPLETED, BR_PROCEEDING, CANCEL_NONE, TX_COMPLETED, TX_PROCEEDING, type TxRecord } from '../../src/modules/tm/record.js';

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
const key = (branch: string, method: string) => `${branch}\n192.0.2.10:5060\n${method}`;

export function inviteRecord(i: number, now = 1000): TxRecord {
  const req = request('INVITE', i, callerVia(i), SDP);
  const out = request('INVITE', i, proxyVia(i) + 'Record-Route: <sip:127.0.0.1;lr>\r\n' + callerVia(i), SDP);
  return {
    key: key(`z9hG4bK776asdhds-${i}`, 'INVITE'), method: 'INVITE', methodId: METHOD_INVITE,
    callId: `a84b4c76e66710-${i}@pc33.atlanta.example.com`, state: TX_PROCEEDING, request: req,
    srcIp: '192.0.2.10', srcPort: 5060, sock: 0, replyHost: '192.0.2.10', replyPort: 5060,
    ruri: null, rr: 'Record-Route: <sip:127.0.0.1;lr>\r\n', rrParams: '',
    uasCode: 180,
    lastReply: Buffer.from(`SIP/2.0 180 Ringing\r\n${callerVia(i)}From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774-${i}\r\n` +
      `To: <sip:bob@biloxi.example.com>;tag=a6c85cf\r\nCall-ID: a84b4c76e66710-${i}@pc33.atlanta.example.com\r\nCSeq: 314159 INVITE\r\n` +
      'Record-Route: <sip:127.0.0.1;lr>\r\nContact: <sip:bob@192.0.2.20>\r\nContent-Length: 0\r\n\r\n', 'latin1'),
    branches: [{
      branch: `z9hG4bKd7a1.${i}.0`, sock: 0, host: '192.0.2.20', port: 5060, uri: '', state: BR_PROCEEDING,
      lastCode: 180, lastReason: 'Ringing', finalReply: null, request: out, retrAt: now + 500, retrInterval: 500,
      frAt: now + 120_000, cancel: CANCEL_NONE, timedOut: false, dropped: false,
      cancelRequest: null, cancelRetrAt: 0, cancelRetrInterval: 0, cancelEndAt: 0,
    }],
    onReply: 'OurReplyRoute', onFailure: 'MANAGE_FAILURE', onBranch: '', onBranchFailure: '',
    flags: 1 << 3, tFlags: 0,
    avps: new Map<string, (string | number)[]>([['caller', ['alice']], ['attempt', [1]]]),
    xavps: null,
    frTimer: 30_000, frInvTimer: 120_000, retr1: 500, retr2: 4000, uasRetrAt: 0, uasRetrInterval: 0,
    endAt: now + 180_000, waitAt: 0, canceled: false, createdAt: now,
    lumps: [], maxfwdDone: true, uasRetrEndAt: 0,
  };
}

export function byeRecord(i: number, now = 1000): TxRecord {
  const req = request('BYE', i, callerVia(i), '');
  const ok = Buffer.from(`SIP/2.0 200 OK\r\n${callerVia(i)}CSeq: 314160 BYE\r\nContent-Length: 0\r\n\r\n`, 'latin1');
  return {
    key: key(`z9hG4bKbye-${i}`, 'BYE'), method: 'BYE', methodId: METHOD_BYE,
    callId: `a84b4c76e66710-${i}@pc33.atlanta.example.com`, state: TX_COMPLETED, request: req,
    srcIp: '192.0.2.10', srcPort: 5060, sock: 0, replyHost: '192.0.2.10', replyPort: 5060,
    ruri: null, rr: null, rrParams: '', uasCode: 200, lastReply: ok,
    branches: [{
      branch: `z9hG4bKbye.${i}.0`, sock: 0, host: '192.0.2.20', port: 5060, uri: '', state: BR_COMPLETED,
      lastCode: 200, lastReason: 'OK', finalReply: ok, request: request('BYE', i, proxyVia(i) + callerVia(i), ''),
      retrAt: 0, retrInterval: 500, frAt: 0, cancel: CANCEL_NONE, timedOut: false, dropped: false,
      cancelRequest: null, cancelRetrAt: 0, cancelRetrInterval: 0, cancelEndAt: 0,
    }],
    onReply: '', onFailure: '', onBranch: '', onBranchFailure: '', flags: 0, tFlags: 0,
    avps: null, xavps: null,
    frTimer: 30_000, frInvTimer: 120_000, retr1: 500, retr2: 4000, uasRetrAt: 0, uasRetrInterval: 0,
    endAt: now + 32_000, waitAt: now + 5000, canceled: false, createdAt: now,
    lumps: [], maxfwdDone: true, uasRetrEndAt: 0,
  };
}
