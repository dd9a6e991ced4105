// sl's reply builder copies the header bytes it echoes as received: invalid UTF-8 in a From is
// not re-encoded (which used to grow it up to 3x toward a possibly spoofed source).
import { describe, expect, it } from 'vitest';
import { setup } from '../core/ksr-harness.js';

function request(fromDisplay: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from('OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bKsl1;rport\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKsl0\r\nFrom: "', 'latin1'),
    fromDisplay,
    Buffer.from('" <sip:alice@example.com>;tag=f1\r\nTo: <sip:bob@example.com>\r\nCall-ID: sl-bytes-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n', 'latin1'),
  ]);
}

describe('sl reply builder', () => {
  it('echoes Via, From, To, Call-ID and CSeq byte for byte, with received and rport on the top Via', () => {
    const h = setup();
    const bytes: Buffer[] = [];
    h.core.transport.send = (_s, d) => { bytes.push(Buffer.from(d)); };
    h.core.routes = { request: () => { h.KSR.sl.sl_send_reply(404, 'Not Found'); }, named: () => undefined };
    const junk = Buffer.alloc(300);
    for (let i = 0; i < junk.length; i++) junk[i] = 0x80 + (i % 60); // continuation bytes: invalid UTF-8
    const req = request(junk);
    h.core.receive(req, '192.0.2.10', 5061, 0);
    expect(bytes.length).toBe(1);
    const reply = bytes[0]!;
    const fromLine = (b: Buffer) => { const s = b.indexOf('\r\nFrom: '); return b.subarray(s + 2, b.indexOf('\r\n', s + 2)); };
    expect(fromLine(reply).equals(fromLine(req))).toBe(true);
    expect(reply.length).toBeLessThan(req.length + 100);
    const text = reply.toString('latin1');
    expect(text).toMatch(/^SIP\/2.0 404 Not Found\r\n/);
    expect(text).toContain('Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bKsl1;rport=5061;received=192.0.2.10\r\n');
    expect(text).toContain('Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKsl0\r\n');
    expect(text).toMatch(/\r\nTo: <sip:bob@example.com>;tag=vdtest-[0-9a-f]{8}\r\n/);
    expect(text).toContain('\r\nCall-ID: sl-bytes-1\r\nCSeq: 1 OPTIONS\r\n');
  });

  it('sends a reason phrase and append_to_reply headers from the script as UTF-8', () => {
    const h = setup();
    const bytes: Buffer[] = [];
    h.core.transport.send = (_s, d) => { bytes.push(Buffer.from(d)); };
    h.core.routes = { request: () => { h.KSR.hdr.append_to_reply('X-Note: café'); h.KSR.sl.sl_send_reply(480, 'Indisponible ☎'); }, named: () => undefined };
    h.core.receive(request(Buffer.from('Alice')), '192.0.2.10', 5061, 0);
    const text = bytes[0]!.toString('utf8');
    expect(text).toMatch(/^SIP\/2.0 480 Indisponible ☎\r\n/);
    expect(text).toContain('\r\nX-Note: café\r\n');
  });

  it('builds the exact reply, the same bytes each time for one request, a reason with CR LF flattened', () => {
    const h = setup();
    const bytes: Buffer[] = [];
    h.core.transport.send = (_s, d) => { bytes.push(Buffer.from(d)); };
    h.core.routes = {
      request: () => {
        h.KSR.hdr.append_to_reply('X-Note: café');
        h.KSR.sl.sl_send_reply(486, 'Busy\r\nHere');
        h.KSR.sl.sl_send_reply(486, 'Busy\r\nHere'); // the queued header is not encoded twice
        h.KSR.sl.sl_send_reply(100, 'Trying');
      },
      named: () => undefined,
    };
    h.core.receive(request(Buffer.from('Alice')), '192.0.2.10', 5061, 0);
    expect(bytes.length).toBe(3);
    const text = bytes[0]!.toString('utf8');
    expect(text).toMatch(new RegExp('^SIP/2.0 486 Busy  Here\r\n' +
      'Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bKsl1;rport=5061;received=192.0.2.10\r\n' +
      'Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKsl0\r\n' +
      'From: "Alice" <sip:alice@example.com>;tag=f1\r\n' +
      'To: <sip:bob@example.com>;tag=vdtest-[0-9a-f]{8}\r\n' +
      'Call-ID: sl-bytes-1\r\nCSeq: 1 OPTIONS\r\nX-Note: café\r\n(Server: [^\r]*\r\n)?Content-Length: 0\r\n\r\n$'));
    expect(bytes[1]!.equals(bytes[0]!)).toBe(true);
    // a 100 gets no To-tag
    expect(bytes[2]!.toString('utf8')).toContain('\r\nTo: <sip:bob@example.com>\r\nCall-ID: sl-bytes-1\r\n');
  });
});
