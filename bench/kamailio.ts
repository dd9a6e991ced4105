// Starting Kamailio 5.6 (Debian package) in the foreground as the benchmark anchor.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { describeOutput, ownsPort, processTree, sleep, spawnLogged, stopProcess, type ExitStatus } from './proc.js';

/** 'tlsf': the fast allocator (-x tlsf -X tlsf). 'default': the package's default (qm, with memory debugging). */
export type KamailioAllocator = 'tlsf' | 'default';

export interface KamailioOptions {
  cfg: string;
  allocator: KamailioAllocator;
  /** UDP port the cfg listens on: started means this port is bound. */
  port: number;
  /** Shared and private memory in MB (-m, -M). */
  shmMb?: number;
  pkgMb?: number;
  /** Preprocessor defines (-A NAME or -A NAME=VALUE) for cfgs that take parameters. */
  defines?: Record<string, string | true>;
  startTimeoutMs?: number;
}

export interface KamailioProcess {
  readonly pid: number;
  /** The main process and every forked worker, for CPU accounting. */
  readonly pids: number[];
  output(): string;
  stop(): Promise<ExitStatus>;
}

export function kamailioArgs(opts: KamailioOptions, runDir: string): string[] {
  const args = [
    '-f', opts.cfg,
    // -DD: stay in the foreground (do not daemonize) but still fork the workers.
    '-DD',
    '-E', // log to stderr
    '-Y', runDir, // own runtime dir: never collide with a system instance's /run/kamailio
    '-w', dirname(opts.cfg), // relative paths in the cfg (e.g. a dispatcher list) resolve next to it
    '-m', String(opts.shmMb ?? 256),
    '-M', String(opts.pkgMb ?? 32),
  ];
  if (opts.allocator === 'tlsf') args.push('-x', 'tlsf', '-X', 'tlsf');
  for (const [k, v] of Object.entries(opts.defines ?? {})) args.push('-A', v === true ? k : `${k}=${v}`);
  return args;
}

/**
 * Starts kamailio as root without -u/-g (it runs fine so) and resolves once its main
 * process has bound the UDP port. Whether the workers are ready is for the caller to
 * probe (see probe.ts): Kamailio prints no ready line.
 */
export async function startKamailio(opts: KamailioOptions): Promise<KamailioProcess> {
  // Without this the spawn fails quietly and the error below would blame the port.
  const onPath = (process.env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, 'kamailio')));
  if (!onPath) throw new Error('kamailio is not installed (`make kamailio` installs Debian\'s package)');
  const runDir = mkdtempSync(join(tmpdir(), 'kamailio-run-'));
  const p = spawnLogged('kamailio', kamailioArgs(opts, runDir), { cwd: dirname(opts.cfg) });
  const deadline = Date.now() + (opts.startTimeoutMs ?? 10_000);
  while (!ownsPort(p.pid, opts.port)) {
    if (p.exitStatus() || Date.now() > deadline) {
      await stopProcess(p, { signal: 'SIGKILL' });
      rmSync(runDir, { recursive: true, force: true });
      throw new Error(`kamailio did not bind udp port ${opts.port}\n${describeOutput(p)}`);
    }
    await sleep(20);
  }
  return {
    pid: p.pid,
    get pids() {
      return processTree(p.pid);
    },
    output: () => describeOutput(p),
    async stop() {
      // SIGTERM to the whole group: the main process would pass it on to its
      // workers anyway, this also covers a main process that died first.
      const status = await stopProcess(p, { timeoutMs: 10_000 });
      rmSync(runDir, { recursive: true, force: true });
      return status;
    },
  };
}
