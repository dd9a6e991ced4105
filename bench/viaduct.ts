// Starting the compiled viaduct server as a child process, for the bench and the e2e tests.
import { existsSync } from 'node:fs';
import { viaductCli } from './paths.js';
import { describeOutput, processTree, spawnLogged, stopProcess, waitForLine, type ExitStatus } from './proc.js';

export interface ViaductOptions {
  /** Path of the routing script. */
  script: string;
  /** e.g. 'udp:127.0.0.1:5060' (one --listen each). */
  listen: string[];
  workers: number;
  /** IP:PORT of the HTTP server (JSON-RPC and /metrics), or 'off'; the script's setting when omitted. */
  http?: string;
  /** MODULE:NAME=VALUE (one --modparam each). */
  modparams?: string[];
  extraArgs?: string[];
  /** How long to wait for the ready line; default 15 s. */
  readyTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** What the server announced: `viaduct ready sockets=udp:127.0.0.1:5060,udp:[::1]:5062 http=127.0.0.1:9060 workers=2 mode=sharded udp=native`. */
export interface ViaductReady {
  sockets: string[];
  http?: string;
  workers: number;
  /** The thread topology: 'inline' (workers 0), 'single' (1) or 'sharded' (2 or more). */
  mode: string;
  /** 'native' (native/udp addon) or 'dgram' (node:dgram fallback) */
  udp: string;
}

export interface ViaductProcess {
  readonly pid: number;
  /** The server's processes (one: workers are threads), for CPU accounting. */
  readonly pids: number[];
  readonly ready: ViaductReady;
  stdout(): string;
  stderr(): string;
  /** JSON-RPC 2.0 call to http://HTTP/RPC; resolves with `result`, rejects with the JSON-RPC error. */
  rpc<T = unknown>(method: string, ...params: unknown[]): Promise<T>;
  /** GET http://HTTP/metrics (Prometheus text). */
  metrics(): Promise<string>;
  /** SIGTERM, then SIGKILL if it has not exited after 10 s. */
  stop(): Promise<ExitStatus>;
}

export const READY_PREFIX = 'viaduct ready';

export function parseReadyLine(line: string): ViaductReady {
  const fields = new Map<string, string>();
  for (const token of line.slice(READY_PREFIX.length).trim().split(/\s+/)) {
    const eq = token.indexOf('=');
    if (eq > 0) fields.set(token.slice(0, eq), token.slice(eq + 1));
  }
  const http = fields.get('http');
  return {
    sockets: (fields.get('sockets') ?? '').split(',').filter(Boolean),
    ...(http && http !== 'off' ? { http } : {}),
    workers: Number(fields.get('workers') ?? 0),
    mode: fields.get('mode') ?? '',
    udp: fields.get('udp') ?? '',
  };
}

/** node's own flags, as bin/viaduct passes them (src/core/server.ts says why). */
export const VIADUCT_NODE_FLAGS: readonly string[] = ['--no-memory-reducer'];

/** The arguments of `node` that run viaduct (node's flags, the CLI entry, then viaduct's). */
export function viaductArgs(opts: ViaductOptions): string[] {
  const args = [...VIADUCT_NODE_FLAGS, viaductCli, 'run', opts.script];
  for (const l of opts.listen) args.push('--listen', l);
  args.push('--workers', String(opts.workers));
  if (opts.http) args.push('--http', opts.http);
  for (const m of opts.modparams ?? []) args.push('--modparam', m);
  return [...args, ...(opts.extraArgs ?? [])];
}

export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(`JSON-RPC error ${code}: ${message}`);
  }
}

let rpcId = 0;

/** Spawns `node dist/src/cli/main.js run ...` and resolves once it printed its ready line. */
export async function spawnViaduct(opts: ViaductOptions): Promise<ViaductProcess> {
  if (!existsSync(viaductCli)) throw new Error(`${viaductCli} does not exist: run \`make build\` first`);
  const p = spawnLogged(process.execPath, viaductArgs(opts), { env: opts.env });
  let ready: ViaductReady;
  try {
    ready = parseReadyLine(await waitForLine(p, (l) => l.startsWith(READY_PREFIX), opts.readyTimeoutMs ?? 15_000));
  } catch (e) {
    await stopProcess(p, { signal: 'SIGKILL' });
    throw e;
  }
  const base = () => {
    if (!ready.http) throw new Error(`viaduct has no HTTP server (ready line: http=off)\n${describeOutput(p)}`);
    return `http://${ready.http}`;
  };
  return {
    pid: p.pid,
    get pids() {
      return processTree(p.pid);
    },
    ready,
    stdout: p.stdout,
    stderr: p.stderr,
    async rpc<T>(method: string, ...params: unknown[]): Promise<T> {
      const res = await fetch(`${base()}/RPC`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', method, params, id: ++rpcId }),
      });
      const body = (await res.json()) as { result?: T; error?: { code: number; message: string; data?: unknown } };
      if (body.error) throw new RpcError(body.error.code, body.error.message, body.error.data);
      return body.result as T;
    },
    async metrics() {
      const res = await fetch(`${base()}/metrics`);
      if (!res.ok) throw new Error(`GET /metrics: HTTP ${res.status}`);
      return res.text();
    },
    stop: () => stopProcess(p, { timeoutMs: 10_000 }),
  };
}
