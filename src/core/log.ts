// Logging with Kamailio's levels. Disabled levels are no-ops, so a log call in a route costs
// one function call and nothing else.
//
// Every thread writes its own lines to fd 2 with fs.writeSync, never through process.stderr:
// a worker thread's process.stderr is a message channel to the main thread, whose stream then
// queues without bound when nobody reads a pipe (measured: 200k malformed datagrams with a
// script that threw grew RSS by tens of MB). libuv opens a pipe or socket stderr in
// non-blocking mode (the main thread touches process.stderr below), so a write to a full pipe
// fails with EAGAIN instead of blocking a SIP thread: the line waits in a small bounded queue,
// and what does not fit is dropped and counted (viaduct:log_dropped).
// Bad input is logged through limited(): per kind of line, at most LOG_REPEAT_PER_S lines a
// second per thread, then one line with the count of what was suppressed.
import { writeSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import { LOG_LEVEL_VALUES, type LogLevelName } from './config.js';
import { C, type ThreadCounters } from './stats/counters.js';

export type LogFn = (msg: string) => void;

export interface Logger {
  alert: LogFn; crit: LogFn; err: LogFn; warn: LogFn; notice: LogFn; info: LogFn; dbg: LogFn;
  level: number;
  /** Logs at a numeric Kamailio level (L_ALERT -5 ... L_DBG 3). */
  at(level: number, msg: string): void;
  /**
   * Logs at `level`, at most LOG_REPEAT_PER_S lines a second for `key` (a fixed name for a kind
   * of line, such as 'core:unparsable'); the rest is counted (viaduct:log_suppressed), and the
   * last of them is logged when the second is over, with how many similar lines it stands for.
   */
  limited(level: number, key: string, msg: string): void;
}

const NAMES: Record<number, string> = { [-5]: 'ALERT', [-4]: 'BUG', [-3]: 'CRITICAL', [-2]: 'CRITICAL', [-1]: 'ERROR', 0: 'WARNING', 1: 'NOTICE', 2: 'INFO', 3: 'DEBUG' };
const noop: LogFn = () => {};
/** Kamailio's L_ERR and L_DBG, for limited(). */
export const L_ERR = -1;
export const L_DBG = 3;

/** Lines per second one thread logs for one key of limited(). */
export const LOG_REPEAT_PER_S = 10;
/** Keys limited() tracks per logger; the lines of any further key share one. */
const MAX_KEYS = 256;
/** PIPE_BUF: a write of at most this many bytes to a pipe is atomic, so threads' lines never interleave. */
export const LOG_LINE_MAX = 4096;
/** Bytes of lines a logger holds while stderr is blocked; beyond it lines are dropped. */
export const LOG_PENDING_MAX = 64 * 1024;
const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 1000;

// a pipe or socket stderr becomes non-blocking when its stream is created (libuv uv_pipe_open)
if (isMainThread) void process.stderr;

/** A line as bytes, cut to LOG_LINE_MAX (at a UTF-8 character boundary) with its newline. */
function lineBytes(text: string): Buffer {
  const b = Buffer.from(`${text}\n`, 'utf8');
  if (b.length <= LOG_LINE_MAX) return b;
  let end = LOG_LINE_MAX - 4;
  while (end > 0 && (b[end]! & 0xc0) === 0x80) end--;
  b.write('...\n', end, 'latin1');
  return b.subarray(0, end + 4);
}

/**
 * Writes lines to a file descriptor without ever blocking on it (see the top of this file):
 * what the descriptor refuses waits in a queue of at most `maxPending` bytes, retried on a
 * one-shot timer while anything waits; a line that does not fit is dropped, and where lines
 * were dropped the queue says how many.
 */
export class LineWriter {
  /** Lines waiting, and at the places where lines were dropped, how many. */
  private readonly queue: (Buffer | number)[] = [];
  private queuedBytes = 0;
  private retry: NodeJS.Timeout | null = null;
  private retryMs = RETRY_MIN_MS;
  /** Lines dropped since this writer was made. */
  dropped = 0;

  constructor(
    private readonly fd: number,
    /** Formats the line that reports `n` dropped lines. */
    private readonly dropNotice: (n: number) => string,
    private readonly onDrop: () => void = () => {},
    private readonly maxPending = LOG_PENDING_MAX,
  ) {}

  write(text: string): void {
    const line = lineBytes(text);
    const idle = this.queue.length === 0;
    if (idle && this.put(line)) return;
    // while lines wait, the retry timer is armed: no write is tried before it fires
    if (this.queuedBytes + line.length <= this.maxPending) {
      this.queue.push(line);
      this.queuedBytes += line.length;
    } else {
      this.dropped++;
      this.onDrop();
      const last = this.queue.length - 1;
      if (typeof this.queue[last] === 'number') (this.queue[last] as number)++;
      else this.queue.push(1);
    }
    if (idle) this.wait();
  }

  /** Lines waiting for the descriptor to take them (tests). */
  get pending(): number {
    return this.queue.length;
  }

  /** Writes what waits, in order, until the descriptor refuses; then retries later. */
  flush(): void {
    if (this.retry) return; // the descriptor refused recently: the timer tries again
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      const bytes = typeof head === 'number' ? lineBytes(this.dropNotice(head)) : head;
      if (!this.put(bytes)) return this.wait();
      this.queue.shift();
      if (typeof head !== 'number') this.queuedBytes -= head.length;
    }
    this.retryMs = RETRY_MIN_MS;
  }

  /** Tries again later, backing off while the descriptor stays full. */
  private wait(): void {
    this.retry = setTimeout(onRetry, this.retryMs, this);
    this.retry.unref();
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }

  /** One write of a whole line: false when the descriptor did not take it now. */
  private put(bytes: Buffer): boolean {
    try {
      const n = writeSync(this.fd, bytes);
      // a pipe takes a write up to PIPE_BUF whole or not at all; a file may take part of it
      if (n < bytes.length) writeSync(this.fd, bytes.subarray(n));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return false;
      // EPIPE (nobody will ever read), EBADF...: the line is lost, and counted
      this.dropped++;
      this.onDrop();
      return true;
    }
  }

  clearRetry(): void {
    this.retry = null;
  }
}

function onRetry(w: LineWriter): void {
  w.clearRetry();
  w.flush();
}

interface Repeats {
  /** Start of the current one-second window. */
  since: number;
  /** Lines logged in this window. */
  logged: number;
  /** Lines suppressed in this window, and the last of them. */
  suppressed: number;
  last: string;
  level: number;
}

/** The lines of a Logger: where they go and how they are limited. */
export interface LoggerOptions {
  /** The thread's counters: viaduct:log_dropped and viaduct:log_suppressed count there. */
  counters?: ThreadCounters;
  /** Default 2 (stderr). */
  fd?: number;
}

export function createLogger(levelName: LogLevelName, who: string, opts: LoggerOptions = {}): Logger {
  const level = LOG_LEVEL_VALUES[levelName];
  const counters = opts.counters;
  const line = (lv: number, msg: string): string => `${new Date().toISOString()} ${who} ${NAMES[lv] ?? lv}: ${msg}`;
  const writer = new LineWriter(
    opts.fd ?? 2,
    (n) => line(0, `${n} log line${n === 1 ? '' : 's'} dropped: stderr was not being read`),
    counters ? () => counters.inc(C['viaduct:log_dropped']) : undefined,
  );
  const write = (lv: number, msg: string): void => writer.write(line(lv, msg));
  const make = (lv: number): LogFn => (lv <= level ? (m) => write(lv, m) : noop);

  const repeats = new Map<string, Repeats>();
  let summaryTimer: NodeJS.Timeout | null = null;
  /** Logs the suppressed lines of every window that is over. */
  const summarize = (now: number): void => {
    if (summaryTimer !== null) clearTimeout(summaryTimer);
    summaryTimer = null;
    let waiting = Infinity;
    for (const r of repeats.values()) {
      if (r.suppressed === 0) continue;
      if (now - r.since < 1000) { waiting = Math.min(waiting, r.since + 1000 - now); continue; }
      write(r.level, r.suppressed === 1 ? r.last : `${r.last} (suppressed ${r.suppressed - 1} similar lines)`);
      r.suppressed = 0;
    }
    if (waiting !== Infinity) armSummary(waiting);
  };
  const armSummary = (ms: number): void => {
    // one-shot, only while lines are being suppressed: an idle thread has no timer
    summaryTimer = setTimeout(() => summarize(Date.now()), ms);
    summaryTimer.unref();
  };
  const limited = (lv: number, key: string, msg: string): void => {
    if (lv > level) return;
    const now = Date.now();
    let r = repeats.get(key);
    if (r === undefined) {
      if (repeats.size >= MAX_KEYS) key = '';
      r = repeats.get(key);
      if (r === undefined) repeats.set(key, r = { since: now, logged: 0, suppressed: 0, last: '', level: lv });
    }
    if (now - r.since >= 1000) {
      if (r.suppressed > 0) summarize(now);
      r.since = now;
      r.logged = 0;
    }
    if (r.logged < LOG_REPEAT_PER_S) {
      r.logged++;
      write(lv, msg);
      return;
    }
    r.suppressed++;
    r.last = msg;
    r.level = lv;
    counters?.inc(C['viaduct:log_suppressed']);
    if (summaryTimer === null) armSummary(r.since + 1000 - now);
  };

  return {
    alert: make(-5), crit: make(-2), err: make(-1), warn: make(0), notice: make(1), info: make(2), dbg: make(3),
    level,
    at(lv, msg) { if (lv <= level) write(lv, msg); },
    limited,
  };
}

/** Where viaduct's compiled code lives (dist/src/), as stack frames spell it. */
const OWN_CODE = new URL('..', import.meta.url).href;

/**
 * An exception as one log line: its name and message and where it was thrown, preferring the
 * first place outside viaduct's own code (the routing script). Never a stack trace.
 */
export function errorLine(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const head = `${e.name}: ${e.message}`;
  const frames = (e.stack ?? '').split('\n').slice(1).map((l) => /\(?([^\s()]+:\d+:\d+)\)?\s*$/.exec(l)?.[1]).filter((f): f is string => f !== undefined);
  const own = frames.find((f) => !f.startsWith('node:') && !f.startsWith(OWN_CODE));
  const where = own ?? frames[0];
  return where ? `${head} (at ${where})` : head;
}
