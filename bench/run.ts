// `make bench` (node dist/bench/run.js [flags]): every target at every rate, side by side
// in one run, then bench/results/<timestamp>-<scenario>.{json,md} and latest.md.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { measure, type Measurement } from './measure.js';
import { repoPath } from './paths.js';
import { clockTicksPerSecond, portInUse, portOwners, sleep } from './proc.js';
import { renderMarkdown, renderText, type BenchRun } from './report.js';
import { scenarios, type Scenario } from './scenarios.js';
import { targets, type Target } from './targets.js';

const USAGE = `usage: node dist/bench/run.js [--scenario NAME]... [--targets a,b] [--rates 1000,2000,...]
                               [--duration SECONDS] [--warmup SECONDS] [--rounds N] [--out DIR] [--list]
  scenarios: ${Object.keys(scenarios).join(', ')}
  targets:   ${targets.map((t) => t.name).join(', ')}
  defaults:  --scenario (all) --targets (all) --rates 1000,2000,4000,6000 --duration 10 --warmup 3
             --rounds 1 --out bench/results
  --warmup:  calls at the same rate before each measured run, not counted (every target gets it)
  --rounds:  repeat the whole grid; the summary gives medians (this machine's speed drifts by
             tens of percent over minutes, so ratios come from targets measured side by side)`;

/** "a,b c" and repeated flags alike. */
const listOf = (values: string[] | undefined): string[] => (values ?? []).flatMap((v) => v.split(/[,\s]+/)).filter(Boolean);

function pick<T extends { name: string }>(all: Record<string, T> | T[], names: string[], what: string): T[] {
  const list = Array.isArray(all) ? all : Object.values(all);
  return names.map((n) => {
    const hit = list.find((x) => x.name === n);
    if (!hit) throw new Error(`unknown ${what} "${n}"; known: ${list.map((x) => x.name).join(', ')}`);
    return hit;
  });
}

/** First output line of a version command (`sipp -v` exits 1, so the status is ignored). */
function firstLineOf(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 });
  if (r.error) return `unavailable (${r.error.message})`;
  return `${r.stdout}\n${r.stderr}`.split('\n').map((l) => l.trim()).find(Boolean) ?? '?';
}

function environment(): Record<string, string | number> {
  const cpuModel = cpus()[0]?.model ?? '?';
  return {
    cpu: `${cpus().length} x ${cpuModel}`,
    kernel: release(),
    node: process.version,
    sipp: firstLineOf('sipp', ['-v']),
    kamailio: firstLineOf('kamailio', ['-v']),
    clk_tck: clockTicksPerSecond(),
  };
}

/**
 * The Debian package starts Kamailio as a service on 5060. Stop it if it holds one of
 * our ports (systemd may not be running at all: then say who holds the port).
 */
async function freeScenarioPorts(s: Scenario): Promise<void> {
  const ports = [s.proxy, s.uac, ...s.uas].map((e) => e.port);
  if (!ports.some((p) => portInUse(p))) return;
  try {
    execFileSync('systemctl', ['stop', 'kamailio'], { stdio: 'ignore', timeout: 15_000 });
    await sleep(500);
  } catch {
    /* no systemd, or no such service */
  }
  const busy = ports.filter((p) => portInUse(p));
  if (busy.length) {
    const who = busy.map((p) => `${p} (${portOwners(p).map((o) => `pid ${o.pid}: ${o.command}`).join('; ') || 'owner unknown'})`);
    throw new Error(`UDP ports needed by the bench are in use: ${who.join(', ')}`);
  }
}

interface Plan { rates: number[]; durationS: number; warmupS: number; rounds: number }

async function runScenario(s: Scenario, chosen: Target[], plan: Plan, command: string): Promise<BenchRun> {
  const { rates, durationS, warmupS, rounds } = plan;
  await freeScenarioPorts(s);
  const run: BenchRun = {
    scenario: s.name,
    description: s.description,
    startedAt: new Date().toISOString(),
    command,
    durationS,
    warmupS,
    rounds,
    rates,
    targets: chosen.map((t) => ({ name: t.name, description: t.description })),
    environment: environment(),
    measurements: [],
  };
  // Rounds outer, then rates, targets inner: targets compared at one rate are measured close
  // together in time.
  for (let round = 1; round <= rounds; round++) for (const rate of rates) {
    for (const t of chosen) {
      process.stdout.write(`${s.name}${rounds > 1 ? ` round ${round}` : ''}: ${t.name} at ${rate} calls/s for ${durationS} s ... `);
      const m: Measurement = await measure(s, t, rate, durationS, round, warmupS);
      run.measurements.push(m);
      process.stdout.write(
        m.error
          ? `error: ${m.error.split('\n')[0]}\n`
          : `${m.successful}/${m.callsRequested} ok, ${m.failed} failed${m.unfinished ? ` (+${m.unfinished} open)` : ''}, ${m.proxyUsPerCall?.toFixed(1) ?? '-'} µs/call` +
              `${m.sippLimited ? ` (SIPp-limited: ${m.limitReasons.join('; ')})` : ''}` +
              `${m.warnings.length ? ` [warning: ${m.warnings.join('; ')}]` : ''}\n`,
      );
    }
  }
  return run;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', multiple: true },
      targets: { type: 'string', multiple: true },
      rates: { type: 'string', multiple: true },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
      out: { type: 'string' },
      list: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || values.list) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const chosenScenarios = pick(scenarios, listOf(values.scenario).length ? listOf(values.scenario) : Object.keys(scenarios), 'scenario');
  const chosenTargets = listOf(values.targets).length ? pick(targets, listOf(values.targets), 'target') : targets;
  const rates = (listOf(values.rates).length ? listOf(values.rates) : ['1000', '2000', '4000', '6000']).map(Number);
  const durationS = Number(values.duration ?? 10);
  const warmupS = Number(values.warmup ?? 3);
  const rounds = Number(values.rounds ?? 1);
  if (rates.some((r) => !(r > 0)) || !(durationS > 0)) throw new Error(`rates and duration must be positive numbers\n${USAGE}`);
  if (!(warmupS >= 0) || !Number.isInteger(rounds) || rounds < 1) throw new Error(`--warmup must be >= 0 and --rounds a whole number >= 1\n${USAGE}`);
  const outDir = values.out ?? repoPath('bench/results');
  mkdirSync(outDir, { recursive: true });

  const stamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
  const command = ['node', 'dist/bench/run.js', ...process.argv.slice(2)].join(' ');
  const reports: string[] = [];
  for (const s of chosenScenarios) {
    const run = await runScenario(s, chosenTargets, { rates, durationS, warmupS, rounds }, command);
    const base = join(outDir, `${stamp}-${s.name}`);
    const md = renderMarkdown(run);
    writeFileSync(`${base}.json`, `${JSON.stringify(run, null, 2)}\n`);
    writeFileSync(`${base}.md`, md);
    reports.push(md);
    process.stdout.write(`\n${renderText(run)}\n\nwrote ${base}.json and ${base}.md\n\n`);
  }
  writeFileSync(join(outDir, 'latest.md'), reports.join('\n'));
}

// Ctrl-C: exit, which kills the SIPp and proxy process groups (see proc.ts).
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));

main().catch((e: Error) => {
  process.stderr.write(`bench: ${e.message}\n`);
  process.exit(1);
});
