// Logs under bad input, and the Server / User-Agent headers (issue 10, item 4). Bad input is
// counted and logged at debug level, rate-limited per kind of line with a count of what was
// suppressed, never as a stack trace; a script that throws on bad input logs one line with its
// place; a stderr nobody reads never grows memory (lines are dropped and counted instead). The
// Server header of local replies and the User-Agent of probes follow Kamailio's server_header,
// user_agent_header and server_signature.
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseReadyLine, READY_PREFIX, viaductArgs } from '../../bench/viaduct.js';
import { LOG_REPEAT_PER_S } from '../../src/core/log.js';
import { freePorts, parseMetrics, releasePorts, sendUdp, startViaduct, stopAll, UdpListener, type ViaductProcess } from './harness.js';

const IP = '127.0.0.1';

const request = (port: number, i: number, from = `<sip:alice@${IP}>`): Buffer => Buffer.from(
  `OPTIONS sip:bob@${IP}:${port} SIP/2.0\r\nVia: SIP/2.0/UDP ${IP}:5999;branch=z9hG4bKlog${i};rport\r\n` +
  `From: ${from};tag=${i}\r\nTo: <sip:bob@${IP}>\r\nCall-ID: logs-${i}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n` +
  'Content-Length: 0\r\n\r\n', 'latin1');

/** Malformed datagrams of several kinds: random bytes, truncated SIP, a broken header, a bad reply. */
function malformed(port: number, i: number): Buffer {
  const whole = request(port, i);
  switch (i % 4) {
    case 0: return Buffer.from(Array.from({ length: 40 + (i % 300) }, (_, k) => (i * 131 + k * 29) & 0xff));
    case 1: return whole.subarray(0, 20 + (i % 100));
    case 2: return Buffer.from(whole.toString('latin1').replace('CSeq: 1 OPTIONS', 'CSeq: one OPTIONS'), 'latin1');
    default: return Buffer.from(`SIP/2.0 200 OK\r\nVia: garbage\r\n\r\n`, 'latin1');
  }
}

/** Sends `count` datagrams made by `make` as fast as the socket takes them. */
async function flood(port: number, count: number, make: (i: number) => Buffer): Promise<void> {
  const sock = createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, IP, resolve));
  for (let sent = 0; sent < count; sent += 100) {
    const n = Math.min(100, count - sent);
    await Promise.all(Array.from({ length: n }, (_, j) => new Promise<void>((resolve) => sock.send(make(sent + j), port, IP, () => resolve()))));
  }
  sock.close();
}

const rssKb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

const STACK_FRAME = /^\s+at /m;

describe('logs under bad input', () => {
  let ports: number[] = [];
  let viaduct: ViaductProcess | undefined;
  let child: ChildProcess | undefined;
  let dir: string | undefined;

  afterEach(async () => {
    child?.kill('SIGKILL');
    child = undefined;
    await stopAll([], viaduct, ports);
    viaduct = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('a flood of malformed datagrams: counted, logged at debug level only, rate-limited with a suppressed count, no stack trace', async () => {
    ports = await freePorts(2);
    const [quiet, debug] = ports as [number, number];
    const script = 'function ksr_request_route() { KSR.sl.sl_send_reply(404, "Not here"); }\n';
    // default level (info): nothing about bad input at all
    // warmUp: the floods below arrive at full speed the moment the server is ready
    viaduct = await startViaduct({ script, listen: [`udp:${IP}:${quiet}`], workers: 0, warmUp: true });
    const startup = viaduct.stderr();
    await flood(quiet, 4000, (i) => malformed(quiet, i));
    await expect.poll(async () => parseMetrics(await viaduct!.metrics()).get('viaduct_core_bad_msg_hdr_total') ?? 0).toBeGreaterThan(500);
    expect(viaduct.stderr()).toBe(startup);
    await viaduct.stop();
    viaduct = undefined;

    viaduct = await startViaduct({ script, listen: [`udp:${IP}:${debug}`], workers: 2, extraArgs: ['--log-level', 'dbg'], warmUp: true });
    const v = viaduct;
    const t0 = Date.now();
    await flood(debug, 20_000, (i) => malformed(debug, i));
    // counted as the workers get to them: under load (CI runs test files side by side) the rings
    // still hold part of the flood when the last datagram is sent
    await expect.poll(async () => parseMetrics(await v.metrics()).get('viaduct_core_bad_msg_hdr_total') ?? 0, { timeout: 5000 })
      .toBeGreaterThan(2000);
    // every window that suppressed lines reports them within a second after it ends
    await expect.poll(() => /\(suppressed \d+ similar lines\)/.test(v.stderr()), { timeout: 3000 }).toBe(true);
    const seconds = Math.ceil((Date.now() - t0) / 1000) + 1;
    const log = v.stderr();
    const lines = log.split('\n').filter((l) => / DEBUG: (dropping unparsable|bad header|rejecting|dropping bad reply)/.test(l));
    // per kind and SIP thread (2 workers; the receiving thread runs no script), LOG_REPEAT_PER_S
    // lines a second plus one summary line
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.length).toBeLessThanOrEqual(4 * 2 * (LOG_REPEAT_PER_S + 1) * seconds);
    expect(log).not.toMatch(STACK_FRAME);
    const suppressed = [...log.matchAll(/\(suppressed (\d+) similar lines\)/g)].reduce((sum, x) => sum + Number(x[1]), 0);
    expect(suppressed).toBeGreaterThan(1000);
    expect(parseMetrics(await v.metrics()).get('viaduct_log_suppressed_total')).toBeGreaterThan(1000);
  });

  it('a script that throws on bad input: one line per error with the script\'s place, rate-limited, no stack trace', async () => {
    ports = await freePorts(1);
    const [port] = ports as [number];
    viaduct = await startViaduct({
      script: [
        'function ksr_request_route() {',
        '  var user = KSR.pv.get("$fU"); // null when the From URI has no user',
        '  if (user.length > 64) return;',
        '  KSR.sl.sl_send_reply(404, "Not here");',
        '}',
        '',
      ].join('\n'),
      listen: [`udp:${IP}:${port}`],
      workers: 1,
      expectScriptErrors: true,
      warmUp: true,
    });
    const v = viaduct;
    await flood(port, 3000, (i) => request(port, i, `<sip:${IP}>`));
    await expect.poll(async () => parseMetrics(await v.metrics()).get('viaduct_script_errors_total') ?? 0, { timeout: 5000 }).toBe(3000);
    await expect.poll(() => /\(suppressed \d+ similar lines\)/.test(v.stderr()), { timeout: 3000 }).toBe(true);
    const errors = v.stderr().split('\n').filter((l) => l.includes('ERROR: error processing message'));
    expect(errors[0]).toMatch(/ERROR: error processing message from 127\.0\.0\.1:\d+: TypeError: Cannot read properties of null \(reading 'length'\) \(at \/.*script\.js:3:\d+\)$/);
    expect(errors.length).toBeLessThan(300);
    expect(v.stderr()).not.toMatch(STACK_FRAME);
  });

  it('a stderr nobody reads: memory stays bounded, the lines dropped are counted and reported once it is read again', async () => {
    ports = await freePorts(2);
    const [port, http] = ports as [number, number];
    dir = mkdtempSync(join(tmpdir(), 'viaduct-logs-'));
    const script = join(dir, 'script.js');
    // a line per request at info level (not rate-limited: the script asked for it), and an
    // exception for a From without user
    writeFileSync(script, [
      'function ksr_request_route() {',
      '  KSR.xlog.xinfo("request $rm $ci from $si:$sp\\n");',
      '  if (KSR.pv.get("$fU").length > 64) return;',
      '  KSR.sl.sl_send_reply(404, "Not here");',
      '}',
      '',
    ].join('\n'));
    const args = viaductArgs({ script, listen: [`udp:${IP}:${port}`], workers: 2, http: `${IP}:${http}` });
    const c = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    // stdout is read for the ready line; stderr is not read until the end
    let out = '';
    const ready = await new Promise<string>((resolve, reject) => {
      c.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n').find((l) => l.startsWith(READY_PREFIX));
        if (line) resolve(line);
      });
      c.once('exit', (code) => reject(new Error(`viaduct exited (${code}): ${out}`)));
    });
    expect(parseReadyLine(ready).http).toBe(`${IP}:${http}`);
    const metrics = async (): Promise<Map<string, number>> => parseMetrics(await (await fetch(`http://${IP}:${http}/metrics`)).text());
    const before = rssKb(c.pid!);
    await flood(port, 100_000, (i) => request(port, i, i % 2 ? `<sip:${IP}>` : `<sip:alice@${IP}>`));
    // the main thread still answers while its stderr is blocked
    const m = await metrics();
    const growthMb = (rssKb(c.pid!) - before) / 1024;
    expect(m.get('viaduct_core_rcv_requests_total')).toBeGreaterThan(20_000);
    // before the fix: +100 MB and more (the lines queued in the main thread for fd 2)
    expect(growthMb, `RSS grew ${growthMb.toFixed(1)} MB`).toBeLessThan(40);
    expect(m.get('viaduct_log_dropped_total')).toBeGreaterThan(1000);
    // read it again: what was queued is written, then how many lines were lost
    let err = '';
    c.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    await expect.poll(() => /WARNING: \d+ log lines dropped: stderr was not being read/.test(err), { timeout: 5000 }).toBe(true);
    expect(err).not.toMatch(STACK_FRAME);
    releasePorts(ports);
    ports = [];
  });
});

describe('Server and User-Agent headers', () => {
  let ports: number[] = [];
  let viaduct: ViaductProcess | undefined;
  let listener: UdpListener | undefined;
  let dir: string | undefined;

  afterEach(async () => {
    await listener?.close();
    listener = undefined;
    await stopAll([], viaduct, ports);
    viaduct = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  /** A server with `settings`, its reply to an OPTIONS and the first probe a destination saw. */
  async function headersWith(settings: string): Promise<{ reply: string; probe: string }> {
    ports = await freePorts(2);
    const [port, dest] = ports as [number, number];
    listener = await UdpListener.open(IP, dest);
    dir = mkdtempSync(join(tmpdir(), 'viaduct-server-header-'));
    writeFileSync(join(dir, 'dispatcher.list'), `1 sip:${IP}:${dest}\n`);
    viaduct = await startViaduct({
      script: `var settings = ${settings};\nfunction ksr_request_route() { KSR.sl.sl_send_reply(200, "OK"); }\n`,
      listen: [`udp:${IP}:${port}`],
      workers: 0,
      modparams: [`dispatcher:list_file=${join(dir, 'dispatcher.list')}`, 'dispatcher:ds_ping_interval=1', 'dispatcher:ds_probing_mode=1'],
    });
    const [reply] = await sendUdp(IP, port, request(port, 1), { waitReplyMs: 2000, maxReplies: 1 });
    expect(reply, 'a reply to the OPTIONS').toBeDefined();
    expect(await listener.waitFor((d) => d.data.toString('latin1').startsWith('OPTIONS '), 5000)).toBe(true);
    return { reply: reply!.data.toString('latin1'), probe: listener.received[0]!.data.toString('latin1') };
  }

  it('by default: Server: viaduct on local replies, User-Agent: viaduct on probes', async () => {
    const { reply, probe } = await headersWith('{}');
    expect(reply).toMatch(/^SIP\/2\.0 200 OK\r\n/);
    expect(reply).toContain('\r\nServer: viaduct\r\n');
    expect(probe).toContain('\r\nUser-Agent: viaduct\r\n');
  });

  it('server_header and user_agent_header set what is sent', async () => {
    const { reply, probe } = await headersWith('{ server_header: "Server: Acme SBC", user_agent_header: "User-Agent: Acme prober" }');
    expect(reply).toContain('\r\nServer: Acme SBC\r\n');
    expect(reply).not.toMatch(/viaduct/i);
    expect(probe).toContain('\r\nUser-Agent: Acme prober\r\n');
    expect(probe).not.toMatch(/viaduct/i);
  });

  it('server_signature "no" sends neither header (scanners learn no product name)', async () => {
    const { reply, probe } = await headersWith('{ server_signature: "no" }');
    expect(reply).toMatch(/^SIP\/2\.0 200 OK\r\n/);
    expect(reply).not.toMatch(/^Server:/im);
    expect(reply).not.toMatch(/viaduct/i);
    expect(probe).not.toMatch(/^User-Agent:/im);
    expect(probe).not.toMatch(/viaduct/i);
  });
});
