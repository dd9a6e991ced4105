// Hostile input: mutated torture messages never crash the parser, the validator or an
// accessor with anything but SipParseError (a TypeError here would kill a worker).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SipMessage } from '../../../src/core/sip/message.js';
import { SipParseError, parseMessage } from '../../../src/core/sip/parser.js';
import { parseUri } from '../../../src/core/sip/uri.js';
import { validateMessage } from '../../../src/core/sip/validate.js';
import { RFC4475_DIR } from '../../fixtures/paths.js';

const VALID = path.join(RFC4475_DIR, 'valid');

/** Deterministic PRNG (mulberry32), so a failure reproduces. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SPECIAL = Buffer.from(' \t\r\n:;,=<>"\\@[]?%*/0');

function mutate(src: Buffer, rand: () => number): Buffer {
  const buf = Buffer.from(src);
  const n = 1 + Math.floor(rand() * 4);
  let out = buf;
  for (let i = 0; i < n; i++) {
    const at = Math.floor(rand() * out.length);
    const kind = rand();
    if (kind < 0.4) out[at] = SPECIAL[Math.floor(rand() * SPECIAL.length)];
    else if (kind < 0.6) out[at] = Math.floor(rand() * 256);
    else if (kind < 0.8) out = Buffer.concat([out.subarray(0, at), out.subarray(Math.min(out.length, at + 1 + Math.floor(rand() * 8)))]);
    else out = out.subarray(0, at);
  }
  return out;
}

function touchAll(msg: SipMessage): void {
  const steps: (() => unknown)[] = [
    () => msg.callId(), () => msg.cseq(), () => msg.vias(), () => msg.topVia(), () => msg.from(), () => msg.to(),
    () => msg.routes(), () => msg.recordRoutes(), () => msg.contacts(), () => msg.maxForwards(), () => msg.body(),
    () => msg.reason, () => msg.ruri, () => (msg.isRequest ? msg.requestUri() : null),
    () => msg.contacts().forEach((c) => c.star || parseUri(c.uri)),
    // values built on first access agree with the fields parsed at once
    () => msg.vias().forEach((v) => {
      const p = v.params;
      expect([p.branch, p.received, p.rport, p.maddr]).toEqual([v.branch, v.received, v.rport, v.maddr]);
    }),
    () => [msg.from(), msg.to(), ...msg.contacts(), ...msg.routes()].forEach((na) => {
      expect(na.params.tag).toBe(na.tag);
      expect(typeof (na.displayName ?? '')).toBe('string');
    }),
    () => msg.headers.forEach((h) => msg.headerValue(h)),
  ];
  for (const step of steps) {
    try {
      step();
    } catch (e) {
      if (!(e instanceof SipParseError)) throw e;
    }
  }
}

describe('mutated RFC 4475 messages', () => {
  it('only ever throw SipParseError, and framing offsets stay inside the datagram', () => {
    const rand = rng(4475);
    let parsed = 0;
    for (const file of fs.readdirSync(VALID)) {
      const src = fs.readFileSync(path.join(VALID, file));
      for (let i = 0; i < 400; i++) {
        const buf = mutate(src, rand);
        let msg: SipMessage;
        try {
          msg = parseMessage(buf);
        } catch (e) {
          if (!(e instanceof SipParseError)) throw new Error(`${file} #${i}: ${String(e)}\n${buf.toString('latin1')}`);
          continue;
        }
        parsed++;
        expect(msg.bodyStart + msg.bodyLength).toBeLessThanOrEqual(buf.length);
        for (const h of msg.headers) {
          expect(h.lineStart <= h.nameStart && h.nameEnd <= h.valueStart && h.valueStart <= h.valueEnd && h.valueEnd <= h.lineEnd).toBe(true);
        }
        validateMessage(msg);
        touchAll(msg);
      }
    }
    expect(parsed).toBeGreaterThan(1000);
  });
});
