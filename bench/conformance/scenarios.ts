// The tm acceptance scenarios of issue 11 as data: a SIPp caller, SIPp callees (or a silent
// trunk), the proxy's job for Kamailio (kamailio/*.cfg) and for viaduct (viaduct/*.js), and what
// must be seen in SIPp's results, in the callees' message traces and in the proxy's log.
import { repoPath } from '../paths.js';
import type { Endpoint } from '../scenarios.js';
import type { SippResult } from '../sipp.js';
import { byCall, cseqMethod, header, viaBranch, viaSentBy, type TracedMessage } from './trace.js';

export interface Callee {
  name: string;
  /** SIPp uas scenario; none: a silent trunk (a UDP socket that records and never answers). */
  scenario?: string;
  /** SIPp -d: the length of the scenario's <pause/> (callee-answer.xml: before its 180). */
  pauseMs?: number;
}

/** What the proxy is told: Kamailio -A defines, viaduct's `var CONF`. */
export interface ProxyParams {
  defines: Record<string, string>;
  conf: Record<string, unknown>;
  /** Files the driver writes into the run directory first (name -> content). */
  files?: Record<string, string>;
}

export interface Observed {
  calls: number;
  proxy: Endpoint;
  callees: Record<string, Endpoint & { result?: SippResult; trace: TracedMessage[] }>;
  caller: SippResult & { trace: TracedMessage[] };
  proxyLog: string;
}

/** Failed expectations and facts worth reporting (what the proxy did). */
export class Findings {
  readonly failures: string[] = [];
  readonly notes: string[] = [];
  expect(ok: boolean, what: string): boolean {
    if (!ok) this.failures.push(what);
    return ok;
  }
  note(what: string): void {
    if (!this.notes.includes(what)) this.notes.push(what);
  }
}

export interface ConformanceScenario {
  name: string;
  description: string;
  caller: string;
  /** The caller sends through a UDP tee that sends every INVITE to the proxy twice, back to back. */
  doubleInvites?: boolean;
  callees: Callee[];
  kamailioCfg: string;
  viaductScript: string;
  /** Put before the viaduct script, as the cfg's include_file. */
  viaductIncludes?: string[];
  params(proxy: Endpoint, callees: Record<string, Endpoint>, runDir: string): ProxyParams;
  check(o: Observed, f: Findings): void;
}

const here = (p: string) => repoPath('bench/conformance', p);
const sipp = (p: string) => here(`sipp/${p}`);
const addr = (e: Endpoint) => `${e.host}:${e.port}`;
const uri = (e: Endpoint, user?: string) => `sip:${user ? `${user}@` : ''}${addr(e)}`;
const listen = (proxy: Endpoint) => ({ LISTEN: `udp:${addr(proxy)}` });
const quoted = (s: string) => `"${s}"`;

const received = (trace: TracedMessage[], method: string) => trace.filter((m) => m.direction === 'received' && m.method === method);

/** Each call (by Call-ID) received `method` exactly `n` times. */
function receivedPerCall(f: Findings, who: string, trace: TracedMessage[], method: string, n: number, calls: number): void {
  const counts = [...byCall(received(trace, method)).values()].map((ms) => ms.length);
  f.expect(counts.length === (n === 0 ? 0 : calls), `${who}: ${method} arrived for ${counts.length} calls, expected ${n === 0 ? 0 : calls}`);
  const off = counts.filter((c) => c !== n);
  f.expect(off.length === 0, `${who}: ${method} arrived ${off.join(', ')} times in a call, expected ${n}`);
}

/**
 * The proxy's own request for the INVITE branch it sent `who` (CANCEL, or the ACK for a
 * negative reply): one Via, the proxy's, with the INVITE's branch (RFC 3261 9.1, 17.1.1.3).
 */
function hopByHop(f: Findings, who: string, trace: TracedMessage[], method: 'CANCEL' | 'ACK', proxy: Endpoint): void {
  let noted = false;
  for (const [call, msgs] of byCall(trace)) {
    const invite = msgs.find((m) => m.direction === 'received' && m.method === 'INVITE');
    const req = msgs.find((m) => m.direction === 'received' && m.method === method);
    if (!invite || !req) continue; // counted by receivedPerCall
    const vias = header(req, 'via');
    f.expect(vias.length === 1, `${who}: ${method} of call ${call} has ${vias.length} Via headers, expected 1 (the proxy's): ${vias.join(' | ')}`);
    f.expect(viaSentBy(vias[0]) === addr(proxy), `${who}: ${method} of call ${call} has Via ${vias[0]}, expected the proxy's ${addr(proxy)}`);
    const inviteBranch = viaBranch(header(invite, 'via')[0]);
    f.expect(viaBranch(vias[0]) === inviteBranch, `${who}: ${method} branch ${viaBranch(vias[0])} is not the INVITE's ${inviteBranch}`);
    f.expect(cseqMethod(req) === method && header(req, 'cseq')[0]?.split(/\s+/)[0] === header(invite, 'cseq')[0]?.split(/\s+/)[0],
      `${who}: ${method} CSeq "${header(req, 'cseq')[0]}" does not match the INVITE's "${header(invite, 'cseq')[0]}"`);
    if (noted) continue;
    noted = true;
    f.note(`${who} got ${method}: ${req.startLine}; Via ${vias.join(' , ')}; CSeq ${header(req, 'cseq')[0]}; ` +
      `To ${header(req, 'to')[0]}; Route ${header(req, 'route').join(', ') || '-'}; Max-Forwards ${header(req, 'max-forwards')[0] ?? '-'}; ` +
      `INVITE Via ${header(invite, 'via').join(' , ')}`);
  }
}

/** The message as the first call's callee got it, for the report. */
function firstSeen(f: Findings, who: string, trace: TracedMessage[], method: string): void {
  const m = trace.find((x) => x.direction === 'received' && x.method === method);
  if (m) f.note(`${who} got ${method}: ${m.startLine}; Via ${header(m, 'via').join(' , ')}`);
}

// Seed 002's log lines, without Kamailio's or viaduct's log prefix.
const avpLine = (what: string, value: string) => `for ${what} the value of AVP "state_test_var" is ${value}`;
const countLines = (log: string, line: string) => log.split('\n').filter((l) => l.trimEnd().endsWith(line)).length;

export const conformanceScenarios: ConformanceScenario[] = [
  {
    name: 'avp',
    description: "seed 002: the INVITE's AVP is seen in onreply_route for 100, 180 and 200; <null> for the ACK, the BYE and the BYE's 200",
    caller: repoPath('bench/sipp/uac-rr.xml'),
    callees: [{ name: 'callee', scenario: sipp('callee-answer.xml'), pauseMs: 100 }],
    kamailioCfg: here('kamailio/avp.cfg'),
    viaductScript: here('viaduct/avp.js'),
    params: (proxy, { callee }) => ({
      defines: { ...listen(proxy), CALLEE_HOST: quoted(callee!.host), CALLEE_PORT: quoted(String(callee!.port)) },
      conf: { callee: { host: callee!.host, port: callee!.port } },
    }),
    check(o, f) {
      const lines: [string, string][] = [
        ['INVITE', 'I remember'], ['100 response', 'I remember'], ['180 response', 'I remember'],
        ['200 response', 'I remember'], ['ACK', '<null>'], ['BYE', '<null>'], ['200 response', '<null>'],
      ];
      for (const [what, value] of lines) {
        const n = countLines(o.proxyLog, avpLine(what, value));
        f.expect(n === o.calls, `proxy log: ${n} lines "${avpLine(what, value)}", expected ${o.calls}`);
      }
      const callee = o.callees.callee!.trace;
      f.expect(received(callee, 'INVITE').every((m) => header(m, 'x-proxied')[0] === 'You betcha'), 'callee: an INVITE without "X-Proxied: You betcha"');
      const replies = o.caller.trace.filter((m) => m.direction === 'received' && (m.status === 180 || (m.status === 200 && cseqMethod(m) === 'INVITE')));
      f.expect(replies.length > 0 && replies.every((m) => header(m, 'x-proxied')[0] === 'For the reply'), 'caller: a 180/200 without "X-Proxied: For the reply"');
    },
  },
  {
    name: 'cancel',
    description: "the caller cancels while the callee rings: the callee gets the proxy's CANCEL and the proxy's ACK for its 487 " +
      '(one Via each, the INVITE branch); the caller completes INVITE/180/CANCEL/200/487/ACK',
    caller: sipp('caller-cancel.xml'),
    callees: [{ name: 'callee', scenario: sipp('callee-ring.xml') }],
    kamailioCfg: here('kamailio/relay.cfg'),
    viaductScript: here('viaduct/relay.js'),
    viaductIncludes: [here('viaduct/withindlg.js')],
    params: (proxy, { callee }) => ({ defines: { ...listen(proxy), CALLEE: quoted(uri(callee!)) }, conf: { callee: { uri: uri(callee!) } } }),
    check(o, f) {
      const t = o.callees.callee!.trace;
      for (const m of ['INVITE', 'CANCEL', 'ACK']) receivedPerCall(f, 'callee', t, m, 1, o.calls);
      hopByHop(f, 'callee', t, 'CANCEL', o.proxy);
      hopByHop(f, 'callee', t, 'ACK', o.proxy);
      const got = o.caller.trace.filter((m) => m.direction === 'received').map((m) => `${m.status} ${cseqMethod(m)}`);
      f.note(`caller received, in order (all calls): ${[...new Set(got)].join(', ')}`);
    },
  },
  {
    name: 'retransmission',
    description: 'an INVITE sent twice by the caller (the same datagram, back to back) reaches the callee once',
    // The copy comes from a tee in the driver: SIPp answers a repeated 100 by resending what it
    // sent after the first one, so a scenario sending its INVITE twice ping-pongs with the proxy.
    caller: repoPath('bench/sipp/uac-rr.xml'),
    doubleInvites: true,
    callees: [{ name: 'callee', scenario: sipp('callee-answer.xml'), pauseMs: 300 }],
    kamailioCfg: here('kamailio/relay.cfg'),
    viaductScript: here('viaduct/relay.js'),
    viaductIncludes: [here('viaduct/withindlg.js')],
    params: (proxy, { callee }) => ({ defines: { ...listen(proxy), CALLEE: quoted(uri(callee!)) }, conf: { callee: { uri: uri(callee!) } } }),
    check(o, f) {
      receivedPerCall(f, 'callee', o.callees.callee!.trace, 'INVITE', 1, o.calls);
      const trying = [...byCall(o.caller.trace.filter((m) => m.direction === 'received' && m.status === 100)).values()].map((ms) => ms.length);
      f.note(`caller: 100 Trying received per call: ${[...new Set(trying)].join(', ')} (2: the proxy repeated its last reply for the retransmission)`);
    },
  },
  {
    name: 'failover',
    description: "failover over dispatcher set 1 (priority order): a trunk answering 486 (it gets the proxy's ACK), one never " +
      'answering (branch timeout, fr_timer 1 s), one answering: every call completes on the third',
    caller: repoPath('bench/sipp/uac-rr.xml'),
    callees: [
      { name: 'busy', scenario: sipp('callee-busy.xml') },
      { name: 'silent' },
      { name: 'answer', scenario: sipp('callee-answer.xml') },
    ],
    kamailioCfg: here('kamailio/failover.cfg'),
    viaductScript: here('viaduct/failover.js'),
    viaductIncludes: [here('viaduct/withindlg.js')],
    params(proxy, c, runDir) {
      // setid destination flags priority: algorithm 8 tries the highest priority first
      const list = `1 ${uri(c.busy!)} 0 30\n1 ${uri(c.silent!)} 0 20\n1 ${uri(c.answer!)} 0 10\n`;
      const dsList = `${runDir}/dispatcher.list`;
      return { defines: { ...listen(proxy), DS_LIST: quoted(dsList) }, conf: { dsList }, files: { 'dispatcher.list': list } };
    },
    check(o, f) {
      const { busy, silent, answer } = o.callees;
      receivedPerCall(f, 'busy trunk', busy!.trace, 'INVITE', 1, o.calls);
      receivedPerCall(f, 'busy trunk', busy!.trace, 'ACK', 1, o.calls);
      hopByHop(f, 'busy trunk', busy!.trace, 'ACK', o.proxy);
      const silentCalls = byCall(received(silent!.trace, 'INVITE'));
      f.expect(silentCalls.size === o.calls, `silent trunk: INVITEs of ${silentCalls.size} calls, expected ${o.calls}`);
      const perCall = [...silentCalls.values()].map((ms) => ms.length);
      f.note(`silent trunk: INVITE copies per call (timer A retransmissions within fr_timer): ${[...new Set(perCall)].join(', ')}; ` +
        `other requests: ${silent!.trace.filter((m) => m.method !== 'INVITE').map((m) => m.method).join(', ') || 'none'}`);
      receivedPerCall(f, 'answering trunk', answer!.trace, 'INVITE', 1, o.calls);
      receivedPerCall(f, 'answering trunk', answer!.trace, 'BYE', 1, o.calls);
      firstSeen(f, 'answering trunk', answer!.trace, 'INVITE');
    },
  },
  {
    name: 'fork',
    description: 'parallel forking to a phone that only rings and one that answers: the call completes, the ringing phone gets ' +
      "the proxy's CANCEL, answers 487 and gets the proxy's ACK",
    caller: repoPath('bench/sipp/uac-rr.xml'),
    callees: [
      { name: 'ringer', scenario: sipp('callee-ring.xml') },
      // rings 500 ms before answering: the other phone's 180 is in by then, so its branch can be cancelled
      { name: 'answerer', scenario: sipp('callee-answer.xml'), pauseMs: 500 },
    ],
    kamailioCfg: here('kamailio/fork.cfg'),
    viaductScript: here('viaduct/fork.js'),
    viaductIncludes: [here('viaduct/withindlg.js')],
    params: (proxy, { ringer, answerer }) => ({
      defines: { ...listen(proxy), RINGER: quoted(uri(ringer!, 'ringer')), ANSWERER: quoted(uri(answerer!, 'answerer')) },
      conf: { ringer: uri(ringer!, 'ringer'), answerer: uri(answerer!, 'answerer') },
    }),
    check(o, f) {
      const r = o.callees.ringer!.trace;
      const a = o.callees.answerer!.trace;
      for (const m of ['INVITE', 'CANCEL', 'ACK']) receivedPerCall(f, 'ringing phone', r, m, 1, o.calls);
      hopByHop(f, 'ringing phone', r, 'CANCEL', o.proxy);
      hopByHop(f, 'ringing phone', r, 'ACK', o.proxy);
      for (const m of ['INVITE', 'ACK', 'BYE']) receivedPerCall(f, 'answering phone', a, m, 1, o.calls);
      receivedPerCall(f, 'answering phone', a, 'CANCEL', 0, o.calls);
      const ri = received(r, 'INVITE')[0];
      const ai = received(a, 'INVITE')[0];
      if (ri && ai) f.note(`branches: ringer INVITE Via ${header(ri, 'via')[0]}, answerer INVITE Via ${header(ai, 'via')[0]}`);
    },
  },
  {
    name: 'failure-edits',
    description: "the request route's header edits (append_hf X-Req, remove_hf Content-Type) are on the branches of every " +
      "failure route; a failure route's own append_hf is on its branch only: busy, busy, then the answering trunk",
    caller: repoPath('bench/sipp/uac-rr.xml'),
    callees: [
      { name: 'busy1', scenario: sipp('callee-busy.xml') },
      { name: 'busy2', scenario: sipp('callee-busy.xml') },
      { name: 'answer', scenario: sipp('callee-answer.xml') },
    ],
    kamailioCfg: here('kamailio/failure-edits.cfg'),
    viaductScript: here('viaduct/failure-edits.js'),
    viaductIncludes: [here('viaduct/withindlg.js')],
    params: (proxy, { busy1, busy2, answer }) => ({
      defines: { ...listen(proxy), BUSY1: quoted(uri(busy1!)), BUSY2: quoted(uri(busy2!)), ANSWER: quoted(uri(answer!)) },
      conf: { busy1: uri(busy1!), busy2: uri(busy2!), answer: uri(answer!) },
    }),
    check(o, f) {
      const want: [string, string[]][] = [['busy1', []], ['busy2', ['1']], ['answer', ['2']]];
      for (const [who, fail] of want) {
        const t = o.callees[who]!.trace;
        receivedPerCall(f, who, t, 'INVITE', 1, o.calls);
        for (const m of received(t, 'INVITE')) {
          const got = { xReq: header(m, 'x-req'), xFail: header(m, 'x-fail'), contentType: header(m, 'content-type') };
          f.expect(JSON.stringify(got) === JSON.stringify({ xReq: ['added'], xFail: fail, contentType: [] }),
            `${who}: INVITE has ${JSON.stringify(got)}, expected X-Req added, X-Fail ${JSON.stringify(fail)}, no Content-Type`);
        }
        // not compared: Kamailio without maxfwd leaves it at 70, viaduct decrements it (RFC 3261 16.6 step 3)
        const first = received(t, 'INVITE')[0];
        if (first) f.note(`${who} got INVITE with Max-Forwards ${header(first, 'max-forwards')[0] ?? '-'}`);
      }
    },
  },
];
