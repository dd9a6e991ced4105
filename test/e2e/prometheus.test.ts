// /metrics as people query it: a real Prometheus (Debian's `prometheus`, installed by
// `make prometheus`) scrapes viaduct every second while SIPp calls go through the dispatcher and tm, then
// every query of every Grafana dashboard is evaluated through its HTTP API and must be valid and
// return data. Then the kernel's UDP drops: a stalled SIP thread makes the kernel drop what its
// socket cannot hold, and /metrics counts exactly what was sent and never received.
import { createSocket } from 'node:dgram';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { repoPath } from '../../bench/paths.js';
import { sleep, spawnLogged, stopProcess, describeOutput, type Spawned } from '../../bench/proc.js';
import { freePorts, parseMetrics, startSipp, startViaduct, stopAll, type SippProcess, type ViaductProcess } from './harness.js';

const LOOPBACK = '127.0.0.1';
const DASHBOARDS = repoPath('grafana/dashboards');
const SCRAPE_S = 1;

let ports: number[] = [];
let sipps: (SippProcess | undefined)[] = [];
let viaduct: ViaductProcess | undefined;
let prometheus: Spawned | undefined;
let dir: string | undefined;

afterEach(async () => {
  try {
    if (prometheus) await stopProcess(prometheus);
    await stopAll(sipps, viaduct, ports);
  } finally {
    prometheus = undefined;
    sipps = [];
    viaduct = undefined;
    ports = [];
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  }
});

/** Prometheus scraping `target` every SCRAPE_S, with its storage in `dir`; resolves when ready. */
async function startPrometheus(port: number, target: string): Promise<Spawned> {
  const config = join(dir!, 'prometheus.yml');
  writeFileSync(config, [
    'global:',
    `  scrape_interval: ${SCRAPE_S}s`,
    `  scrape_timeout: ${SCRAPE_S}s`,
    'scrape_configs:',
    '  - job_name: viaduct', // as in grafana/prometheus.yml
    '    static_configs:',
    `      - targets: ['${target}']`,
    '',
  ].join('\n'));
  const p = spawnLogged('prometheus', [
    `--config.file=${config}`,
    `--storage.tsdb.path=${join(dir!, 'data')}`,
    `--web.listen-address=${LOOPBACK}:${port}`,
    '--log.level=warn',
  ]);
  for (let i = 0; i < 100; i++) {
    if (p.exitStatus()) break;
    const ready = await fetch(`http://${LOOPBACK}:${port}/-/ready`).then((r) => r.ok, () => false);
    if (ready) return p;
    await sleep(100);
  }
  throw new Error(`prometheus did not become ready (installed by make prometheus?)\n${describeOutput(p)}`);
}

interface PromResult {
  status: string;
  error?: string;
  data: { resultType?: string; result?: { metric: Record<string, string>; value: [number, string] }[] } | string[];
}

async function promApi(port: number, path: string, params: Record<string, string>): Promise<PromResult> {
  const res = await fetch(`http://${LOOPBACK}:${port}${path}?${new URLSearchParams(params)}`);
  return (await res.json()) as PromResult;
}

const instant = async (port: number, query: string) => {
  const r = await promApi(port, '/api/v1/query', { query });
  return { ...r, result: r.status === 'success' ? (r.data as { result: { metric: Record<string, string>; value: [number, string] }[] }).result : [] };
};

/** Every query a dashboard runs: its panels' exprs and its query variables' definitions. */
function dashboardQueries(file: string): { where: string; query: string }[] {
  const d = JSON.parse(readFileSync(join(DASHBOARDS, file), 'utf8')) as {
    panels: { title: string; targets?: { expr: string; legendFormat?: string }[] }[];
    templating: { list: { name: string; type: string; query?: { query: string } | string }[] };
  };
  const out: { where: string; query: string }[] = [];
  for (const v of d.templating.list) {
    if (v.type === 'query' && typeof v.query === 'object') out.push({ where: `${file} variable $${v.name}`, query: v.query.query });
  }
  for (const p of d.panels) {
    for (const t of p.targets ?? []) out.push({ where: `${file} "${p.title}" (${t.legendFormat})`, query: t.expr });
  }
  return out;
}

/** What Grafana puts in place of its variables: this instance, every set, a 1 s scrape's rate interval. */
function interpolate(query: string, instance: string): string {
  const vars: Record<string, string> = {
    instance: instance.replace(/[.*+?^${}()|[\]\\]/g, '\\\\$&'), // a regex matcher inside a PromQL string
    set: '.*',
    __rate_interval: `${4 * SCRAPE_S}s`, // Grafana: at least 4 scrape intervals
    __interval: `${SCRAPE_S}s`,
    __range: '1m',
  };
  return query.replace(/\$\{?(\w+)\}?/g, (all, name: string) => {
    const v = vars[name];
    if (v === undefined) throw new Error(`the test does not know the dashboard variable ${all} in ${query}`);
    return v;
  });
}

describe('Prometheus scraping viaduct under SIPp load', () => {
  it('evaluates every query of every dashboard: valid, and each returns data', async () => {
    ports = await freePorts(5);
    const [proxyPort, uacPort, uasA, uasB, promPort] = ports as [number, number, number, number, number];
    dir = mkdtempSync(join(tmpdir(), 'viaduct-prom-e2e-'));
    const list = join(dir, 'dispatcher.list');
    writeFileSync(list, `1 sip:${LOOPBACK}:${uasA} 8\n1 sip:${LOOPBACK}:${uasB} 8\n`);
    viaduct = await startViaduct({
      // Call-ID hashing keeps every message of a call on one uas without record-routing; the BYEs
      // go statefully so that the tm panels show transactions (only they: the load stays light)
      script: `function ksr_request_route() {
  if (KSR.dispatcher.ds_select_dst(1, 0) < 0) { KSR.sl.sl_send_reply(503, "No destination"); return; }
  if (KSR.is_BYE()) KSR.tm.t_relay(); else KSR.forward();
}`,
      listen: [`udp:${LOOPBACK}:${proxyPort}`],
      workers: 2, // sharded: the receiving thread and two workers, each with its delay
      modparams: [`dispatcher:list_file=${list}`, 'dispatcher:ds_ping_interval=1'],
    });
    sipps = [uasA, uasB].map((port) => startSipp({ scenario: 'uas', localIp: LOOPBACK, localPort: port, autoAnswer: true }));
    await Promise.all(sipps.map((s) => s!.ready));
    const rate = 200;
    const uac = startSipp({ scenario: 'uac', remote: `${LOOPBACK}:${proxyPort}`, localIp: LOOPBACK, localPort: uacPort, rate, calls: rate * 60 });
    sipps.push(uac);
    await uac.ready;

    const instance = viaduct.ready.http!;
    prometheus = await startPrometheus(promPort, instance);
    // enough scrapes under load for rates over 4 intervals and the dashboards' 1m windows
    let scrapes = 0;
    for (let i = 0; i < 200 && scrapes < 8; i++) {
      await sleep(100);
      const r = await instant(promPort, `sum_over_time(up{instance="${instance}"}[1m])`); // successful ones
      scrapes = Number(r.result[0]?.value[1] ?? 0);
    }
    expect(scrapes, describeOutput(prometheus)).toBeGreaterThanOrEqual(8);

    const queries = readdirSync(DASHBOARDS).filter((f) => f.endsWith('.json')).flatMap(dashboardQueries);
    expect(queries.length).toBeGreaterThan(30);
    // A query that is invalid fails at once; one without data is asked again a few scrapes later
    // (a scrape that timed out on this busy machine leaves the gauges stale for a moment).
    let pending = queries.map((x) => ({ ...x, q: interpolate(x.query, instance) }));
    const invalid: string[] = [];
    let empty: string[] = [];
    for (let attempt = 0; attempt < 4 && pending.length; attempt++) {
      if (attempt) await sleep(1000 * SCRAPE_S);
      const again: typeof pending = [];
      empty = [];
      for (const x of pending) {
        const labelValues = /^label_values\((.+),\s*(\w+)\)$/.exec(x.q);
        const r = labelValues
          ? await promApi(promPort, `/api/v1/label/${labelValues[2]}/values`, { 'match[]': labelValues[1]! })
          : await promApi(promPort, '/api/v1/query', { query: x.q });
        const data = r.status !== 'success' ? null : labelValues ? (r.data as string[]) : (r.data as { result: unknown[] }).result;
        if (!data) invalid.push(`${x.where}: ${x.q} -> ${r.error}`);
        else if (!data.length) {
          again.push(x);
          empty.push(`${x.where}: ${x.q} -> no data`);
        }
      }
      pending = again;
    }
    const failures = [...invalid, ...empty];
    console.log(`prometheus: ${scrapes} scrapes, ${queries.length} dashboard queries evaluated, ${failures.length} failed`);
    expect(failures, failures.join('\n')).toEqual([]);

    // the labels carry what the dashboards show: INVITEs by method, 2xx by class, a delay per thread
    const invites = await instant(promPort, `sum(rate(viaduct_core_rcv_requests_total{instance="${instance}",method="INVITE"}[4s]))`);
    expect(Number(invites.result[0]!.value[1])).toBeGreaterThan(rate / 4);
    const ok = await instant(promPort, `sum(rate(viaduct_core_rcv_replies_total{instance="${instance}",class="2xx"}[4s]))`);
    expect(Number(ok.result[0]!.value[1])).toBeGreaterThan(rate / 4);
    // a transaction per call (the BYE), answered 2xx upstream
    const created = await instant(promPort, `sum(rate(viaduct_tm_transactions_total{instance="${instance}"}[4s]))`);
    expect(Number(created.result[0]!.value[1])).toBeGreaterThan(rate / 4);
    const tm2xx = await instant(promPort, `sum(rate(viaduct_tm_replies_total{instance="${instance}",class="2xx"}[4s]))`);
    expect(Number(tm2xx.result[0]!.value[1])).toBeGreaterThan(rate / 4);
    const delays = await instant(promPort, `viaduct_event_loop_delay_seconds{instance="${instance}"}`);
    expect(delays.result.map((s) => s.metric.thread).sort()).toEqual(['receiver', 'worker 1', 'worker 2']);
    for (const s of delays.result) expect(Number(s.value[1])).toBeLessThan(1);
    const info = await instant(promPort, `viaduct_build_info{instance="${instance}"}`);
    expect(info.result[0]!.metric).toMatchObject({ udp: viaduct.ready.udp, mode: 'sharded', node: process.version });
  }, 60_000);
});

describe('kernel UDP drops', () => {
  it('counts per socket what the kernel dropped while the SIP thread was stalled: received + dropped = sent', async () => {
    ports = await freePorts(2);
    const [v4Port, v6Port] = ports as [number, number];
    viaduct = await startViaduct({
      script: `var settings = { udp_buffer_bytes: 65536 }; // the smallest buffer we allow: it fills fast
function ksr_request_route() {
  if (KSR.pv.get("$ci") === "stall") { var end = Date.now() + 800; while (Date.now() < end) {} }
}`,
      listen: [`udp:${LOOPBACK}:${v4Port}`, `udp:[::1]:${v6Port}`],
      workers: 1, // the worker reads the sockets itself: while it is stalled nobody does
    });
    const v = viaduct;
    const request = (callId: string) => Buffer.from([
      `OPTIONS sip:[::1]:${v6Port} SIP/2.0`, 'Via: SIP/2.0/UDP [::1]:5999;branch=z9hG4bK-' + callId, 'Max-Forwards: 70',
      'From: <sip:t@[::1]>;tag=1', `To: <sip:[::1]:${v6Port}>`, `Call-ID: ${callId}`, 'CSeq: 1 OPTIONS', 'Content-Length: 0', '', '',
    ].join('\r\n'));
    const before = parseMetrics(await v.metrics());
    const sock = createSocket('udp6');
    const sent = 2000;
    try {
      await new Promise<void>((resolve) => sock.bind(0, '::1', resolve));
      const send = (b: Buffer) => new Promise<void>((resolve, reject) => sock.send(b, v6Port, '::1', (e) => (e ? reject(e) : resolve())));
      await send(request('stall'));
      await sleep(100); // the thread is in the stall now (until 800 ms; the watchdog allows 2000)
      await Promise.all(Array.from({ length: sent }, (_, i) => send(request(`burst-${i}`))));
    } finally {
      sock.close();
    }
    const drops = (m: Map<string, number>, socket: string) => m.get(`viaduct_udp_kernel_drops_total{socket="${socket}"}`) ?? NaN;
    const v6 = `udp:[::1]:${v6Port}`;
    let m = parseMetrics(await v.metrics());
    for (let i = 0; i < 50; i++) {
      const received = m.get('viaduct_core_rcv_requests_total')! - before.get('viaduct_core_rcv_requests_total')!;
      if (received + drops(m, v6) === sent + 1) break;
      await sleep(100);
      m = parseMetrics(await v.metrics());
    }
    const received = m.get('viaduct_core_rcv_requests_total')! - before.get('viaduct_core_rcv_requests_total')!;
    const report = `sent ${sent + 1}, received ${received}, dropped ${drops(m, v6)} (before: ${drops(before, v6)})`;
    console.log(`kernel drops: ${report}`);
    expect(drops(before, v6), report).toBe(0);
    expect(drops(m, v6), report).toBeGreaterThan(0);
    expect(received + drops(m, v6), report).toBe(sent + 1);
    expect(drops(m, `udp:${LOOPBACK}:${v4Port}`), report).toBe(0);
  }, 30_000);
});
