// Helpers for the end-to-end tests: start the real server, allocate ports, send raw UDP.
// The process, port and UDP machinery lives in bench/ (the benchmark uses it too).
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, releasePorts } from '../../bench/ports.js';
import { spawnViaduct, type ViaductOptions, type ViaductProcess as Spawned } from '../../bench/viaduct.js';
import type { SippProcess, SippResult } from '../../bench/sipp.js';

export { freePort, freePorts, releasePorts } from '../../bench/ports.js';
export { sendUdp, UdpListener, type Datagram } from '../../bench/udp.js';
export { RpcError, parseReadyLine, type ViaductReady } from '../../bench/viaduct.js';
export { runSipp, startSipp, type SippOptions, type SippResult, type SippProcess } from '../../bench/sipp.js';

/** The bench's server options, except that `script` may be inline source and http defaults to a free port. */
export interface StartViaductOptions extends ViaductOptions {
  /** A path to a routing script, or the script's source (written to a temp file). */
  script: string;
  /** File name for inline source (the extension tells the loader what it is); default script.js. */
  scriptName?: string;
  /** IP:PORT for JSON-RPC and /metrics, or 'off'. Default: 127.0.0.1 on a free port. */
  http?: string;
  /**
   * The test makes the routing script throw on purpose. Without it, stop() fails when the
   * script threw while the server ran (an exception in a script under test fails the test).
   */
  expectScriptErrors?: boolean;
  /**
   * Warm the SIP threads' JIT up before they read (the server's default, src/core/runtime/warm-up.ts).
   * Off unless asked: it costs ~0.6 s per start, and only a server started into heavy load needs it.
   */
  warmUp?: boolean;
}

export type ViaductProcess = Spawned;

/** What core.ts logs (level ERROR) for an exception a route threw while processing a message. */
const SCRIPT_ERROR_LOG = /ERROR: error processing message from .*/g;
const SCRIPT_ERRORS_STAT = 'viaduct:script_errors';

/**
 * The script errors of a running server, counted by every worker (viaduct:script_errors, whatever
 * the log level); null when it cannot be asked (no HTTP server, or the process is gone).
 */
async function countedScriptErrors(v: Spawned): Promise<number | null> {
  if (!v.ready.http) return null;
  try {
    const [line] = await v.rpc<string[]>('stats.get_statistics', SCRIPT_ERRORS_STAT);
    const m = /^viaduct:script_errors = (\d+)$/.exec(line ?? '');
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Fails when the server's routing script threw: the counter if it could be read, and the log. */
function assertNoScriptErrors(counted: number | null, stderr: string): void {
  const logged = stderr.match(SCRIPT_ERROR_LOG) ?? [];
  if (!counted && logged.length === 0) return;
  throw new Error(
    `the routing script under test threw (${SCRIPT_ERRORS_STAT} = ${counted ?? 'unknown'}, ${logged.length} logged); ` +
      `pass expectScriptErrors: true to startViaduct if the test provokes this\n${logged.slice(0, 5).join('\n')}\n--- stderr ---\n${stderr.slice(-3000)}`,
  );
}

/**
 * The afterEach of an e2e test: stops the SIPp processes, then the server (any of them may be
 * gone already), and frees the ports. The caller forgets its handles afterwards. Rejects when
 * the server's routing script threw (see StartViaductOptions.expectScriptErrors).
 */
export async function stopAll(sipps: (SippProcess | undefined)[], server: ViaductProcess | undefined, ports: number[]): Promise<void> {
  try {
    await Promise.all(sipps.map((s) => s?.stop().catch(() => undefined)));
    await server?.stop();
  } finally {
    releasePorts(ports);
  }
}

/**
 * Spawns `node dist/src/cli/main.js run SCRIPT --listen ... --workers N --http IP:PORT` and
 * resolves after its `viaduct ready ...` line (rejects with its output on exit or timeout).
 * Needs `make build` (vitest does not compile src/).
 */
export async function startViaduct(opts: StartViaductOptions): Promise<ViaductProcess> {
  let tempDir: string | undefined;
  let script = opts.script;
  if (!existsSync(script)) {
    tempDir = mkdtempSync(join(tmpdir(), 'viaduct-script-'));
    script = join(tempDir, opts.scriptName ?? 'script.js');
    writeFileSync(script, opts.script);
  }
  const ownHttpPort = opts.http === undefined ? await freePort() : undefined;
  const cleanup = () => {
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
    if (ownHttpPort !== undefined) releasePorts([ownHttpPort]);
  };
  let checked = false; // for script errors, by the first stop()
  try {
    const v = await spawnViaduct({
      script,
      listen: opts.listen,
      workers: opts.workers,
      http: opts.http ?? `127.0.0.1:${ownHttpPort}`,
      modparams: opts.modparams,
      extraArgs: opts.extraArgs,
      readyTimeoutMs: opts.readyTimeoutMs,
      env: opts.warmUp || opts.env?.VIADUCT_WARM_UP_CALLS !== undefined ? opts.env : { ...(opts.env ?? process.env), VIADUCT_WARM_UP_CALLS: '0' },
    });
    return {
      ...v,
      get pids() {
        return v.pids;
      },
      /**
       * Stops the server; the first call rejects if its routing script threw (unless
       * expectScriptErrors), later ones only stop, so an afterEach does not fail a second time.
       */
      async stop() {
        const check = !opts.expectScriptErrors && !checked;
        checked = true;
        try {
          const counted = check ? await countedScriptErrors(v) : null;
          const status = await v.stop();
          if (check) assertNoScriptErrors(counted, v.stderr());
          return status;
        } finally {
          cleanup();
        }
      },
    };
  } catch (e) {
    cleanup();
    throw e;
  }
}

/**
 * A Prometheus text page -> map: each sample by `name{labels}` as written, and a labelled family
 * also summed under its bare name (viaduct_core_rcv_requests_total{method=...} -> Kamailio's
 * core:rcv_requests).
 */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{.*\})?\s+(\S+)$/.exec(line);
    if (!m) continue;
    const value = Number(m[3]);
    if (m[2]) out.set(m[1]! + m[2], value);
    out.set(m[1]!, (m[2] ? out.get(m[1]!) ?? 0 : 0) + value);
  }
  return out;
}

/** A SIPp run's messages as [kind, name, count], pauses left out: what a test compares. */
export const sippCounts = (r: SippResult): [string, string, number][] =>
  r.messages.filter((m) => m.kind !== 'pause').map((m) => [m.kind, m.name, m.count]);

/** A SIPp run in a few lines, for an assertion's message. */
export const describeSippRun = (label: string, r: SippResult): string =>
  `${label}: created=${r.created} successful=${r.successful} failed=${r.failed} failures=${JSON.stringify(r.failures)}\n` +
  r.messages.map((m) => `  ${m.kind} ${m.name} count=${m.count} retrans=${m.retrans} timeout=${m.timeout} unexp=${m.unexpected}`).join('\n') +
  (r.errors.length ? `\n  errors: ${r.errors.slice(0, 3).map((e) => e.split('\n')[0]).join(' | ')}` : '');

/**
 * The worker the receiving thread hands a Call-ID to (FNV-1a of the value, modulo the workers,
 * as src/core/runtime/callid.ts does). Used only to pick Call-IDs that land on one worker.
 */
export function callIdOwner(callId: string, workers: number): number {
  let h = 0x811c9dc5;
  for (const c of Buffer.from(callId)) {
    h ^= c;
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % workers;
}
