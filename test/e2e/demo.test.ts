// `make demo` (dist/bench/demo.js) on free ports: calls complete over all three destinations, and
// Ctrl-C stops everything it started. Needs `make build`.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { repoPath } from '../../bench/paths.js';
import { portInUse, spawnLogged, stopProcess, waitForLine, type Spawned } from '../../bench/proc.js';
import { freePorts, releasePorts } from './harness.js';

const IP = '127.0.0.1';

describe('make demo', () => {
  let ports: number[] = [];
  let dir: string | undefined;
  let demo: Spawned | undefined;

  afterEach(async () => {
    if (demo) await stopProcess(demo, { signal: 'SIGKILL' });
    demo = undefined;
    releasePorts(ports);
    ports = [];
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  /** The demo on free ports, with a copy of examples/dispatcher.list pointing at them. */
  async function start(seconds: number) {
    ports = await freePorts(5);
    const [proxy, http, ...uas] = ports as [number, number, number, number, number];
    dir = mkdtempSync(join(tmpdir(), 'viaduct-demo-'));
    const list = join(dir, 'dispatcher.list');
    writeFileSync(list, uas.map((p, i) => `1 sip:${IP}:${p} 8 0 duid=carrier-${'abc'[i]}`).join('\n') + '\n');
    demo = spawnLogged(process.execPath, [repoPath('dist/bench/demo.js'), '--seconds', String(seconds), '--rate', '20',
      '--list', list, '--listen', `udp:${IP}:${proxy}`, '--http', `${IP}:${http}`]);
    return { proxy, uas, demo };
  }

  it('calls complete over three destinations, none fails', async () => {
    const { uas, demo: d } = await start(4);
    const status = await d.exited;
    const out = d.stdout();
    expect(status.code, `${out}\n${d.stderr()}`).toBe(0);
    expect(out).toMatch(/caller: 80 calls placed, 80 completed, 0 failed/);
    let total = 0;
    for (const [i, port] of uas.entries()) {
      const m = new RegExp(`sip:${IP}:${port} \\(carrier-${'abc'[i]}\\): (\\d+) calls completed \\((\\d+) INVITEs\\), (\\d+) OPTIONS`).exec(out);
      expect(m, out).not.toBeNull();
      expect(Number(m![1]), out).toBeGreaterThan(5);
      expect(Number(m![3]), out).toBeGreaterThan(0); // probed, and answered
      total += Number(m![1]);
    }
    expect(total, out).toBe(80);
    // the status lines show the dispatcher's view: every destination active and probed, and the
    // calls the load balancer sent it (viaduct_dispatcher_selections_total), the last line of each
    for (const [i, port] of uas.entries()) {
      const lines = [...out.matchAll(new RegExp(`sip:${IP}:${port} \\(carrier-${'abc'[i]}\\)\\s+(\\w+)\\s+probe\\s+[\\d.]+ ms\\s+calls sent (\\d+)`, 'g'))];
      expect(lines.length, out).toBeGreaterThan(1);
      expect(lines.at(-1)![1], out).toBe('AP');
      expect(Number(lines.at(-1)![2]), out).toBeGreaterThan(5);
    }
  }, 45_000);

  it('Ctrl-C during the calls stops the caller, the uas and the load balancer', async () => {
    const { proxy, uas, demo: d } = await start(60);
    await waitForLine(d, (l) => l.startsWith('calling:'), 30_000);
    await new Promise((r) => setTimeout(r, 1500));
    process.kill(d.pid, 'SIGINT');
    const status = await d.exited;
    const out = d.stdout();
    expect(status.code, `${out}\n${d.stderr()}`).toBe(130);
    expect(out).toMatch(/SIGINT: stopping the caller/);
    expect(out).toMatch(/calls completed/);
    for (const port of [proxy, ...uas]) expect(portInUse(port), `port ${port} still open\n${out}`).toBe(false);
  }, 45_000);
});
