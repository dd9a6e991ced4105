// What the core writes into the top Via of a request it forwards or answers (RFC 3261 18.2.1,
// RFC 3581): received and rport as seen on the wire, whatever the sender wrote there itself.
import { describe, expect, it } from 'vitest';
import { setup } from './ksr-harness.js';

const request = (via: string) => `OPTIONS sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP ${via}
From: <sip:alice@example.com>;tag=f1
To: <sip:bob@example.com>
Call-ID: via-1
CSeq: 1 OPTIONS
Max-Forwards: 70
Content-Length: 0

`;

/** The top Via line of what the core sent, for a forward and for a local reply. */
function topVias(via: string): { forwarded: string; replied: string } {
  const h = setup();
  const top = (text: string) => /\r\nVia: SIP\/2\.0\/UDP ([^\r]*)\r\n/.exec(text)![1]!;
  const fwd = h.run(() => { h.KSR.forward_uri('sip:127.0.0.1:5070'); }, request(via));
  // the forward puts our Via first: the client's is the second
  const forwarded = /\r\nVia: [^\r]*\r\nVia: SIP\/2\.0\/UDP ([^\r]*)\r\n/.exec(fwd[0]!.text)![1]!;
  const replied = top(h.run(() => { h.KSR.sl.sl_send_reply(200, 'OK'); }, request(via))[0]!.text);
  return { forwarded, replied };
}

describe('top Via: received and rport', () => {
  it('adds received when the source differs, fills a bare rport, leaves a matching Via alone', () => {
    expect(topVias('192.0.2.10:5061;branch=z9hG4bKv1')).toEqual({ forwarded: '192.0.2.10:5061;branch=z9hG4bKv1', replied: '192.0.2.10:5061;branch=z9hG4bKv1' });
    expect(topVias('198.51.100.7:5061;branch=z9hG4bKv1').forwarded).toBe('198.51.100.7:5061;branch=z9hG4bKv1;received=192.0.2.10');
    expect(topVias('192.0.2.10:5061;rport;branch=z9hG4bKv1').forwarded).toBe('192.0.2.10:5061;rport=5061;branch=z9hG4bKv1;received=192.0.2.10');
  });

  it('overwrites a received and an rport value the sender wrote itself: it cannot aim the replies elsewhere', () => {
    const v = topVias('192.0.2.10;received=203.0.113.66;rport=9;branch=z9hG4bKv2');
    expect(v.forwarded).toBe('192.0.2.10;received=192.0.2.10;rport=5061;branch=z9hG4bKv2');
    expect(v.replied).toBe(v.forwarded);
    expect(topVias('192.0.2.10:5061;branch=z9hG4bKv3;received=192.0.2.10').forwarded).toBe('192.0.2.10:5061;branch=z9hG4bKv3;received=192.0.2.10');
  });
});

describe('Max-Forwards 0', () => {
  const at0 = (method: string) => request('192.0.2.10:5061;branch=z9hG4bKmf').replace(/OPTIONS/g, method).replace('Max-Forwards: 70', 'Max-Forwards: 0');

  it('an OPTIONS reaches the script, which may answer it (RFC 3261 16.3 step 3); forwarding it is a 483', () => {
    const h = setup();
    let rc = 0;
    const replies = h.run(() => { rc = h.KSR.maxfwd.process_maxfwd(10); if (rc < 0) h.KSR.sl.sl_send_reply(200, 'Keepalive'); }, at0('OPTIONS'));
    expect(rc).toBe(-1);
    expect(replies.map((r) => r.text.split('\r\n')[0])).toEqual(['SIP/2.0 200 Keepalive']);
    const forwarded = h.run(() => { expect(h.KSR.forward_uri('sip:127.0.0.1:5070')).toBe(-1); }, at0('OPTIONS'));
    expect(forwarded.map((r) => r.text.split('\r\n')[0])).toEqual(['SIP/2.0 483 Too Many Hops']);
  });

  it('any other request is answered 483 by the core before the script', () => {
    const h = setup();
    expect(h.deliver(at0('MESSAGE')).map((r) => r.text.split('\r\n')[0])).toEqual(['SIP/2.0 483 Too Many Hops']);
  });
});
