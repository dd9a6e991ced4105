// The seeds' header scenarios through real SIPp dialogs: the request route adds X-Proxied,
// rewrites the From user and record-routes; the reply route adds X-Reply-Route; in-dialog
// requests follow the Record-Route back through the proxy (loose_route), which removes its own
// Route before forwarding. scenarios/uac-dialog.xml and uas-dialog.xml check each of these and
// fail the call when one is missing; the negative cases below prove each check can fail.
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  freePorts,
  runSipp,
  startSipp,
  startViaduct,
  stopAll,
  type SippProcess,
  describeSippRun,
  sippCounts,
  type ViaductProcess,
} from './harness.js';

const LOOPBACK = '127.0.0.1';
const UAC = fileURLToPath(new URL('./scenarios/uac-dialog.xml', import.meta.url));
const UAS = fileURLToPath(new URL('./scenarios/uas-dialog.xml', import.meta.url));

interface ScriptParts {
  xProxied: boolean;
  rewriteFrom: boolean;
  recordRoute: boolean;
  looseRoute: boolean;
  replyHeader: boolean;
}
const FULL: ScriptParts = { xProxied: true, rewriteFrom: true, recordRoute: true, looseRoute: true, replyHeader: true };

/** The script of the brief, with parts left out for the negative cases. */
function script(uasPort: number, p: ScriptParts): string {
  const inDialog = p.looseRoute
    ? 'if (KSR.rr.loose_route() > 0) { KSR.forward(); return; } KSR.sl.sl_send_reply(404, "Not here"); return;'
    : 'KSR.forward(); return;'; // forwards by the R-URI and leaves the proxy's Route in place
  return [
    'function ksr_request_route(){',
    `  if (KSR.siputils.has_totag() > 0) { ${inDialog} }`,
    p.xProxied ? '  KSR.hdr.append("X-Proxied: You betcha\\r\\n");' : '',
    p.rewriteFrom ? '  KSR.pv.sets("$fU", "rewritten");' : '',
    p.recordRoute ? '  KSR.rr.record_route();' : '',
    `  KSR.forward_uri("sip:127.0.0.1:${uasPort}");`,
    '}',
    `function ksr_reply_route(){ ${p.replyHeader ? 'KSR.hdr.append("X-Reply-Route: seen\\r\\n");' : ''} }`,
    '',
  ].join('\n');
}


describe('header manipulation and record-routing through uac-dialog.xml / uas-dialog.xml', () => {
  let ports: number[] = [];
  let uas: SippProcess | undefined;
  let viaduct: ViaductProcess | undefined;

  afterEach(async () => {
    await stopAll([uas], viaduct, ports);
    uas = undefined;
    viaduct = undefined;
    ports = [];
  });

  async function dialogs(opts: { workers: number; parts: ScriptParts; calls: number; rate: number; uacArgs?: string[] }) {
    ports = await freePorts(3);
    const [proxyPort, uasPort, uacPort] = ports as [number, number, number];
    viaduct = await startViaduct({ script: script(uasPort, opts.parts), listen: [`udp:${LOOPBACK}:${proxyPort}`], workers: opts.workers });
    uas = startSipp({ scenario: UAS, localIp: LOOPBACK, localPort: uasPort });
    await uas.ready;
    const uac = await runSipp({
      scenario: UAC,
      remote: `${LOOPBACK}:${proxyPort}`,
      localIp: LOOPBACK,
      localPort: uacPort,
      rate: opts.rate,
      calls: opts.calls,
      extraArgs: opts.uacArgs,
      timeoutMs: 40_000,
    });
    // Let the last calls through the uas's 500 ms timewait, then stop it.
    const server = await uas.stop({ graceful: true, graceMs: 3000 });
    uas = undefined;
    const report = `${describeSippRun('uac', uac)}\n${describeSippRun('uas', server)}\nviaduct stderr:\n${viaduct.stderr().slice(-2000)}`;
    return { uac, server, report };
  }

  it.each([0, 1])('--workers %i: 50 calls at 10 calls/s pass every check of both scenarios', async (workers) => {
    const { uac, server, report } = await dialogs({ workers, parts: FULL, calls: 50, rate: 10 });
    console.log(`headers, workers=${workers}\n${report}`);
    expect(uac, report).toMatchObject({ created: 50, successful: 50, failed: 0, timedOut: false });
    expect(sippCounts(uac), report).toEqual([
      ['send', 'INVITE', 50],
      ['recv', '100', 0],
      ['recv', '180', 50],
      ['recv', '200', 50],
      ['send', 'ACK', 50],
      ['send', 'BYE', 50],
      ['recv', '200', 50],
    ]);
    expect(uac.messages.every((m) => m.timeout === 0 && m.unexpected === 0), report).toBe(true);
    expect(server, report).toMatchObject({ created: 50, successful: 50, failed: 0 });
    expect(sippCounts(server), report).toEqual([
      ['recv', 'INVITE', 50],
      ['send', '180', 50],
      ['send', '200', 50],
      ['recv', 'ACK', 50],
      ['recv', 'BYE', 50],
      ['send', '200', 50],
    ]);
    expect(server.errors, report).toEqual([]);
    expect(uac.errors, report).toEqual([]);
  }, 60_000);

  // Each negative case removes one part of the script and names the check that must catch it:
  // the uas's INVITE checks (xp, fu, rr) and in-dialog Route checks (r1, r2), the uac's 200
  // check (rh). SIPp counts a call whose check failed as failed on the side that checked.
  // Without Record-Route the uas never sees the ACK/BYE (the proxy answers them 404 Not here):
  // its calls stay unfinished, so there the uac's calls are the ones that fail.
  const negatives: Array<{ name: string; parts: Partial<ScriptParts>; side: 'uas' | 'uac'; failure: string; error: RegExp; failedSide?: 'uac' }> = [
    { name: 'no X-Proxied header', parts: { xProxied: false }, side: 'uas', failure: 'RegexpDoesntMatch', error: /with regexp 'X-Proxied: You betcha'/ },
    { name: 'From user not rewritten', parts: { rewriteFrom: false }, side: 'uas', failure: 'RegexpDoesntMatch', error: /<sip:caller@.*with regexp 'sip:rewritten@'/ },
    { name: 'no Record-Route', parts: { recordRoute: false }, side: 'uas', failure: 'UnexpectedMessage', error: /with regexp 'Record-Route: \.sip:/, failedSide: 'uac' },
    { name: 'no X-Reply-Route in the reply route', parts: { replyHeader: false }, side: 'uac', failure: 'RegexpDoesntMatch', error: /SIP\/2\.0 200 OK[\s\S]*with regexp 'X-Reply-Route: seen'/ },
    {
      name: 'in-dialog requests keep the proxy Route (no loose_route)',
      parts: { looseRoute: false },
      side: 'uas',
      failure: 'RegexpShouldntMatch',
      error: /Regexp matched but should not: looking in ' <sip:127\.0\.0\.1:\d+;lr>'/,
    },
  ];

  it.each(negatives)('the check fails when the script has $name', async ({ parts, side, failure, error, failedSide }) => {
    const { uac, server, report } = await dialogs({
      workers: 0,
      parts: { ...FULL, ...parts },
      calls: 3,
      rate: 10,
      // give up quickly on transactions the other side abandoned
      uacArgs: ['-max_invite_retrans', '1', '-max_non_invite_retrans', '1'],
    });
    expect(uac.created, report).toBe(3);
    const checker = side === 'uas' ? server : uac;
    const failing = (failedSide ?? side) === 'uas' ? server : uac;
    expect(checker.created, report).toBe(3);
    expect(checker.successful, report).toBe(0);
    expect(checker.errors.join('\n'), report).toMatch(error);
    expect(failing.failed, report).toBe(3);
    expect(failing.failures[failure], report).toBe(3);
  }, 60_000);
});
