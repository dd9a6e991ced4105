import { test } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { parseMessage, SipParseError } from '../../../src/core/sip/parser.js';
import { validateMessage } from '../../../src/core/sip/validate.js';
test('scratch', () => {
  const root = path.resolve(__dirname, '../../../../shared/testdata/rfc4475');
  for (const d of ['valid', 'invalid']) for (const f of fs.readdirSync(path.join(root, d)).sort()) {
    const buf = fs.readFileSync(path.join(root, d, f));
    let out: string;
    try {
      const m = parseMessage(buf);
      const v = validateMessage(m);
      out = v ? `VALIDATE ${v.code} ${v.reason}` : `OK ${m.isRequest ? m.method + ' ' + m.ruri : m.status + ' ' + m.reason} | ${m.callId()} | ${m.cseq().num} ${m.cseq().method} | ${m.topVia().branch} | body ${m.bodyLength} | vias ${m.vias().length}`;
    } catch (e) { out = e instanceof SipParseError ? `PARSE ${e.reason}` : `CRASH ${(e as Error).stack}`; }
    console.log(d, f, out);
  }
});
