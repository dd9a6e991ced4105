// Parsers for what SIPp 3.6 leaves behind: the -trace_stat CSV, the final scenario
// screen (-trace_screen, or stdout when stdout is not a terminal), the -trace_err log
// and the -trace_rtt response-time file. Pure functions over text, so they can be
// tested on captured files.
import hdr from 'hdr-histogram-js';

// ------------------------------------------------------------------ stat CSV

export interface SippStats {
  created: number;
  successful: number;
  failed: number;
  /** Failed calls by SIPp's reason (the FailedXxx counters without the prefix), non-zero only. */
  failures: Record<string, number>;
  retransmissions: number;
  outOfCallMsgs: number;
  deadCallMsgs: number;
  autoAnswered: number;
  warnings: number;
  fatalErrors: number;
  watchdogMajor: number;
  watchdogMinor: number;
  targetRate: number;
  /** SIPp's own cumulative call rate: calls created / time since start (includes the drain at the end). */
  callRate: number;
  /**
   * Calls created per second while SIPp was still creating them, from the periodic rows
   * (-fd 1): the rate it actually sustained, without the final partial period and the drain.
   */
  sustainedCallRate: number;
  elapsedS: number;
}

/** "2026-11-22\t06:02:01.597284\t1795327321.597284" -> 1795327321.597284 */
const epochOf = (v: string | undefined): number => Number((v ?? '').split('\t').pop());

export function parseStatCsv(text: string): SippStats | null {
  const rows = text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => l.split(';'));
  if (rows.length < 2) return null;
  const header = rows[0]!;
  const records = rows.slice(1).map((r) => {
    const rec: Record<string, string> = {};
    header.forEach((h, i) => (rec[h] = r[i] ?? ''));
    return rec;
  });
  const last = records[records.length - 1]!;
  const num = (rec: Record<string, string>, k: string) => Number(rec[k]) || 0;

  const failures: Record<string, number> = {};
  for (const h of header) {
    const m = /^Failed(\w+)\(C\)$/.exec(h);
    if (m && m[1] !== 'Call' && num(last, h) > 0) failures[m[1]!] = num(last, h);
  }

  // Sustained rate: periods that created calls, except the last one (partial: the
  // -m limit was hit inside it) unless it is the only one.
  const creating = records
    .map((rec, i) => ({ rec, prev: records[i - 1] }))
    .filter(({ rec, prev }) => prev && num(rec, 'OutgoingCall(P)') + num(rec, 'IncomingCall(P)') > 0);
  const steady = creating.length > 1 ? creating.slice(0, -1) : creating;
  let calls = 0;
  let seconds = 0;
  for (const { rec, prev } of steady) {
    calls += num(rec, 'OutgoingCall(P)') + num(rec, 'IncomingCall(P)');
    seconds += epochOf(rec['CurrentTime']) - epochOf(prev!['CurrentTime']);
  }

  return {
    created: num(last, 'TotalCallCreated'),
    successful: num(last, 'SuccessfulCall(C)'),
    failed: num(last, 'FailedCall(C)'),
    failures,
    retransmissions: num(last, 'Retransmissions(C)'),
    outOfCallMsgs: num(last, 'OutOfCallMsgs(C)'),
    deadCallMsgs: num(last, 'DeadCallMsgs(C)'),
    autoAnswered: num(last, 'AutoAnswered(C)'),
    warnings: num(last, 'Warnings(C)'),
    fatalErrors: num(last, 'FatalErrors(C)'),
    watchdogMajor: num(last, 'WatchdogMajor(C)'),
    watchdogMinor: num(last, 'WatchdogMinor(C)'),
    targetRate: num(last, 'TargetRate'),
    callRate: num(last, 'CallRate(C)'),
    sustainedCallRate: seconds > 0 ? calls / seconds : 0,
    elapsedS: epochOf(last['CurrentTime']) - epochOf(last['StartTime']),
  };
}

// ------------------------------------------------------------ scenario screen

export interface SippMessageStat {
  /** Method, response code, "Pause [0ms]", or the text of another scenario line. */
  name: string;
  /** What this scenario line does from SIPp's point of view. */
  kind: 'send' | 'recv' | 'pause' | 'other';
  /** The "Messages" column: messages sent or received, or calls that went through a pause. */
  count: number;
  sent: number;
  received: number;
  retrans: number;
  timeout: number;
  unexpected: number;
}

const SCREEN_TITLE = 'Scenario Screen';
const TABLE_HEADER = /^\s+Messages\s+Retrans\s+Timeout\s+(Unexpected-Msg|Unexp\.)/;
// Left part of a line: "  INVITE ---------->" (client sends), "  ----------> INVITE"
// (server receives) and so on; 3.6 has no "NN:" index prefix, later versions do.
const ARROW_LINE = /^(?:\d+\s*:)?\s*(?:(\S+) (---------->|<----------)|(---------->|<----------) (\S+))\s*(?:[BE]-RTD\S*)?\s*(.*)$/;
const PAUSE_LINE = /^(?:\d+\s*:)?\s*(?:Pause (\[[^\]]*\])|(\[[^\]]*\]) Pause)\s*(.*)$/;

/**
 * The per-message table of the last scenario screen in `text` (a -trace_screen file or
 * SIPp's stdout). Columns are positional in SIPp's layout: a send line has
 * [messages, retrans, (timeout)], a receive line [messages, retrans, timeout, unexpected],
 * a pause line [calls, unexpected].
 */
export function parseScenarioScreen(text: string): SippMessageStat[] | null {
  const lines = text.split('\n');
  let start = -1;
  for (let i = lines.length - 1; i >= 0; i--) {
    if (lines[i]!.includes(SCREEN_TITLE)) {
      start = i;
      break;
    }
  }
  if (start < 0) return null;
  const headerAt = lines.findIndex((l, i) => i > start && TABLE_HEADER.test(l));
  if (headerAt < 0) return null;

  const out: SippMessageStat[] = [];
  for (const raw of lines.slice(headerAt + 1)) {
    const line = raw.replace(/\r$/, '');
    if (/^-{5,}/.test(line) || line.startsWith('Last Error')) break;
    if (!line.trim()) continue;
    const stat: SippMessageStat = { name: '', kind: 'other', count: 0, sent: 0, received: 0, retrans: 0, timeout: 0, unexpected: 0 };
    const numbers = (rest: string) => rest.trim().split(/\s+/).filter(Boolean).map(Number);
    const arrow = ARROW_LINE.exec(line);
    const pause = PAUSE_LINE.exec(line);
    if (arrow) {
      const name = arrow[1] ?? arrow[4]!;
      const dir = arrow[2] ?? arrow[3]!;
      // The arrow points at the receiver: "X ---------->" is sent by a client,
      // "----------> X" received by a server.
      const sends = arrow[1] !== undefined ? dir === '---------->' : dir === '<----------';
      const [count = 0, retrans = 0, timeout = 0, unexpected = 0] = numbers(arrow[5]!);
      Object.assign(stat, { name, kind: sends ? 'send' : 'recv', count, retrans, timeout, unexpected });
      if (sends) stat.sent = count;
      else stat.received = count;
    } else if (pause) {
      const [count = 0, unexpected = 0] = numbers(pause[3]!);
      Object.assign(stat, { name: `Pause ${(pause[1] ?? pause[2]!).replace(/\s+/g, '')}`, kind: 'pause', count, unexpected });
    } else {
      stat.name = line.trim();
    }
    out.push(stat);
  }
  return out;
}

// ----------------------------------------------------------------- error log

/** Entries of a -trace_err file. SIPp 3.6 writes them without newlines between entries, so split on the timestamps. */
export function parseErrorLog(text: string, max = 50): string[] {
  return text
    .split(/(?=\d{4}-\d{2}-\d{2}\t\d{2}:\d{2}:\d{2}\.\d+\t\d+\.\d+: )/)
    .map((s) => s.replace(/^\d{4}-\d{2}-\d{2}\t[\d:.]+\t[\d.]+: /, '').trim())
    .filter((s) => s && !s.startsWith('The following events occurred'))
    .slice(0, max);
}

// ------------------------------------------------------------- response times

export interface Percentiles {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/**
 * Response-time percentiles in ms per RTD (key: the rtd_no column) from a -trace_rtt
 * file ("Date_ms;response_time_ms;rtd_no"). SIPp 3.6 measures RTDs on its millisecond
 * clock, so the values are whole milliseconds.
 */
export function rttPercentiles(text: string): Record<string, Percentiles> {
  const byRtd = new Map<string, number[]>();
  for (const line of text.split('\n')) {
    const [, ms, rtd] = line.split(';');
    const v = Number(ms);
    if (ms === undefined || rtd === undefined || ms.trim() === '' || !Number.isFinite(v)) continue; // header and junk
    const key = rtd.trim();
    if (!byRtd.has(key)) byRtd.set(key, []);
    byRtd.get(key)!.push(v);
  }
  const out: Record<string, Percentiles> = {};
  for (const [rtd, values] of byRtd) {
    // Recorded in microseconds: the histogram stores integers.
    const h = hdr.build({ numberOfSignificantValueDigits: 3 });
    for (const v of values) h.recordValue(Math.max(0, Math.round(v * 1000)));
    const ms = (us: number) => Math.round(us / 10) / 100; // ms to 0.01
    out[rtd] = {
      count: values.length,
      p50: ms(h.getValueAtPercentile(50)),
      p90: ms(h.getValueAtPercentile(90)),
      p99: ms(h.getValueAtPercentile(99)),
      max: ms(h.maxValue),
    };
    h.destroy();
  }
  return out;
}
