// The tm conformance scenarios (bench/conformance/scenarios.ts) run against a proxy:
//   node dist/bench/conformance.js --target kamailio|viaduct [--scenario NAME]... [--calls N] [--workers N] [--verbose]
// Each scenario: free ports, the callees (SIPp uas with -trace_msg, or a silent UDP socket), the
// proxy (Kamailio on the scenario's cfg with -A defines, or viaduct on its script with `var CONF`
// put first), then the SIPp caller; then SIPp's results, the traces and the proxy's log are
// checked. Exit code 0 when every scenario passed.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { conformanceScenarios, Findings, type ConformanceScenario, type Observed, type ProxyParams } from './conformance/scenarios.js';
import { parseSipMessage, readMessageTrace } from './conformance/trace.js';
import { startKamailio } from './kamailio.js';
import { freePorts, releasePorts } from './ports.js';
import type { Endpoint } from './scenarios.js';
import { startSipp, type SippProcess, type SippResult } from './sipp.js';
import { UdpListener } from './udp.js';
import { spawnViaduct } from './viaduct.js';

const HOST = '127.0.0.1';
const TARGETS = ['kamailio', 'viaduct'] as const;
type TargetName = (typeof TARGETS)[number];

interface Proxy {
  log(): string;
  stop(): Promise<unknown>;
}

async function startProxy(target: TargetName, s: ConformanceScenario, proxy: Endpoint, p: ProxyParams, runDir: string, workers: number): Promise<Proxy> {
  if (target === 'kamailio') {
    const k = await startKamailio({ cfg: s.kamailioCfg, allocator: 'tlsf', port: proxy.port, defines: p.defines, shmMb: 64, pkgMb: 8 });
    return { log: k.output, stop: k.stop };
  }
  // viaduct: the script with its parameters and includes in front, in the run directory
  const script = join(runDir, 'script.js');
  const parts = [`var CONF = ${JSON.stringify(p.conf)};\n`, ...(s.viaductIncludes ?? []).map((f) => readFileSync(f, 'utf8')), readFileSync(s.viaductScript, 'utf8')];
  writeFileSync(script, parts.join('\n'));
  const v = await spawnViaduct({ script, listen: [`udp:${proxy.host}:${proxy.port}`], workers, http: 'off' });
  return { log: () => `${v.stdout()}\n${v.stderr()}`, stop: v.stop };
}

/**
 * A UDP socket the caller sends to instead of the proxy: it passes every datagram on and sends
 * INVITEs twice (a retransmission as the proxy sees it). Replies go to the caller's Via directly.
 */
async function inviteDoubler(port: number, proxy: Endpoint): Promise<UdpListener> {
  const tee = await UdpListener.open(HOST, port);
  tee.socket.on('message', (data) => {
    for (let n = data.subarray(0, 7).toString() === 'INVITE ' ? 2 : 1; n > 0; n--) tee.socket.send(data, proxy.port, proxy.host);
  });
  return tee;
}

const summary = (r: SippResult) => `${r.successful} ok, ${r.failed} failed of ${r.created}${r.timedOut ? ' (timed out)' : ''}, exit ${r.exitCode}`;

async function runScenario(target: TargetName, s: ConformanceScenario, calls: number, workers: number, verbose: boolean): Promise<Findings> {
  const f = new Findings();
  const ports = await freePorts(3 + s.callees.length);
  const runDir = mkdtempSync(join(tmpdir(), `conformance-${s.name}-`));
  const [proxyPort, callerPort, teePort, ...calleePorts] = ports as [number, number, number, ...number[]];
  const proxy: Endpoint = { host: HOST, port: proxyPort };
  const addrs = Object.fromEntries(s.callees.map((c, i) => [c.name, { host: HOST, port: calleePorts[i]! }]));
  const uases = new Map<string, SippProcess>();
  const silent = new Map<string, UdpListener>();
  let px: Proxy | undefined;
  let caller: SippProcess | undefined;
  // A call takes a second or two (the failover's timeout); every SIPp gets a hard deadline.
  const timeoutMs = 30_000 + calls * 1000;
  try {
    const params = s.params(proxy, addrs, runDir);
    for (const [name, content] of Object.entries(params.files ?? {})) writeFileSync(join(runDir, name), content);
    for (const c of s.callees) {
      const { host, port } = addrs[c.name]!;
      if (!c.scenario) {
        silent.set(c.name, await UdpListener.open(host, port));
        continue;
      }
      uases.set(c.name, startSipp({
        scenario: c.scenario, localIp: host, localPort: port, calls, timeoutMs, keepFiles: true,
        extraArgs: ['-trace_msg', ...(c.pauseMs !== undefined ? ['-d', String(c.pauseMs)] : [])],
      }));
    }
    await Promise.all([...uases.values()].map((u) => u.ready));
    px = await startProxy(target, s, proxy, params, runDir, workers);
    if (s.doubleInvites) silent.set('tee', await inviteDoubler(teePort, proxy));
    caller = startSipp({
      scenario: s.caller, remote: `${HOST}:${s.doubleInvites ? teePort : proxy.port}`, localIp: HOST, localPort: callerPort,
      calls, rate: 5, maxConcurrent: 5, timeoutMs, keepFiles: true, extraArgs: ['-trace_msg'],
    });
    const callerResult = await caller.result;
    // the callees end after their `calls` calls (a timewait each); a silent trunk gets the
    // retransmissions of the last timed-out branch meanwhile
    const uasResults = new Map(await Promise.all([...uases].map(async ([n, u]) => [n, await u.result] as const)));
    const observed: Observed = {
      calls,
      proxy,
      caller: { ...callerResult, trace: callerResult.dir ? readMessageTrace(callerResult.dir) : [] },
      callees: Object.fromEntries(s.callees.map((c) => {
        const r = uasResults.get(c.name);
        const trace = r?.dir ? readMessageTrace(r.dir) : (silent.get(c.name)?.received ?? []).map((d) => parseSipMessage(d.data.toString('utf8'), 'received'));
        return [c.name, { ...addrs[c.name]!, ...(r ? { result: r } : {}), trace }];
      })),
      proxyLog: px.log(),
    };
    f.expect(callerResult.successful === calls && callerResult.failed === 0 && !callerResult.timedOut,
      `caller: ${summary(callerResult)}; expected ${calls} ok${callerResult.errors.length ? `; ${callerResult.errors.slice(0, 3).join(' | ')}` : ''}`);
    for (const [n, r] of uasResults) {
      f.expect(r.successful === calls && r.failed === 0 && !r.timedOut, `${n}: ${summary(r)}; expected ${calls} ok${r.errors.length ? `; ${r.errors.slice(0, 3).join(' | ')}` : ''}`);
    }
    s.check(observed, f);
    if (verbose || f.failures.length) f.note(`proxy log (tail):\n${observed.proxyLog.slice(-3000)}`);
  } catch (e) {
    f.failures.push(`run failed: ${(e as Error).message}`);
    if (px) f.note(`proxy log (tail):\n${px.log().slice(-3000)}`);
  } finally {
    await Promise.all([caller, ...uases.values()].map((u) => u?.stop().catch(() => undefined)));
    await Promise.all([...silent.values()].map((l) => l.close()));
    await px?.stop().catch(() => undefined);
    for (const r of [caller, ...uases.values()]) {
      const dir = await r?.result.then((x) => x.dir).catch(() => undefined);
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
    rmSync(runDir, { recursive: true, force: true });
    releasePorts(ports);
  }
  return f;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      target: { type: 'string', default: 'kamailio' },
      scenario: { type: 'string', multiple: true },
      calls: { type: 'string', default: '3' },
      workers: { type: 'string', default: '1' },
      verbose: { type: 'boolean', short: 'v' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const usage = `usage: node dist/bench/conformance.js [--target ${TARGETS.join('|')}] [--scenario NAME]... [--calls N] [--workers N] [--verbose]\n` +
    `  scenarios: ${conformanceScenarios.map((s) => s.name).join(', ')}\n  --workers: viaduct's SIP threads (default 1)\n`;
  if (values.help) return void process.stdout.write(usage);
  const target = values.target as TargetName;
  if (!TARGETS.includes(target)) throw new Error(`unknown target "${target}"\n${usage}`);
  const names = values.scenario ?? conformanceScenarios.map((s) => s.name);
  const chosen = names.map((n) => conformanceScenarios.find((s) => s.name === n) ?? (() => { throw new Error(`unknown scenario "${n}"\n${usage}`); })());
  const calls = Number(values.calls);
  let failed = 0;
  for (const s of chosen) {
    process.stdout.write(`${s.name} (${target}, ${calls} calls): ${s.description}\n`);
    const f = await runScenario(target, s, calls, Number(values.workers), values.verbose ?? false);
    for (const n of f.notes) process.stdout.write(`  note: ${n}\n`);
    for (const x of f.failures) process.stdout.write(`  FAIL: ${x}\n`);
    process.stdout.write(`  => ${f.failures.length ? 'FAIL' : 'pass'}\n\n`);
    if (f.failures.length) failed++;
  }
  process.stdout.write(`${chosen.length - failed}/${chosen.length} scenarios passed against ${target}\n`);
  process.exitCode = failed ? 1 : 0;
}

process.once('SIGINT', () => process.exit(130));
main().catch((e: Error) => {
  process.stderr.write(`conformance: ${e.message}\n`);
  process.exit(2);
});
