// The e2e harness fails a test whose server's routing script threw: through the
// viaduct:script_errors counter (RPC) and through the server's log when it has no HTTP server.
// A test that provokes script errors on purpose says so with expectScriptErrors.
import { afterEach, describe, expect, it } from 'vitest';
import { freePorts, releasePorts, sendUdp, startViaduct, type ViaductProcess } from './harness.js';

const LOOPBACK = '127.0.0.1';

/** Answers every request with 500, then throws when the R-URI user is "boom". */
const SCRIPT = `
function ksr_request_route() {
  KSR.sl.sl_send_reply(500, "Answered first");
  if (KSR.pv.get("$rU") === "boom") { throw new Error("boom in the script"); }
}
`;

const request = (user: string, port: number) => [
  `OPTIONS sip:${user}@127.0.0.1:${port} SIP/2.0`,
  `Via: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bK${user}${Date.now()}`,
  'From: <sip:tester@example.com>;tag=t1',
  `To: <sip:${user}@example.com>`,
  `Call-ID: script-errors-${user}-${Date.now()}`,
  'CSeq: 1 OPTIONS',
  'Max-Forwards: 70',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');

describe('script errors in the server under test', () => {
  let ports: number[] = [];
  let viaduct: ViaductProcess | undefined;

  afterEach(async () => {
    const v = viaduct;
    viaduct = undefined;
    try {
      await v?.stop();
    } finally {
      releasePorts(ports);
      ports = [];
    }
  });

  /** Starts the server, sends one request to `user` and waits for the 500 (the route has run). */
  async function serve(user: string, opts: { http?: string; expectScriptErrors?: boolean } = {}) {
    ports = await freePorts(1);
    const [port] = ports as [number];
    const v = await startViaduct({ script: SCRIPT, listen: [`udp:${LOOPBACK}:${port}`], workers: 0, ...opts });
    viaduct = v;
    const replies = await sendUdp(LOOPBACK, port, request(user, port), { waitReplyMs: 3000, maxReplies: 1 });
    expect(replies.map((r) => r.data.toString('latin1').split('\r\n')[0])).toEqual(['SIP/2.0 500 Answered first']);
    return v;
  }

  it('a script that did not throw stops cleanly', async () => {
    const v = await serve('fine');
    viaduct = undefined;
    expect(await v.stop()).toEqual({ code: 0, signal: null });
  });

  it.each([
    { how: 'counted (RPC)', http: undefined, counted: '1' },
    { how: 'logged (no HTTP server)', http: 'off', counted: 'unknown' },
  ])('stop() fails when the script threw: $how', async ({ http, counted }) => {
    const v = await serve('boom', { http });
    viaduct = undefined;
    const failure = await v.stop().then(() => 'stopped without complaint', (e: Error) => e.message);
    expect(failure).toMatch(/^the routing script under test threw/);
    expect(failure).toContain(`viaduct:script_errors = ${counted}, 1 logged`);
    expect(failure).toContain('boom in the script');
    expect(await v.stop()).toEqual({ code: 0, signal: null }); // reported once
  });

  it('stop() passes when the test expects script errors', async () => {
    const v = await serve('boom', { expectScriptErrors: true });
    expect(await v.rpc('stats.get_statistics', 'viaduct:script_errors')).toEqual(['viaduct:script_errors = 1']);
    viaduct = undefined;
    expect(await v.stop()).toEqual({ code: 0, signal: null });
  });
});
