// `make demo` (node dist/bench/demo.js): the load balancer of examples/load-balancer.js in front of
// three SIPp uas, the destinations of examples/dispatcher.list, with a SIPp caller at a modest rate.
// Prints the dispatcher's view and a few statistics every few seconds, and at the end the calls each
// uas completed. Everything it starts is stopped on exit, Ctrl-C included.
import { parseArgs } from 'node:util';
import { loadListFile, type DsDestination } from '../src/modules/dispatcher/list.js';
import { repoPath } from './paths.js';
import { portOwners, sleep } from './proc.js';
import { startSipp, type SippProcess, type SippResult } from './sipp.js';
import { spawnViaduct, type ViaductProcess } from './viaduct.js';

const USAGE = `usage: node dist/bench/demo.js [--seconds N] [--rate N] [--list FILE] [--listen udp:IP:PORT] [--http IP:PORT]
  --seconds  how long the caller places calls (default: $DEMO_SECONDS or 20)
  --rate     calls per second (default: $DEMO_RATE or 20)
  --list     the destinations: a uas is started for each URI of set 1 (default examples/dispatcher.list;
             they must be on 127.0.0.1)
  --listen   the load balancer's SIP socket (default: the script's, udp:127.0.0.1:5060)
  --http     its JSON-RPC and /metrics address (default 127.0.0.1:9060)`;

const SCRIPT = repoPath('examples/load-balancer.js');
const UAS_SCENARIO = repoPath('bench/sipp/uas-rr.xml'); // answers OPTIONS too, so probing sees it up
const UAC_SCENARIO = repoPath('bench/sipp/uac-rr.xml'); // follows the Record-Route the balancer adds
const LOOPBACK = '127.0.0.1';
// Probe every 2 s instead of the example's 10 s, so that the demo shows probing within seconds.
const PING_INTERVAL_S = 2;
const STATUS_EVERY_MS = 4000;

interface Options { seconds: number; rate: number; list: string; listen?: string; http: string }

function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string' }, rate: { type: 'string' }, list: { type: 'string' },
      listen: { type: 'string' }, http: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const positive = (text: string | undefined, fallback: number, what: string) => {
    const v = text === undefined || text === '' ? fallback : Number(text);
    if (!(v > 0) || !Number.isFinite(v)) throw new Error(`${what} "${text}" is not a positive number`);
    return v;
  };
  return {
    seconds: positive(values.seconds ?? process.env.DEMO_SECONDS, 20, 'seconds'),
    rate: positive(values.rate ?? process.env.DEMO_RATE, 20, 'rate'),
    list: values.list ?? repoPath('examples/dispatcher.list'),
    listen: values.listen,
    http: values.http ?? '127.0.0.1:9060',
  };
}

/** The destinations of set 1, each of which gets a uas; on loopback only (the demo is local). */
function destinations(list: string): DsDestination[] {
  const dests = loadListFile(list).filter((d) => d.setid === 1);
  if (dests.length === 0) throw new Error(`${list} has no destination in set 1`);
  for (const d of dests) {
    if (d.host !== LOOPBACK) throw new Error(`${d.origin}: ${d.uri} is not on ${LOOPBACK}; the demo starts its uas there`);
  }
  return dests;
}

/** "port 5060 (udp) is in use by pid 12 kamailio ..." for every port the demo needs that is taken. */
function busyPorts(ports: { port: number; proto: 'udp' | 'tcp' }[]): string[] {
  return ports.flatMap(({ port, proto }) => {
    const owners = portOwners(port, proto);
    return owners.length ? [`${proto} port ${port} is in use by ${owners.map((o) => `pid ${o.pid} (${o.command})`).join(', ')}`] : [];
  });
}

type DsList = { RECORDS: { SET: { ID: number; TARGETS: { DEST: { URI: string; FLAGS: string; LATENCY?: { AVG: number; TIMEOUT: number } } }[] } }[] };

/** URI -> flags and probe latency, from dispatcher.list. */
async function dsState(v: ViaductProcess): Promise<Map<string, { flags: string; latencyMs: number; timeouts: number }>> {
  const list = await v.rpc<DsList>('dispatcher.list');
  const out = new Map<string, { flags: string; latencyMs: number; timeouts: number }>();
  for (const r of list.RECORDS) {
    for (const { DEST: d } of r.SET.TARGETS) out.set(d.URI, { flags: d.FLAGS, latencyMs: d.LATENCY?.AVG ?? 0, timeouts: d.LATENCY?.TIMEOUT ?? 0 });
  }
  return out;
}

/** `viaduct_dispatcher_selections_total{...destination="URI"} N` -> URI -> N. */
function selections(metrics: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of metrics.split('\n')) {
    const m = /^viaduct_dispatcher_selections_total\{[^}]*destination="([^"]+)"[^}]*\}\s+(\S+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/** One statistic by its Kamailio name (stats.get_statistics answers "group:name = N"). */
async function statistic(v: ViaductProcess, name: string): Promise<number> {
  const lines = await v.rpc<string[]>('stats.get_statistics', name);
  const m = /=\s*(\d+)/.exec(lines[0] ?? '');
  return m ? Number(m[1]) : 0;
}

async function printStatus(v: ViaductProcess, dests: DsDestination[], elapsedS: number): Promise<void> {
  const [state, metrics, invites, replies] = await Promise.all([
    dsState(v), v.metrics(), statistic(v, 'core:rcv_requests_invite'), statistic(v, 'core:fwd_replies'),
  ]);
  const picked = selections(metrics);
  console.log(`[${elapsedS.toFixed(0).padStart(3)} s] INVITEs received ${invites}, replies forwarded ${replies}`);
  for (const d of dests) {
    const s = state.get(d.uri);
    const name = d.attrs.duid ? ` (${d.attrs.duid})` : '';
    console.log(`        ${(d.uri + name).padEnd(36)} ${s?.flags ?? '??'}  probe ${(s?.latencyMs ?? 0).toFixed(1).padStart(5)} ms` +
      `  calls sent ${picked.get(d.uri) ?? 0}`);
  }
}

const count = (r: SippResult, kind: 'recv' | 'send', name: string) => r.messages.find((m) => m.kind === kind && m.name === name)?.count ?? 0;

/** Waits until every destination is active and has answered a probe (dispatcher.list shows its latency). */
async function waitUntilProbed(v: ViaductProcess, dests: DsDestination[], stopped: () => boolean): Promise<void> {
  const deadline = Date.now() + (PING_INTERVAL_S * 3 + 5) * 1000;
  for (;;) {
    const state = await dsState(v);
    const up = dests.filter((d) => state.get(d.uri)?.flags.startsWith('A') && state.get(d.uri)!.latencyMs > 0);
    if (up.length === dests.length || stopped()) return;
    if (Date.now() > deadline) {
      const down = dests.filter((d) => !up.includes(d)).map((d) => `${d.uri} ${state.get(d.uri)?.flags ?? 'missing'}`);
      throw new Error(`destinations not up after the first probes: ${down.join(', ')}`);
    }
    await sleep(250);
  }
}

async function main(): Promise<number> {
  const opts = options(process.argv.slice(2));
  const dests = destinations(opts.list);
  const listen = opts.listen ?? `udp:${LOOPBACK}:5060`;
  const proxyPort = Number(listen.split(':').pop());
  const httpPort = Number(opts.http.split(':').pop());
  const busy = busyPorts([{ port: proxyPort, proto: 'udp' }, { port: httpPort, proto: 'tcp' }, ...dests.map((d) => ({ port: d.port, proto: 'udp' as const }))]);
  if (busy.length) throw new Error(`${busy.join('\n')}\nstop it first (a Kamailio service from \`make kamailio\`: systemctl stop kamailio)`);

  let stopping = false;
  let uac: SippProcess | undefined;
  const onSignal = (sig: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${sig}: stopping the caller, then everything else`);
    void uac?.stop();
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  const uases: SippProcess[] = [];
  let viaduct: ViaductProcess | undefined;
  try {
    console.log(`starting ${dests.length} SIPp uas (${UAS_SCENARIO.replace(repoPath() + '/', '')}): ${dests.map((d) => `${d.host}:${d.port}`).join(' ')}`);
    for (const d of dests) uases.push(startSipp({ scenario: UAS_SCENARIO, localIp: LOOPBACK, localPort: d.port }));
    await Promise.all(uases.map((u) => u.ready));

    const modparams = [`dispatcher:list_file=${opts.list}`, `dispatcher:ds_ping_interval=${PING_INTERVAL_S}`];
    console.log(`starting: bin/viaduct run examples/load-balancer.js${opts.listen ? ` --listen ${listen}` : ''} --http ${opts.http} ${modparams.map((m) => `--modparam ${m}`).join(' ')}`);
    viaduct = await spawnViaduct({ script: SCRIPT, listen: opts.listen ? [listen] : [], workers: 0, http: opts.http, modparams, readyTimeoutMs: 30_000 });
    console.log(viaduct.stdout().trim().split('\n').pop());
    const v = viaduct;

    console.log(`waiting for the first OPTIONS probes (every ${PING_INTERVAL_S} s) to mark the destinations active`);
    await waitUntilProbed(v, dests, () => stopping);
    if (!stopping) await printStatus(v, dests, 0);

    const calls = Math.round(opts.rate * opts.seconds);
    let uacResult: SippResult | undefined;
    if (!stopping) {
      console.log(`calling: SIPp uac (${UAC_SCENARIO.replace(repoPath() + '/', '')}) -> ${listen}, ${opts.rate} calls/s for ${opts.seconds} s (${calls} calls); Ctrl-C stops`);
      console.log(`meanwhile, in another shell: bin/viaduct rpc --http ${opts.http} dispatcher.list   or   curl -s ${opts.http}/metrics | grep dispatcher`);
      const started = Date.now();
      uac = startSipp({
        scenario: UAC_SCENARIO, remote: listen.replace(/^udp:/, ''), localIp: LOOPBACK, rate: opts.rate, calls,
        timeoutMs: (opts.seconds + 40) * 1000, // a hard cap: calls that never end are retransmitted for 32 s
      });
      let done = false;
      void uac.result.finally(() => (done = true)).catch(() => undefined);
      while (!done) {
        await Promise.race([uac.result.catch(() => undefined), sleep(STATUS_EVERY_MS)]);
        if (!done && !stopping) await printStatus(v, dests, (Date.now() - started) / 1000);
      }
      uacResult = await uac.result;
      await printStatus(v, dests, (Date.now() - started) / 1000);
    }

    // A graceful stop lets each uas finish the calls it has (its 500 ms timewait); after a Ctrl-C
    // the caller is gone, so there is nothing to wait for.
    const served = await Promise.all(uases.splice(0).map((u) => u.stop(stopping ? {} : { graceful: true, graceMs: 2000 })));
    console.log('\nsummary, as each SIPp counted:');
    if (uacResult) {
      console.log(`  caller: ${uacResult.created} calls placed, ${uacResult.successful} completed, ${uacResult.failed} failed` +
        (uacResult.timedOut ? ' (stopped before the end)' : ''));
    }
    dests.forEach((d, i) => {
      const s = served[i]!;
      console.log(`  ${d.uri}${d.attrs.duid ? ` (${d.attrs.duid})` : ''}: ${count(s, 'recv', 'BYE')} calls completed ` +
        `(${count(s, 'recv', 'INVITE')} INVITEs), ${count(s, 'recv', 'OPTIONS')} OPTIONS probes answered`);
    });
    if (stopping || !uacResult) return 130;
    const allServed = served.every((s) => count(s, 'recv', 'BYE') > 0);
    return uacResult.failed === 0 && uacResult.successful === calls && allServed ? 0 : 1;
  } finally {
    await Promise.all(uases.map((u) => u.stop().catch(() => undefined)));
    await uac?.stop().catch(() => undefined);
    await viaduct?.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    console.error(`demo: ${e.message}`);
    process.exit(1);
  },
);
