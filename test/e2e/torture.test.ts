// RFC 4475 torture messages (test/fixtures/rfc4475) as UDP datagrams to a running viaduct.
// Invalid ones must get a 4xx/5xx reply or be dropped (and counted); valid ones must be
// forwarded to the next hop or answered; afterwards the server must still carry SIPp calls.
//
// Replies go where the top Via says: to the source address, at the Via's port (5060 when it
// has none), or at the source port with ;rport. So each message is sent from a socket bound to
// that port on a loopback address of our own (127.77.x.y, derived from a port we hold the lock
// of, so parallel runs do not collide) - never to 127.0.0.1:5060, where benchmarks run.
import { createSocket, type Socket } from 'node:dgram';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RFC4475_DIR } from '../fixtures/paths.js';
import {
  freePorts,
  releasePorts,
  runSipp,
  startSipp,
  startViaduct,
  UdpListener,
  type SippProcess,
  type ViaductProcess,
  parseMetrics,
} from './harness.js';

const LOOPBACK = '127.0.0.1';
const TORTURE_DIR = RFC4475_DIR;
const QUIET_MS = 300;

const load = (kind: 'valid' | 'invalid') =>
  readdirSync(join(TORTURE_DIR, kind))
    .filter((f) => f.endsWith('.dat'))
    .sort()
    .map((f) => ({ name: `${kind}/${f}`, bytes: readFileSync(join(TORTURE_DIR, kind, f)) }));

/** The port a reply to this message goes to: the top Via's port, 5060 without one. */
function viaPort(bytes: Buffer): number {
  const m = /^(?:via|v)[ \t]*:[ \t]*SIP[ \t]*\/[ \t]*2\.0[ \t]*\/[ \t]*\w+[ \t]+([^;,\s]+)/im.exec(bytes.toString('latin1'));
  const port = m ? /:(\d{1,5})$/.exec(m[1]!)?.[1] : undefined;
  return port && Number(port) > 0 && Number(port) < 65536 ? Number(port) : 5060;
}

/** The Call-ID value (or compact i:), as the proxy's Call-ID hash reads it. */
function callIdOf(bytes: Buffer): string | undefined {
  const head = bytes.toString('latin1');
  const end = head.search(/\r?\n\r?\n/);
  return /^(?:call-id|i)[ \t]*:[ \t]*(\S+)/im.exec(end < 0 ? head : head.slice(0, end))?.[1];
}

const isResponse = (bytes: Buffer) => bytes.toString('latin1', 0, 8) === 'SIP/2.0 ';

interface Outcome {
  name: string;
  response: boolean;
  /** Status codes of the replies that came back. */
  replies: number[];
  /** Datagrams that reached the next hop. */
  forwarded: number;
}

const describeOutcome = (o: Outcome) =>
  o.replies.length ? `reply ${o.replies.join(',')}` + (o.forwarded ? ` + forwarded x${o.forwarded}` : '') : o.forwarded ? `forwarded x${o.forwarded}` : 'no reply (dropped)';

/**
 * "invalid/" files whose defect is for the UAS or registrar to judge (RFC 4475 section 3.3,
 * application-layer semantics) or that the RFC says to accept (the RFC 2543 INVITE): a
 * stateless proxy forwards them, as Kamailio does. The testdata README: follow the RFC where it
 * is more specific than the valid/invalid split.
 */
const PROXY_FORWARDS: Record<string, string> = {
  'invalid/cparam01.dat': 'REGISTER with a Contact header parameter: the REGISTER must succeed',
  'invalid/cparam02.dat': 'REGISTER with a url-parameter: the REGISTER must succeed',
  'invalid/regescrt.dat': 'REGISTER with a URL-escaped header in Contact: for the registrar',
  'invalid/regaut01.dat': 'unknown authorization scheme: for the registrar (401/400)',
  'invalid/unksm2.dat': 'unknown URI schemes in To/From/Contact: for the registrar',
  'invalid/invut.dat': 'unknown Content-Type: the UAS answers 415',
  'invalid/sdp01.dat': 'unacceptable Accept: the UAS answers 406',
  'invalid/inv2543.dat': 'RFC 2543 INVITE: should be accepted (backward compatibility)',
  // not read by a proxy, so not checked by the core (RFC 3261 16.3 step 1): KSR.sanity checks them
  'invalid/baddate.dat': 'Date not in GMT: for the UAS',
  'invalid/regbadct.dat': "Contact with '?' outside <>: sanity_check(1024, 8) answers 400",
  'invalid/badaspec.dat': 'spaces in the To URI: sanity_check(1024, 4) answers 400',
  'invalid/mismatch01.dat': 'CSeq method differs: sanity_check(32) answers 400',
  'invalid/mismatch02.dat': 'unknown method, CSeq method differs: sanity_check(32) answers 400',
};

const DROP_COUNTERS = ['bad_msg_hdr', 'err_requests', 'err_replies', 'drop_requests', 'drop_replies'].map((n) => `viaduct_core_${n}_total`);

describe.each([0, 1])('RFC 4475 torture messages, --workers %i', (workers) => {
  let ports: number[] = [];
  let viaduct: ViaductProcess | undefined;
  let hop: UdpListener | undefined;
  let uas: SippProcess | undefined;
  const sockets = new Map<number, { sock: Socket; got: Buffer[] }>();

  afterEach(async () => {
    for (const { sock } of sockets.values()) sock.close();
    sockets.clear();
    await hop?.close().catch(() => undefined);
    await uas?.stop().catch(() => undefined);
    const v = viaduct;
    hop = undefined;
    uas = undefined;
    viaduct = undefined;
    try {
      await v?.stop(); // rejects if its script threw
    } finally {
      releasePorts(ports);
      ports = [];
    }
  });

  it('rejects or drops every invalid message, handles the valid ones, and keeps serving calls', async () => {
    ports = await freePorts(4);
    const [proxyPort, hopPort, uacPort, addressKey] = ports as [number, number, number, number];
    const clientAddress = `127.77.${addressKey >> 8}.${addressKey & 255}`;
    viaduct = await startViaduct({
      script: `function ksr_request_route(){ KSR.forward_uri("sip:127.0.0.1:${hopPort}"); }\n`,
      listen: [`udp:${LOOPBACK}:${proxyPort}`],
      workers,
    });
    hop = await UdpListener.open(LOOPBACK, hopPort);

    const socketFor = async (port: number) => {
      let s = sockets.get(port);
      if (!s) {
        const sock = createSocket('udp4');
        const got: Buffer[] = [];
        sock.on('message', (d) => got.push(d));
        await new Promise<void>((res, rej) => {
          sock.once('error', rej);
          sock.bind({ address: clientAddress, port, exclusive: true }, () => res());
        });
        s = { sock, got };
        sockets.set(port, s);
      }
      return s;
    };

    /**
     * Sends the files one after another, waits until nothing more arrives, and gives each file
     * the replies and forwarded copies that carry its Call-ID (every file has its own).
     * Datagrams with no Call-ID of ours are returned apart.
     */
    async function sendAll(files: { name: string; bytes: Buffer }[]): Promise<{ outcomes: Outcome[]; stray: string[] }> {
      const got0 = new Map([...sockets].map(([port, s]) => [port, s.got.length]));
      const hop0 = hop!.received.length;
      for (const f of files) {
        const s = await socketFor(viaPort(f.bytes));
        if (!got0.has(viaPort(f.bytes))) got0.set(viaPort(f.bytes), 0); // a socket opened just now
        await new Promise<void>((res, rej) => s.sock.send(f.bytes, proxyPort, LOOPBACK, (e) => (e ? rej(e) : res())));
        await new Promise((r) => setTimeout(r, 10));
      }
      const count = () => hop!.received.length + [...sockets.values()].reduce((n, s) => n + s.got.length, 0);
      for (let last = -1, i = 0; i < 40 && count() !== last; i++) {
        last = count();
        await new Promise((r) => setTimeout(r, QUIET_MS));
      }
      const replies = [...sockets].flatMap(([port, s]) => s.got.slice(got0.get(port) ?? 0));
      const forwards = hop!.received.slice(hop0).map((d) => d.data);
      const outcomes = files.map((f) => {
        const id = callIdOf(f.bytes);
        const mine = (d: Buffer) => id !== undefined && callIdOf(d) === id;
        return {
          name: f.name,
          response: isResponse(f.bytes),
          replies: replies.filter(mine).map((d) => Number(/^SIP\/2\.0 (\d{3}) /.exec(d.toString('latin1'))?.[1] ?? -1)),
          forwarded: forwards.filter(mine).length,
        };
      });
      const ids = new Set(files.map((f) => callIdOf(f.bytes)).filter((x) => x !== undefined));
      const stray = [...replies, ...forwards].filter((d) => !ids.has(callIdOf(d) ?? '')).map((d) => d.toString('latin1').split('\r\n')[0]!);
      return { outcomes, stray };
    }

    const scrape = async () => parseMetrics(await viaduct!.metrics());
    const dropSum = (m: Map<string, number>) => DROP_COUNTERS.reduce((n, k) => n + (m.get(k) ?? 0), 0);

    // ------------------------------------------------------------ invalid
    const before = await scrape();
    const { outcomes: invalid, stray: strayInvalid } = await sendAll(load('invalid'));
    const afterInvalid = await scrape();

    // ------------------------------------------------------------ valid
    const { outcomes: valid, stray: strayValid } = await sendAll(load('valid'));
    const afterValid = await scrape();

    const counterDeltas = (a: Map<string, number>, b: Map<string, number>) =>
      DROP_COUNTERS.map((k) => `${k.replace(/^viaduct_core_|_total$/g, '')}+${(b.get(k) ?? 0) - (a.get(k) ?? 0)}`).join(' ');
    const table = [...invalid, ...valid]
      .map((o) => `${o.name.padEnd(24)} ${o.response ? 'response' : 'request '}  ${describeOutcome(o).padEnd(20)}${PROXY_FORWARDS[o.name] ? `  (${PROXY_FORWARDS[o.name]})` : ''}`.trimEnd())
      .join('\n');
    console.log(
      `RFC 4475 torture, workers=${workers} (replies to ${clientAddress}):\n${table}\n` +
        `invalid batch: ${counterDeltas(before, afterInvalid)}\nvalid batch:   ${counterDeltas(afterInvalid, afterValid)}\n` +
        `datagrams without a known Call-ID: invalid batch ${JSON.stringify(strayInvalid)}, valid batch ${JSON.stringify(strayValid)}`,
    );
    // A reply or forward we could not attribute (no Call-ID) must still be a 4xx/5xx reply.
    expect([...strayInvalid, ...strayValid].filter((l) => !/^SIP\/2\.0 [45]\d\d /.test(l)), table).toEqual([]);

    // Invalid: a 4xx/5xx reply, or nothing (a drop). Never forwarded, never another reply.
    const wrongReplies = invalid.filter((o) => o.replies.some((c) => c < 400 || c > 599));
    expect(wrongReplies.map((o) => `${o.name}: ${describeOutcome(o)}`), table).toEqual([]);
    const forwardedInvalid = invalid.filter((o) => o.forwarded > 0 && !(o.name in PROXY_FORWARDS));
    expect(forwardedInvalid.map((o) => `${o.name}: ${describeOutcome(o)}`), table).toEqual([]);
    // A broken Content-Length still leaves an addressable request: RFC 4475 3.1.2.2/3.1.2.3
    // and 3.3.9 ask for a 400 there, not a drop.
    const framing = invalid.filter((o) => ['clerr.dat', 'ncl.dat', 'mcl01.dat'].includes(o.name.replace(/^invalid\//, '')));
    expect(framing.map((o) => `${o.name}: ${describeOutcome(o)}`), table).toEqual(framing.map((o) => `${o.name}: reply 400`));
    expect(framing).toHaveLength(3);
    const unanswered = invalid.filter((o) => o.replies.length === 0 && o.forwarded === 0).length;
    const dropped = dropSum(afterInvalid) - dropSum(before);
    expect(dropped, `drop/error counters rose by ${dropped} for ${unanswered} unanswered invalid messages: ${counterDeltas(before, afterInvalid)}\n${table}`).toBeGreaterThanOrEqual(unanswered);

    // Valid requests: forwarded or answered. Valid responses: not ours (top Via), so dropped and counted.
    expect(valid.filter((o) => !o.response).length, 'valid requests sent').toBeGreaterThan(0);
    expect(valid.filter((o) => o.response).length, 'valid responses sent').toBeGreaterThan(0);
    const lostRequests = valid.filter((o) => !o.response && o.replies.length === 0 && o.forwarded === 0);
    expect(lostRequests.map((o) => o.name), table).toEqual([]);
    const validResponses = valid.filter((o) => o.response);
    expect(validResponses.filter((o) => o.forwarded || o.replies.length).map((o) => o.name), table).toEqual([]);
    const dropReplies = (afterValid.get('viaduct_core_drop_replies_total') ?? 0) - (afterInvalid.get('viaduct_core_drop_replies_total') ?? 0);
    expect(dropReplies, table).toBeGreaterThanOrEqual(validResponses.length);

    // Nothing crashed: no thread restarted, and the server still answers RPC.
    expect(afterValid.get('viaduct_worker_restarts_total') ?? 0, viaduct.stderr().slice(-3000)).toBe(0);
    expect(await viaduct.rpc('core.version')).toBeTruthy();

    // ------------------------------------------------------------ still carries calls
    await hop.close();
    hop = undefined;
    uas = startSipp({ scenario: 'uas', localIp: LOOPBACK, localPort: hopPort });
    await uas.ready;
    const uac = await runSipp({
      scenario: 'uac',
      remote: `${LOOPBACK}:${proxyPort}`,
      localIp: LOOPBACK,
      localPort: uacPort,
      rate: 100,
      calls: 100,
      timeoutMs: 40_000,
    });
    expect(uac, `after the torture messages: created=${uac.created} successful=${uac.successful} failed=${uac.failed} ${JSON.stringify(uac.failures)}`).toMatchObject({
      created: 100,
      successful: 100,
      failed: 0,
    });
  }, 90_000);
});
