// The requests of SIPp's default uac call (INVITE with SDP, ACK, BYE) as the micro-benchmarks
// feed them to the parser and the core: same headers, sizes and Call-ID as on the wire.

export const UAC = '127.0.0.1:5061';

/** From, To (with the given to-tag suffix), Call-ID and CSeq lines of the call. */
export const commonHeaders = (n: number, method: string, totag: string): string =>
  `From: sipp <sip:sipp@127.0.0.1:5061>;tag=12345SIPpTag001\r\nTo: service <sip:service@127.0.0.1:5060>${totag}\r\n` +
  `Call-ID: 1-12345@127.0.0.1\r\nCSeq: ${n} ${method}\r\n`;

export const SDP = 'v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';

export const sippRequest = (method: string, n: number, totag: string, branch: string, body = ''): Buffer =>
  Buffer.from(`${method} sip:service@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP ${UAC};branch=${branch}\r\n${commonHeaders(n, method, totag)}` +
    `Contact: sip:sipp@127.0.0.1:5061\r\nMax-Forwards: 70\r\nSubject: Performance Test\r\n` +
    (body ? `Content-Type: application/sdp\r\n` : '') + `Content-Length: ${body.length}\r\n\r\n${body}`);
