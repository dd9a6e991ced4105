// Builders for SIP messages in unit tests.
import { parseMessage } from '../../../src/core/sip/parser.js';
import type { SipMessage } from '../../../src/core/sip/message.js';

/** Lines joined with CRLF, then the empty line and the body. */
export function wire(lines: string[], body = ''): Buffer {
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n' + body);
}

/** The header lines of the default INVITE, without Content-Length. */
export const INVITE_HEADERS: readonly string[] = [
  'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds',
  'Max-Forwards: 70',
  'To: Bob <sip:bob@biloxi.example.com>',
  'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
  'CSeq: 314159 INVITE',
  'Contact: <sip:alice@pc33.atlanta.example.com>',
];

/** A well-formed INVITE; `headers` replaces the default header lines when given. */
export function invite(headers?: string[], body = ''): Buffer {
  return wire(
    [
      'INVITE sip:bob@biloxi.example.com SIP/2.0',
      ...(headers ?? [...INVITE_HEADERS, `Content-Length: ${Buffer.byteLength(body)}`]),
    ],
    body,
  );
}

/** The mandatory headers of a request, for tests that add their own lines. */
export const MANDATORY = [
  'To: <sip:bob@biloxi.example.com>',
  'From: <sip:alice@atlanta.example.com>;tag=1',
  'Call-ID: c1@atlanta.example.com',
  'CSeq: 1 INVITE',
];

export function parse(lines: string[], body = ''): SipMessage {
  return parseMessage(wire(lines, body));
}

/** buf without the bytes [start, end). */
export function cut(buf: Buffer, start: number, end: number): Buffer {
  return Buffer.concat([buf.subarray(0, start), buf.subarray(end)]);
}
