// A small typed wrapper around the SIPp binary (Debian sip-tester 3.6). There is no npm
// package for this. SIPp runs in the foreground (never -bg) in its own temp directory,
// because -trace_rtt always writes <scenario>_<pid>_rtt.csv into the working directory;
// the result is parsed from the files it leaves there.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { cpuTicks, clockTicksPerSecond, ownsPort, sleep, spawnLogged, stopProcess, type Spawned } from './proc.js';
import {
  parseErrorLog,
  parseScenarioScreen,
  parseStatCsv,
  rttPercentiles,
  type Percentiles,
  type SippMessageStat,
  type SippStats,
} from './sipp-parse.js';

export type { Percentiles, SippMessageStat } from './sipp-parse.js';

/** -t: u1 one UDP socket, un one UDP socket per call, ui one per IP (injection file), t1/tn TCP. */
export type SippTransport = 'u1' | 'un' | 'ui' | 't1' | 'tn';

export interface SippOptions {
  /** 'uac', 'uas' or another built-in (-sn), or a path to an XML scenario (-sf). */
  scenario: string;
  /** host:port to send to (client scenarios). */
  remote?: string;
  /** -i: local IP, also used in Via/Contact/From. */
  localIp?: string;
  /** -p: local port (random when omitted). */
  localPort?: number;
  /** -r: calls per rate period. */
  rate?: number;
  /** -rp: rate period in ms (default 1000). */
  ratePeriodMs?: number;
  /** -m: stop after this many calls. */
  calls?: number;
  /** -l: maximum simultaneous calls. */
  maxConcurrent?: number;
  /**
   * -timeout: SIPp stops creating calls after this many seconds. 3.6.1 then still waits
   * for the calls in progress (up to ~32 s of INVITE retransmissions): use timeoutMs for a hard cap.
   */
  maxDurationS?: number;
  /** -aa: answer INFO, NOTIFY, OPTIONS and UPDATE automatically. */
  autoAnswer?: boolean;
  /** -nr: no UDP retransmissions. */
  noRetrans?: boolean;
  transport?: SippTransport;
  /** -buff_size: socket send and receive buffer bytes (capped by net.core.rmem_max/wmem_max). */
  bufferBytes?: number;
  /** -inf: CSV injection files. */
  injectionFiles?: string[];
  /** -set NAME VALUE: scenario variables. */
  variables?: Record<string, string | number>;
  /** -key NAME VALUE: generic keywords ([NAME] in the scenario). */
  keywords?: Record<string, string | number>;
  extraArgs?: string[];
  /**
   * Our own deadline: SIGTERM after this long; the result then has timedOut=true (SIPp exits 0
   * on SIGTERM and counts calls cut short neither as successful nor as failed).
   */
  timeoutMs?: number;
  /** Keep the trace directory (its path is in the result) instead of deleting it. */
  keepFiles?: boolean;
  /** SIPp binary, default 'sipp' on PATH. */
  sippPath?: string;
}

export interface SippResult extends SippStats {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Our timeoutMs expired and SIPp was stopped. */
  timedOut: boolean;
  /** The final scenario screen's table, one entry per scenario line. */
  messages: SippMessageStat[];
  /** Response time of the first RTD (the default uac's INVITE -> 200), ms. */
  responseTime: Percentiles | null;
  /** All RTDs by number. */
  responseTimes: Record<string, Percentiles>;
  /** Entries of the -trace_err log (the first 50). */
  errors: string[];
  /** CPU seconds used by SIPp (sampled every 100 ms: the last ~100 ms may be missing). */
  cpuS: number;
  /** Wall-clock seconds from spawn to exit. */
  wallS: number;
  stdout: string;
  stderr: string;
  /** The trace directory, when keepFiles. */
  dir?: string;
}

export interface SippProcess {
  readonly pid: number;
  readonly args: readonly string[];
  /** Resolves once SIPp listens on localPort; rejects with its stderr if it exits first. */
  readonly ready: Promise<void>;
  /** Settles when SIPp exits by itself or is stopped: the parsed result, or an error if it never started. */
  readonly result: Promise<SippResult>;
  /** CPU seconds used so far (for measuring a window of a long-running uas). */
  cpuSeconds(): number;
  /**
   * Stops SIPp and returns its result. Default: SIGTERM, which makes SIPp exit at once and
   * still write its statistics and final screen. graceful: SIGUSR1 first (no new calls, wait
   * for running ones: the default uas holds every call 4 s after the BYE), SIGTERM after graceMs.
   */
  stop(opts?: { graceful?: boolean; graceMs?: number }): Promise<SippResult>;
}

const FILES = { stat: 'stat.csv', screen: 'screen.log', errors: 'errors.log' } as const;
// SIPp's exit codes 255 (-1, fatal error) and 254 (-2, cannot bind a socket).
const FATAL_EXIT = new Set([254, 255]);

const isScenarioFile = (s: string) => s.endsWith('.xml') || s.includes('/');

/** The SIPp command line for `opts`; trace files go to the working directory. */
export function sippArgs(opts: SippOptions): string[] {
  const a: string[] = [];
  if (opts.remote) a.push(opts.remote);
  a.push(...(isScenarioFile(opts.scenario) ? ['-sf', resolve(opts.scenario)] : ['-sn', opts.scenario]));
  if (opts.localIp) a.push('-i', opts.localIp);
  if (opts.localPort !== undefined) a.push('-p', String(opts.localPort));
  if (opts.transport) a.push('-t', opts.transport);
  // Socket-per-call modes refuse to start while -max_socket (default 50000) is not below
  // the open-files limit, which is lower than that here.
  if (opts.transport?.endsWith('n') && !opts.extraArgs?.includes('-max_socket')) a.push('-max_socket', '10000');
  // SIPp's default 64 KB socket buffers overflow at a few thousand calls/s while it writes its
  // trace files; lost replies then look like proxy failures. Give it what the proxy has.
  if (!opts.extraArgs?.includes('-buff_size')) a.push('-buff_size', String(opts.bufferBytes ?? 4 << 20));
  if (opts.rate !== undefined) a.push('-r', String(opts.rate));
  if (opts.ratePeriodMs !== undefined) a.push('-rp', String(opts.ratePeriodMs));
  if (opts.calls !== undefined) a.push('-m', String(opts.calls));
  if (opts.maxConcurrent !== undefined) a.push('-l', String(opts.maxConcurrent));
  if (opts.maxDurationS !== undefined) a.push('-timeout', `${opts.maxDurationS}s`);
  if (opts.autoAnswer) a.push('-aa');
  if (opts.noRetrans) a.push('-nr');
  for (const f of opts.injectionFiles ?? []) a.push('-inf', resolve(f));
  for (const [k, v] of Object.entries(opts.variables ?? {})) a.push('-set', k, String(v));
  for (const [k, v] of Object.entries(opts.keywords ?? {})) a.push('-key', k, String(v));
  a.push(
    // No terminal: without -nostdin SIPp would poll stdin for keys.
    '-nostdin',
    // Periodic statistics every second (the last row holds the totals).
    '-trace_stat', '-stf', FILES.stat, '-fd', '1',
    // Every call's response time (the default -rtt_freq 200 drops all of a short run).
    '-trace_rtt', '-rtt_freq', '1',
    '-trace_err', '-error_file', FILES.errors,
    '-trace_screen', '-screen_file', FILES.screen,
  );
  a.push(...(opts.extraArgs ?? []));
  return a;
}

const readOr = (path: string, fallback = ''): string => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
};

function collectResult(
  p: Spawned,
  dir: string,
  extra: Pick<SippResult, 'timedOut' | 'cpuS' | 'wallS'>,
  keepFiles: boolean,
): SippResult {
  const status = p.exitStatus()!;
  const stats = parseStatCsv(readOr(join(dir, FILES.stat)));
  try {
    // SIPp that never got going (port busy, bad scenario, unknown option) leaves no
    // statistics, or exits fatally before creating a call: that is a start failure.
    if (!stats || (FATAL_EXIT.has(status.code ?? 0) && stats.created === 0)) {
      throw new Error(`SIPp failed (exit code ${status.code}, signal ${status.signal}): ${p.stderr().trim() || p.stdout().trim()}\n${p.command}`);
    }
    // The screen file is written only on a normal or SIGUSR1 exit; after SIGTERM the same
    // final screen is on stdout (SIPp prints it there when stdout is not a terminal).
    const messages = parseScenarioScreen(readOr(join(dir, FILES.screen))) ?? parseScenarioScreen(p.stdout()) ?? [];
    const rttFile = readdirSync(dir).find((f) => f.endsWith('_rtt.csv'));
    const responseTimes = rttFile ? rttPercentiles(readOr(join(dir, rttFile))) : {};
    const firstRtd = Object.keys(responseTimes).sort()[0];
    return {
      ...stats,
      exitCode: status.code,
      signal: status.signal,
      messages,
      responseTime: firstRtd !== undefined ? responseTimes[firstRtd]! : null,
      responseTimes,
      errors: parseErrorLog(readOr(join(dir, FILES.errors))),
      stdout: p.stdout(),
      stderr: p.stderr(),
      ...extra,
      ...(keepFiles ? { dir } : {}),
    };
  } finally {
    if (!keepFiles) rmSync(dir, { recursive: true, force: true });
  }
}

/** Starts SIPp in the background (typically a uas); see SippProcess. */
export function startSipp(opts: SippOptions): SippProcess {
  const dir = mkdtempSync(join(tmpdir(), `sipp-${basename(opts.scenario, '.xml')}-`));
  const args = sippArgs(opts);
  const started = Date.now();
  const p = spawnLogged(opts.sippPath ?? 'sipp', args, { cwd: dir });

  // SIPp runs one thread; sample its CPU while it lives, since an exited child's
  // /proc entry is gone before we could read the final figure.
  let cpuS = 0;
  const sampleCpu = () => {
    const t = cpuTicks([p.pid]).get(p.pid);
    if (t !== undefined) cpuS = t / clockTicksPerSecond();
    return cpuS;
  };
  const sampler = setInterval(sampleCpu, 100).unref();

  let timedOut = false;
  const deadline =
    opts.timeoutMs !== undefined
      ? setTimeout(() => {
          timedOut = true;
          void stopProcess(p, { group: false });
        }, opts.timeoutMs).unref()
      : undefined;

  const result = p.exited.then(() => {
    clearInterval(sampler);
    if (deadline) clearTimeout(deadline);
    return collectResult(p, dir, { timedOut, cpuS, wallS: (Date.now() - started) / 1000 }, opts.keepFiles ?? false);
  });

  const proto = opts.transport?.startsWith('t') ? 'tcp' : 'udp';
  const ready = (async () => {
    for (;;) {
      if (p.exitStatus()) {
        await result; // throws the start failure with SIPp's stderr
        throw new Error(`SIPp exited before it was ready\n${p.stderr()}`);
      }
      if (opts.localPort === undefined ? Date.now() - started > 200 : ownsPort(p.pid, opts.localPort, proto)) return;
      await sleep(20);
    }
  })();
  // Callers may await only one of these; the other must not become an unhandled rejection.
  result.catch(() => {});
  ready.catch(() => {});

  return {
    pid: p.pid,
    args,
    ready,
    result,
    cpuSeconds: sampleCpu,
    async stop({ graceful = false, graceMs = 10_000 } = {}) {
      if (!p.exitStatus()) {
        if (graceful) {
          process.kill(p.pid, 'SIGUSR1');
          await Promise.race([p.exited, sleep(graceMs)]);
        }
        await stopProcess(p, { group: false });
      }
      return result;
    },
  };
}

/**
 * Runs SIPp to completion. SIPp exits 1 when some calls failed: that is a result, not an
 * error. Rejects only when SIPp could not start (its stderr is in the message).
 */
export function runSipp(opts: SippOptions): Promise<SippResult> {
  return startSipp(opts).result;
}
