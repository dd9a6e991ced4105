// Port allocation for tests that run in parallel, in several vitest workers and even
// several vitest runs at once (several engineers share this machine). A port is ours
// when we created its lock file (O_EXCL) and it is free for UDP and TCP on the
// loopback addresses; locks of dead processes are taken over.
import { createSocket } from 'node:dgram';
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const LOCK_DIR = join(tmpdir(), 'viaduct-ports');
// Below Linux's ephemeral range (32768-60999), so the kernel never hands one of these
// to a socket bound to port 0 (SIPp's own sockets, our clients) while we hold it.
const FIRST = 20000;
const LAST = 32000;

const held = new Set<number>();
process.once('exit', () => releasePorts([...held]));

const lockPath = (port: number) => join(LOCK_DIR, String(port));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tryLock(port: number): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lockPath(port), String(process.pid), { flag: 'wx' });
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number(readFileSync(lockPath(port), 'utf8')) || 0;
      if (owner === process.pid || alive(owner)) return false;
      try {
        unlinkSync(lockPath(port)); // stale: its process is gone
      } catch {
        /* someone else took it over first */
      }
    }
  }
  return false;
}

const bindsUdp = (address: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createSocket(address.includes(':') ? 'udp6' : 'udp4');
    s.once('error', (e: NodeJS.ErrnoException) => {
      s.close();
      resolve(e.code === 'EADDRNOTAVAIL'); // no such address here: nothing to collide with
    });
    s.bind({ address, port, exclusive: true }, () => s.close(() => resolve(true)));
  });

const bindsTcp = (address: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const srv = createServer();
    srv.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'EADDRNOTAVAIL'));
    srv.listen({ host: address, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });

async function isFree(port: number): Promise<boolean> {
  for (const address of ['127.0.0.1', '::1']) {
    if (!(await bindsUdp(address, port)) || !(await bindsTcp(address, port))) return false;
  }
  return true;
}

/**
 * `n` distinct ports free for UDP and TCP on 127.0.0.1 and ::1, reserved for this process
 * until releasePorts() or exit.
 */
export async function freePorts(n: number): Promise<number[]> {
  mkdirSync(LOCK_DIR, { recursive: true });
  const span = LAST - FIRST;
  const start = Math.floor(Math.random() * span);
  const out: number[] = [];
  for (let i = 0; i < span && out.length < n; i++) {
    const port = FIRST + ((start + i) % span);
    if (held.has(port) || !tryLock(port)) continue;
    if (await isFree(port)) {
      held.add(port);
      out.push(port);
    } else {
      unlinkSync(lockPath(port));
    }
  }
  if (out.length < n) throw new Error(`only ${out.length} of ${n} free ports found in ${FIRST}-${LAST}`);
  return out;
}

/** One free port (see freePorts). */
export const freePort = async (): Promise<number> => (await freePorts(1))[0]!;

export function releasePorts(ports: readonly number[]): void {
  for (const port of ports) {
    if (!held.delete(port)) continue;
    try {
      unlinkSync(lockPath(port));
    } catch {
      /* already gone */
    }
  }
}
