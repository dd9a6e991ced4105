// Cost of hostile messages (issue 10, item 6: "hostile input costs what it weighs"): big
// requests crafted to find superlinear work in parsing and routing, each received by a real
// SipCore whose script is `if (KSR.rr.loose_route() > 0) KSR.forward(); else KSR.forward()`
// (the loose-routed hop, else the R-URI), with a transport that drops what it is given. Prints
// the wall-clock time per message (receive(): parse, checks, script, serialization), median and
// p99 over many messages after a warm-up, and whether each was forwarded.
//   node dist/bench/micro/hostile.js [--only NAME-PART] [messages] [rounds]
//
// A/B in one process, as bench/micro/core.ts: `--against DIR` (DIR holds a dist/src) runs the
// same messages through that build, rounds alternating; the best round's median counts, which
// on a shared machine is the figure least disturbed by other processes.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { coreOf } from './build.js';

type Receive = (buf: Buffer, srcIp: string, srcPort: number, sockIndex: number) => void;

/** A SipCore of the build whose `src/` is at srcUrl, routing every request by its Route set. */
async function setUp(srcUrl: URL, limits: Record<string, number>): Promise<{ receive: Receive; sent: () => number; capture: (on: boolean) => string }> {
  let sent = 0;
  let last = '';
  let keep = false;
  const { core, KSR } = await coreOf(srcUrl,
    { copiesOnSend: true, send(_i, data) { sent++; if (keep) last = data.toString('latin1'); } }, { settings: limits });
  core.routes = {
    request: () => { if (KSR.rr.loose_route() > 0) KSR.forward(); else KSR.forward(); },
    named: () => undefined,
  };
  return {
    receive: core.receive.bind(core),
    sent: () => sent,
    /** Keep the text of what is sent from now on (or stop); the last text kept. */
    capture: (on: boolean) => { keep = on; return last; },
  };
}

// ---- the messages ----

const CRLF = '\r\n';
const hop = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:5060`;

function invite(extra: string, opts: { ruri?: string; vias?: string } = {}): Buffer {
  const s = `INVITE ${opts.ruri ?? 'sip:bob@192.0.2.20:5060'} SIP/2.0\r\n` +
    (opts.vias ?? 'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-hostile-1;rport\r\n') +
    'Max-Forwards: 70\r\n' +
    extra +
    'From: <sip:mallory@192.0.2.10>;tag=h1\r\nTo: <sip:bob@192.0.2.20>\r\n' +
    'Call-ID: hostile-1@192.0.2.10\r\nCSeq: 1 INVITE\r\nContact: <sip:mallory@192.0.2.10:5060>\r\n' +
    'Content-Length: 0\r\n\r\n';
  return Buffer.from(s, 'latin1');
}

function lines(n: number, line: (i: number) => string): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(line(i));
  return out.join('');
}

/**
 * The variants: name, messages (several distinct ones where a cache would otherwise spare the
 * work: an attacker varies them), and a check of what forward() sent.
 */
const VARIANTS: { name: string; msgs: Buffer[]; check: (out: string) => boolean }[] = [
  {
    // the first Route is ours: loose_route() strips it and forwards to the next
    name: '1,500 Route lines (first ours)',
    msgs: [invite('Route: <sip:127.0.0.1:5060;lr>\r\n' + lines(1499, (i) => `Route: <sip:${hop(i + 1)};lr>\r\n`))],
    check: (out) => !out.includes('127.0.0.1:5060;lr>') && out.includes(`Route: <sip:${hop(1)};lr>\r\n`) && out.includes(hop(1499)),
  },
  {
    name: '1 Route line, 1,500 values',
    msgs: [invite('Route: <sip:127.0.0.1:5060;lr>, ' + Array.from({ length: 1499 }, (_, i) => `<sip:${hop(i + 1)};lr>`).join(', ') + CRLF)],
    check: (out) => !out.includes('127.0.0.1:5060;lr>') && out.includes(`Route: <sip:${hop(1)};lr>, `),
  },
  {
    name: '1,500 Via lines',
    msgs: [invite('', { vias: lines(1500, (i) => `v: SIP/2.0/UDP h${i};branch=z9hG4bK${i}\r\n`) })],
    check: (out) => out.includes(`v: SIP/2.0/UDP h1499;branch=z9hG4bK1499\r\n`),
  },
  {
    name: '1,500 Record-Route lines',
    msgs: [invite(lines(1500, (i) => `Record-Route: <sip:${hop(i)};lr>\r\n`))],
    check: (out) => out.includes(`Record-Route: <sip:${hop(1499)};lr>\r\n`),
  },
  {
    name: '5,000 tiny unknown headers',
    msgs: [invite(lines(5000, (i) => `X${i.toString(36)}: 1\r\n`))],
    check: (out) => out.includes(`X${(4999).toString(36)}: 1\r\n`),
  },
  {
    name: '60 KB header value',
    msgs: [invite(`Subject: ${'a'.repeat(60000)}\r\n`)],
    check: (out) => out.includes('a'.repeat(60000)),
  },
  {
    // 2,048 distinct next hops: more than a URI cache of 1,024 entries keeps
    name: 'Route URI with 5,000 params',
    msgs: Array.from({ length: 2048 }, (_, n) => invite(`Route: <sip:127.0.0.1:5060;lr>\r\nRoute: <sip:${hop(n + 1)};lr${';x'.repeat(5000)}>\r\n`)),
    check: (out) => out.includes(`;lr;x;x;x`),
  },
  {
    name: 'R-URI with 5,000 params',
    msgs: Array.from({ length: 2048 }, (_, n) => invite('', { ruri: `sip:bob@${hop(n + 1)}${';x'.repeat(5000)}` })),
    check: (out) => /^INVITE sip:bob@10\.0\.\d+\.\d+:5060;x;x/.test(out),
  },
];

const args = process.argv.slice(2);
const againstAt = args.indexOf('--against');
const against = againstAt >= 0 ? args.splice(againstAt, 2)[1] : undefined;
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? args.splice(onlyAt, 2)[1] : undefined; // variants whose name contains this
const messages = Number(args[0] ?? 2000);
const rounds = Number(args[1] ?? 3);

// Limits high enough for every variant to be routed (a build without limits ignores them), and
// this build with its default limits, which answers some variants 513 instead.
const NO_LIMITS = { sip_max_headers: 100000, sip_max_header_size: 65535 };
const here = new URL('../../src/', import.meta.url);
const builds = [{ name: 'this build', defaults: false, ...(await setUp(here, NO_LIMITS)) }];
if (against !== undefined) builds.push({ name: against, defaults: false, ...(await setUp(pathToFileURL(resolve(against, 'dist/src') + '/'), NO_LIMITS)) });
builds.push({ name: 'default limits', defaults: true, ...(await setUp(here, {})) });

const times = new Float64Array(messages);
function measure(receive: Receive, msgs: Buffer[]): { median: number; p99: number } {
  for (let i = 0; i < messages; i++) {
    const msg = msgs[i % msgs.length];
    const t0 = process.hrtime.bigint();
    receive(msg, '192.0.2.10', 5060, 0);
    times[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  const sorted = Array.from(times).sort((a, b) => a - b);
  return { median: sorted[messages >> 1], p99: sorted[Math.floor(messages * 0.99)] };
}

const us = (v: number): string => (v >= 100 ? v.toFixed(0) : v.toFixed(1)).padStart(6);
console.log(`${messages} messages per round, ${rounds} rounds, best round per build; wall-clock µs per message (median / p99)`);
for (const v of VARIANTS.filter((x) => only === undefined || x.name.includes(only))) {
  const res = builds.map((b) => {
    const before = b.sent();
    b.capture(true);
    b.receive(v.msgs[0], '192.0.2.10', 5060, 0);
    const out = b.capture(false);
    const ok = b.sent() === before + 1 && (v.check(out) || (b.defaults && out.startsWith('SIP/2.0 513 ')));
    if (b.defaults && out.startsWith('SIP/2.0 513 ')) b.name = 'default limits (513)';
    for (let i = 0; i < Math.min(500, messages); i++) b.receive(v.msgs[i % v.msgs.length], '192.0.2.10', 5060, 0); // warm-up
    return { ok, best: { median: Infinity, p99: Infinity } };
  });
  for (let r = 0; r < rounds; r++) {
    builds.forEach((b, i) => {
      const m = measure(b.receive, v.msgs);
      if (m.median < res[i].best.median) res[i].best = m;
    });
  }
  const cols = builds.map((b, i) =>
    `${b.name}: ${us(res[i].best.median)} / ${us(res[i].best.p99)}${res[i].ok ? '' : ' (NOT forwarded as expected)'}`);
  builds[builds.length - 1].name = 'default limits';
  console.log(`${v.name.padEnd(32)} ${String(v.msgs[0].length).padStart(5)} B  ${cols.join('   ')}`);
}
