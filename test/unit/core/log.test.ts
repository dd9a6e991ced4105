// The logger's line writer on a real pipe (a FIFO nobody reads: 64 KiB, then EAGAIN), its
// rate limiter on a real file, and exceptions as one line.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import vm from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, errorLine, L_DBG, L_ERR, LineWriter, LOG_LINE_MAX, LOG_PENDING_MAX, LOG_REPEAT_PER_S } from '../../../src/core/log.js';
import { C, createStatsBuffer, ThreadCounters } from '../../../src/core/stats/counters.js';

describe('log', () => {
  let dir: string | undefined;
  const fds: number[] = [];
  const temp = (): string => (dir ??= mkdtempSync(join(tmpdir(), 'viaduct-log-')));

  afterEach(() => {
    fds.splice(0).forEach((fd) => closeSync(fd));
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  /** A FIFO's ends, both non-blocking: a full pipe refuses a write with EAGAIN, as a stderr nobody reads. */
  function pipe(): { r: number; w: number } {
    const path = join(temp(), 'fifo');
    execFileSync('mkfifo', [path]);
    const r = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const w = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
    fds.push(r, w);
    return { r, w };
  }
  const drain = (fd: number): string => {
    const buf = Buffer.alloc(1 << 20);
    let out = '';
    for (;;) {
      try {
        const n = readSync(fd, buf);
        if (n <= 0) return out;
        out += buf.toString('utf8', 0, n);
      } catch {
        return out; // EAGAIN: empty
      }
    }
  };

  it('never blocks on a full pipe: holds at most LOG_PENDING_MAX bytes, drops and counts the rest, and says so once drained', async () => {
    const { r, w } = pipe();
    let counted = 0;
    const writer = new LineWriter(w, (n) => `${n} lines dropped`, () => counted++);
    const line = 'x'.repeat(99); // 100 bytes with the newline
    const total = 3000; // 300 KB: the pipe takes 64 KiB, the queue 64 KiB
    const t0 = performance.now();
    for (let i = 0; i < total; i++) writer.write(`${line.slice(0, 93)}${String(i).padStart(6, '0')}`);
    expect(performance.now() - t0).toBeLessThan(1000); // never waited for the reader
    expect(writer.dropped).toBeGreaterThan(total - (65536 + LOG_PENDING_MAX) / 100 - 1);
    expect(counted).toBe(writer.dropped);
    // the reader comes back: the queue is written in order, then the drop notice
    let out = '';
    await expect.poll(() => { out += drain(r); return /lines dropped\n$/.test(out); }, { timeout: 5000, interval: 20 }).toBe(true);
    const lines = out.trimEnd().split('\n');
    const kept = lines.length - 1;
    expect(kept).toBe(total - writer.dropped);
    expect(lines.slice(0, -1).map((l) => Number(l.slice(-6)))).toEqual(Array.from({ length: kept }, (_, i) => i));
    expect(lines.at(-1)).toBe(`${writer.dropped} lines dropped`);
    expect(writer.pending).toBe(0);
    // and writes go straight through again
    writer.write('after');
    expect(drain(r)).toBe('after\n');
  });

  it('cuts a line to LOG_LINE_MAX bytes at a character boundary: one atomic write to a pipe', () => {
    const { r, w } = pipe();
    const writer = new LineWriter(w, String);
    writer.write('é'.repeat(5000));
    const out = drain(r);
    expect(Buffer.byteLength(out)).toBeLessThanOrEqual(LOG_LINE_MAX);
    expect(out).toMatch(/^(é)+\.\.\.\n$/);
  });

  it('limited(): LOG_REPEAT_PER_S lines a second per key, then the last one with the count of the others', async () => {
    const file = join(temp(), 'log');
    const fd = openSync(file, 'w');
    fds.push(fd);
    const counters = new ThreadCounters(createStatsBuffer(1), 0);
    const log = createLogger('dbg', '[test]', { fd, counters });
    for (let i = 0; i < 100; i++) log.limited(L_DBG, 'bad', `bad datagram ${i}`);
    for (let i = 0; i < 3; i++) log.limited(L_ERR, 'other', `other ${i}`);
    let text = readFileSync(file, 'utf8');
    expect(text.match(/DEBUG: bad datagram/g)).toHaveLength(LOG_REPEAT_PER_S);
    expect(text.match(/ERROR: other/g)).toHaveLength(3);
    expect(counters.row[C['viaduct:log_suppressed']]).toBe(100 - LOG_REPEAT_PER_S);
    // after the second, without another call: the summary
    await expect.poll(() => (text = readFileSync(file, 'utf8')).includes('suppressed'), { timeout: 3000 }).toBe(true);
    expect(text).toMatch(new RegExp(`DEBUG: bad datagram 99 \\(suppressed ${100 - LOG_REPEAT_PER_S - 1} similar lines\\)\\n$`));
    // off below the level: nothing, not even counted
    const quiet = createLogger('info', '[test]', { fd, counters });
    for (let i = 0; i < 100; i++) quiet.limited(L_DBG, 'bad', 'x');
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect(counters.row[C['viaduct:log_suppressed']]).toBe(100 - LOG_REPEAT_PER_S);
  });

  it('errorLine(): name, message and the first place outside viaduct, no stack', () => {
    const script = vm.compileFunction('return o.user.length;', ['o'], { filename: '/srv/route.js' }) as (o: object) => number;
    let e: unknown;
    try { script({}); } catch (x) { e = x; }
    expect(errorLine(e)).toMatch(/^TypeError: Cannot read properties of undefined \(reading 'length'\) \(at \/srv\/route\.js:\d+:\d+\)$/);
    expect(errorLine('plain')).toBe('plain');
  });
});
