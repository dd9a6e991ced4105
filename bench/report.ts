// Turning measurements into the console table, the Markdown report and the JSON record.
import type { Measurement } from './measure.js';
import { REFERENCES } from './targets.js';

export interface BenchRun {
  scenario: string;
  description: string;
  startedAt: string;
  command: string;
  durationS: number;
  warmupS: number;
  rounds: number;
  rates: number[];
  targets: { name: string; description: string }[];
  environment: Record<string, string | number>;
  measurements: Measurement[];
}

const fmt = (v: number | null | undefined, digits = 0) => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits));

/** CPU per call relative to the reference measured at the same rate in the same round. */
function ratio(m: Measurement, all: Measurement[], baseline: string): number | null {
  const base = all.find((b) => b.target === baseline && b.rate === m.rate && b.round === m.round && !b.error);
  if (!base?.proxyUsPerCall || m.proxyUsPerCall === null) return null;
  return m.proxyUsPerCall / base.proxyUsPerCall;
}

const ratioText = (r: number | null) => (r === null ? '-' : `${r.toFixed(2)}x`);

function median(xs: number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const HEADERS = [
  'target', 'round', 'rate', 'calls/s', 'failed', 'UDP drops', 'CPU µs/call', ...REFERENCES.map((r) => `vs ${r}`),
  'p50 ms', 'p90 ms', 'p99 ms', 'uac/uas CPU %', 'machine busy %', 'SIPp-limited?',
];

function rowOf(m: Measurement, all: Measurement[]): string[] {
  // '*': see Warnings (another SIPp on the machine, a uac stopped with calls open).
  const rate = `${m.rate}${m.warnings.length ? '*' : ''}`;
  if (m.error) return [m.target, String(m.round), rate, 'error', ...HEADERS.slice(4, -1).map(() => '-'), firstLine(m.error)];
  const rt = m.responseTime;
  return [
    m.target,
    String(m.round),
    rate,
    fmt(m.achievedRate),
    m.unfinished ? `${m.failed}+${m.unfinished} open` : String(m.failed),
    String(m.udpDrops),
    fmt(m.proxyUsPerCall, 1),
    ...REFERENCES.map((r) => ratioText(ratio(m, all, r))),
    fmt(rt?.p50),
    fmt(rt?.p90),
    fmt(rt?.p99),
    `${fmt(m.uacCpuPct)}/${fmt(m.uasCpuPct)}`,
    fmt(m.machineBusyPct),
    m.sippLimited ? `yes: ${m.limitReasons.join('; ')}` : 'no',
  ];
}

const firstLine = (s: string) => s.split('\n')[0]!.slice(0, 120);

/** Aligned plain-text table, or a Markdown table. */
export function table(headers: string[], rows: string[][], markdown: boolean): string {
  if (markdown) {
    const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
    return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
  }
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function measurementTable(ms: Measurement[], markdown: boolean): string {
  return table(HEADERS, ms.map((m) => rowOf(m, ms)), markdown);
}

/** Per target and rate over the rounds: median CPU per call and median of the per-round ratios. */
export function summaryTable(run: BenchRun, markdown: boolean): string {
  const headers = ['target', 'rate', 'rounds', 'failed', 'CPU µs/call median', 'min-max', ...REFERENCES.map((r) => `vs ${r} (median)`)];
  const rows: string[][] = [];
  for (const rate of run.rates) {
    for (const { name } of run.targets) {
      const ms = run.measurements.filter((m) => m.target === name && m.rate === rate && !m.error);
      const us = ms.map((m) => m.proxyUsPerCall).filter((v): v is number => v !== null);
      rows.push([
        name,
        String(rate),
        String(ms.length),
        String(ms.reduce((a, m) => a + m.failed + m.unfinished, 0)),
        fmt(median(us), 1),
        us.length ? `${fmt(Math.min(...us))}-${fmt(Math.max(...us))}` : '-',
        ...REFERENCES.map((r) => ratioText(median(ms.map((m) => ratio(m, run.measurements, r)).filter((v): v is number => v !== null)))),
      ]);
    }
  }
  return table(headers, rows, markdown);
}

/** Highest rate with every requested call successful in every round, per target (null: none). */
export function highestCleanRate(ms: Measurement[], target: string): number | null {
  const ofTarget = ms.filter((m) => m.target === target);
  const isClean = (m: Measurement) => !m.error && m.failed === 0 && m.successful === m.callsRequested;
  // a rate counts when it was clean in every round
  const clean = [...new Set(ofTarget.map((m) => m.rate))].filter((r) => ofTarget.filter((m) => m.rate === r).every(isClean));
  return clean.length ? Math.max(...clean) : null;
}

function cleanRateLines(run: BenchRun): string[] {
  const top = Math.max(...run.rates);
  return run.targets.map(({ name }) => {
    const r = highestCleanRate(run.measurements, name);
    const note = r === null ? 'none (failed calls at every rate tried)' : r === top ? `${r} calls/s (every rate tried; the limit is higher)` : `${r} calls/s`;
    return `- ${name}: ${note}`;
  });
}

export function renderMarkdown(run: BenchRun): string {
  const errors = run.measurements.filter((m) => m.error);
  const warned = run.measurements.filter((m) => m.warnings.length);
  return [
    `# Benchmark: ${run.scenario}`,
    '',
    `${run.description}. ${run.durationS} s per rate after a ${run.warmupS} s warm-up at the same rate (not counted), ` +
      `${run.rounds} round(s); started ${run.startedAt}.`,
    '',
    `Command: \`${run.command}\``,
    '',
    '## Environment',
    '',
    ...Object.entries(run.environment).map(([k, v]) => `- ${k}: ${v}`),
    '',
    '## Targets',
    '',
    ...run.targets.map((t) => `- ${t.name}: ${t.description}`),
    '',
    ...(run.rounds > 1 ? ['## Summary over the rounds', '', summaryTable(run, true), '',
      'Medians per target and rate; a ratio is taken against the reference measured in the same round, then the median.', ''] : []),
    '## Results',
    '',
    measurementTable(run.measurements, true),
    '',
    'calls/s: the rate SIPp sustained while creating calls. UDP drops: datagrams the kernel dropped for',
    'a full receive buffer during the run (whole machine). CPU µs/call: utime+stime of every proxy',
    'process and thread over the uac run, divided by successful calls. Response times are INVITE -> 200',
    "at the uac, in SIPp's whole milliseconds. uac/uas CPU: percent of one core during the traffic;",
    'machine busy: percent of all cores (SIPp, proxy and anything else), near 100 the figures are',
    'contended. SIPp-limited: a SIPp process used 90% of a core, or the uac fell short of the rate',
    'without failed calls.',
    'A rate marked * has warnings: another SIPp ran on the machine meanwhile, or the uac had to be',
    'stopped with calls still open ("+N open" in failed).',
    '',
    '## Highest rate without failed calls',
    '',
    ...cleanRateLines(run),
    ...(errors.length
      ? ['', '## Errors', '', ...errors.map((m) => `- ${m.target} at ${m.rate}: ${firstLine(m.error!)}`)]
      : []),
    ...(warned.length
      ? ['', '## Warnings', '', ...warned.flatMap((m) => m.warnings.map((w) => `- ${m.target} at ${m.rate}: ${w}`))]
      : []),
    '',
  ].join('\n');
}

/** The console summary: the table and the clean rates. */
export function renderText(run: BenchRun): string {
  return [
    `== ${run.scenario}: ${run.description}`,
    measurementTable(run.measurements, false),
    ...(run.rounds > 1 ? ['', 'Summary (medians over the rounds):', summaryTable(run, false)] : []),
    '',
    'Highest rate without failed calls:',
    ...cleanRateLines(run),
  ].join('\n');
}
