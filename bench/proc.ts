// Child processes for the bench and the e2e harness: spawn with captured output,
// wait for a ready line, stop with a deadline, and read CPU time and sockets from /proc.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Spawned {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly command: string;
  /** Captured output (the tail, when it is long). */
  stdout(): string;
  stderr(): string;
  /** Settles when the process has exited; never rejects. */
  readonly exited: Promise<ExitStatus>;
  /** Null while the process runs. */
  exitStatus(): ExitStatus | null;
}

const OUTPUT_CAP = 1 << 20;
const live = new Set<Spawned>();

// Children run in their own process group (detached) so that one signal reaches a
// forking server's whole tree (Kamailio forks its workers) and a Ctrl-C on the bench
// does not hit them before we collect their results. The price: we must kill them
// ourselves if we exit first.
process.once('exit', () => {
  for (const p of live) signalGroup(p.pid, 'SIGKILL');
});

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

export function spawnLogged(
  command: string,
  args: readonly string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Spawned {
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  let err = '';
  const keepTail = (s: string) => (s.length > OUTPUT_CAP ? s.slice(s.length - OUTPUT_CAP) : s);
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out = keepTail(out + d)));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err = keepTail(err + d)));
  let status: ExitStatus | null = null;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('error', (e) => {
      err += `\nspawn ${command}: ${e.message}`;
      status ??= { code: -1, signal: null };
      resolve(status);
    });
    // 'close' rather than 'exit': stdout and stderr are complete by then.
    child.once('close', (code, signal) => {
      status ??= { code, signal };
      resolve(status);
    });
  });
  const spawned: Spawned = {
    child,
    pid: child.pid ?? -1,
    command: [command, ...args].join(' '),
    stdout: () => out,
    stderr: () => err,
    exited,
    exitStatus: () => status,
  };
  live.add(spawned);
  void exited.then(() => live.delete(spawned));
  return spawned;
}

/** Output of a process for an error message. */
export function describeOutput(p: Spawned, maxChars = 4000): string {
  const tail = (s: string) => (s.length > maxChars ? '...' + s.slice(-maxChars) : s);
  return `${p.command}\n--- stdout ---\n${tail(p.stdout())}\n--- stderr ---\n${tail(p.stderr())}`;
}

/** Resolves with the first stdout line matching; rejects if the process exits or time runs out. */
export function waitForLine(p: Spawned, match: (line: string) => boolean, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      p.child.stdout!.off('data', onData);
      fn();
    };
    const onData = (d: string) => {
      buffered += d;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      const hit = lines.find((l) => match(l.replace(/\r$/, '')));
      if (hit !== undefined) finish(() => resolve(hit));
    };
    // The line may already have arrived before we subscribed.
    const early = p.stdout().split('\n').slice(0, -1).find((l) => match(l.replace(/\r$/, '')));
    if (early !== undefined) return resolve(early);
    const timer = setTimeout(
      () => finish(() => reject(new Error(`timeout after ${timeoutMs} ms waiting for ready line\n${describeOutput(p)}`))),
      timeoutMs,
    );
    p.child.stdout!.on('data', onData);
    void p.exited.then((s) =>
      finish(() => reject(new Error(`exited (code ${s.code}, signal ${s.signal}) before ready\n${describeOutput(p)}`))),
    );
  });
}

/** Sends `signal` (to the process group when `group`), then SIGKILL after `timeoutMs`. */
export async function stopProcess(
  p: Spawned,
  opts: { signal?: NodeJS.Signals; group?: boolean; timeoutMs?: number } = {},
): Promise<ExitStatus> {
  if (p.exitStatus()) return p.exitStatus()!;
  const { signal = 'SIGTERM', group = true, timeoutMs = 5000 } = opts;
  if (group) signalGroup(p.pid, signal);
  else process.kill(p.pid, signal);
  const timer = setTimeout(() => signalGroup(p.pid, 'SIGKILL'), timeoutMs);
  try {
    return await p.exited;
  } finally {
    clearTimeout(timer);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- /proc readers

let clkTck: number | undefined;
/** Kernel clock ticks per second, the unit of utime/stime in /proc/PID/stat. */
export function clockTicksPerSecond(): number {
  clkTck ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return clkTck;
}

/** Fields of /proc/PID/stat after "(comm)", so index 0 is field 3 (state). */
function statFields(pid: number): string[] | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** `pid` and every process below it (Kamailio's forked workers). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (!f) continue;
    const ppid = Number(f[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(name));
    children.set(ppid, list);
  }
  const tree: number[] = [];
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop()!;
    tree.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return tree;
}

/**
 * utime+stime in clock ticks (fields 14 and 15: every thread of the process,
 * including threads that have exited) for each pid still alive.
 */
export function cpuTicks(pids: readonly number[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of pids) {
    const f = statFields(pid);
    if (f) out.set(pid, Number(f[11]) + Number(f[12]));
  }
  return out;
}

/** CPU seconds spent between two cpuTicks() samples; processes born in between count from zero. */
export function cpuSecondsBetween(before: Map<number, number>, after: Map<number, number>): number {
  let ticks = 0;
  for (const [pid, t] of after) ticks += t - (before.get(pid) ?? 0);
  return ticks / clockTicksPerSecond();
}

export type SocketProto = 'udp' | 'tcp';

/** Inodes of the sockets bound to local `port` (IPv4 and IPv6). */
function socketInodes(proto: SocketProto, port: number): Set<string> {
  const inodes = new Set<string>();
  for (const table of [`/proc/net/${proto}`, `/proc/net/${proto}6`]) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      const localPort = parseInt(cols[1]!.split(':')[1]!, 16);
      // TCP: only listening sockets (state 0A), not connections that happen to use the port.
      if (localPort === port && (proto === 'udp' || cols[3] === '0A')) inodes.add(cols[9]!);
    }
  }
  return inodes;
}

/** Whether process `pid` holds a socket bound to `port` (so it is listening there). */
export function ownsPort(pid: number, port: number, proto: SocketProto = 'udp'): boolean {
  const inodes = socketInodes(proto, port);
  if (inodes.size === 0) return false;
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m && inodes.has(m[1]!)) return true;
    } catch {
      /* fd closed meanwhile */
    }
  }
  return false;
}

/** Whether any process has a socket bound to `port`. */
export const portInUse = (port: number, proto: SocketProto = 'udp'): boolean => socketInodes(proto, port).size > 0;

/** Processes holding a socket bound to `port`, for "port busy" messages. */
export function portOwners(port: number, proto: SocketProto = 'udp'): { pid: number; command: string }[] {
  const owners: { pid: number; command: string }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || !ownsPort(Number(name), port, proto)) continue;
    let command = '';
    try {
      command = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ').trim();
    } catch {
      /* gone */
    }
    owners.push({ pid: Number(name), command });
  }
  return owners;
}

/** Busy and total CPU ticks of the whole machine, all cores (first line of /proc/stat). */
export function machineTicks(): { busy: number; total: number } {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const v = fields.map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0); // user..steal; guest is already in user
  return { busy: total - v[3]! - v[4]!, total }; // minus idle and iowait
}

/** Processes whose command name (/proc/PID/comm) is `comm`. */
export function processesNamed(comm: string): { pid: number; command: string }[] {
  const found: { pid: number; command: string }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/comm`, 'utf8').trim() !== comm) continue;
      found.push({ pid: Number(name), command: readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ').trim() });
    } catch {
      /* gone */
    }
  }
  return found;
}

/**
 * Datagrams the kernel dropped because a socket's receive buffer was full (UDP and UDP6,
 * whole machine): lost SIP messages that SIPp will count as retransmissions or failures.
 */
export function udpReceiveBufferDrops(): number {
  let drops = 0;
  try {
    const udp = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
    const [names, values] = udp.map((l) => l.trim().split(/\s+/));
    drops += Number(values?.[names?.indexOf('RcvbufErrors') ?? -1] ?? 0) || 0;
    const m = /^Udp6RcvbufErrors\s+(\d+)/m.exec(readFileSync('/proc/net/snmp6', 'utf8'));
    drops += Number(m?.[1] ?? 0);
  } catch {
    /* no /proc/net/snmp: report none */
  }
  return drops;
}
