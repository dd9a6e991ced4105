// The `viaduct` command: run a routing script, or talk to a running server over JSON-RPC.
// Exit codes: 0 ok; 1 a runtime failure (the server cannot start, an RPC fails); 2 a usage error
// (an unknown command or flag, a bad or missing argument, a kamailio.cfg given as the script).
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { ConfigError, DEFAULT_HTTP, DEFAULT_LISTEN, DEFAULT_WATCHDOG_MS, resolveSettings, type CliOverrides } from '../core/config.js';
import { resolveModparams } from '../core/ksr.js';
import { ScriptError } from '../core/script.js';
import { startServer, VERSION } from '../core/server.js';
import { RPC_USAGE, rpcCommand } from './rpc.js';
import { kamailioCfgSign, unreadableScript } from './script-file.js';

const OK = 0;
const FAILURE = 1;
const USAGE_ERROR = 2;

const USAGE = `usage: viaduct COMMAND [ARGS]

  run SCRIPT [FLAGS]       start the SIP server with a routing script (viaduct run --help)
  rpc METHOD [PARAMS...]   call a JSON-RPC method of a running server, as kamcmd does (viaduct rpc --help)
  version                  print the version
  help [COMMAND]           print this text, or a command's

exit codes: 0 ok, 1 runtime failure (cannot start, RPC error), 2 usage error
`;

/** `viaduct run --help`: every flag with its default. */
function runUsage(): string {
  const cpus = availableParallelism();
  return `usage: viaduct run SCRIPT [FLAGS]

SCRIPT is a KEMI routing script: plain JavaScript (function ksr_request_route() {...}) or a
TypeScript / ES module exporting those functions and its \`settings\` (see examples/). The flags
override the script's settings. A kamailio.cfg is not accepted yet (its front end is not built).

  -l, --listen 'udp:IP[:PORT][ advertise HOST[:PORT]]'
        a UDP socket (repeatable; default ${DEFAULT_LISTEN}; port 5060 when left out).
        As kamailio.cfg's listen=: "advertise HOST:PORT" is what Via and Record-Route carry
        instead of the bound address (behind NAT); quote it, it is one argument:
        --listen 'udp:10.0.0.5:5060 advertise 203.0.113.7:5060'
  -w, --workers N
        SIP threads (default: CPUs - 1 on more than 2 CPUs, else 0; here ${cpus > 2 ? cpus - 1 : 0}):
          0      inline: one thread reads the sockets and runs the script (cheapest on 1-2 cores)
          1      single: one worker thread reads the sockets itself and runs the script
          N >= 2 sharded: a receiving thread reads the sockets and hands each message to one of
                 N workers by its Call-ID, so every message of a call reaches the same worker,
                 in order
        Beside them the main thread supervises, serves --http and runs the timers.
      --http IP:PORT|off
        JSON-RPC (POST /RPC) and Prometheus (GET /metrics) endpoint (default ${DEFAULT_HTTP})
      --modparam MODULE:NAME=VALUE
        a module parameter, as kamailio.cfg's modparam (repeatable), e.g.
        --modparam dispatcher:list_file=dispatcher.list
      --alias HOST[:PORT]
        another name of this server for is_myself() (repeatable)
      --log-level LEVEL
        alert, crit, err, warn, notice, info or debug (default info); Kamailio's
        debug= numbers -5 (alert) .. 3 (debug) too
      --watchdog-ms MS
        a SIP thread stuck this long in one message is restarted (default ${DEFAULT_WATCHDOG_MS}; 0: off)
  -h, --help
        this text

It prints "viaduct ready ..." once every SIP thread runs, and stops on SIGTERM or SIGINT (exit 0).
Exit codes: 1 when it cannot start (script error, missing script, port in use), 2 for a bad
command line.
`;
}

/** The usage error: a one-line reason, then where to look. */
function usageError(what: string, reason: string): never {
  process.stderr.write(`viaduct${what ? ` ${what}` : ''}: ${reason}\n(viaduct ${what ? `${what} ` : ''}--help for usage)\n`);
  process.exit(USAGE_ERROR);
}

function fail(msg: string): never {
  process.stderr.write(`viaduct: ${msg}\n`);
  process.exit(FAILURE);
}

/** The flags of `run`, checked on their own (nothing starts when one is wrong). */
function runFlags(args: string[]): { script: string; cli: CliOverrides } | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        listen: { type: 'string', multiple: true, short: 'l' },
        workers: { type: 'string', short: 'w' },
        http: { type: 'string' },
        modparam: { type: 'string', multiple: true },
        alias: { type: 'string', multiple: true },
        'log-level': { type: 'string' },
        'watchdog-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    usageError('run', (e as Error).message.split('. ')[0]!); // node's advice on '--' after it is no help here
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  if (positionals.length === 0) usageError('run', 'missing SCRIPT');
  if (positionals.length > 1) usageError('run', `one SCRIPT only, got ${positionals.map((p) => `'${p}'`).join(' ')}`);
  if (values.workers !== undefined && !/^\d+$/.test(values.workers)) usageError('run', `--workers "${values.workers}" is not a whole number`);
  const watchdog = values['watchdog-ms'];
  if (watchdog !== undefined && !/^\d+$/.test(watchdog)) usageError('run', `--watchdog-ms "${watchdog}" is not a whole number of milliseconds`);
  const cli: CliOverrides = {
    listen: values.listen ?? [],
    workers: values.workers === undefined ? undefined : Number(values.workers),
    http: values.http,
    alias: values.alias ?? [],
    modparams: values.modparam ?? [],
    logLevel: values['log-level'],
    watchdogMs: watchdog === undefined ? undefined : Number(watchdog),
  };
  try {
    // the flags without a script's settings: a bad --listen, --http, --log-level or --modparam
    resolveModparams(resolveSettings(undefined, cli, 1).modparams);
  } catch (e) {
    if (e instanceof ConfigError) usageError('run', e.message);
    throw e;
  }
  return { script: positionals[0]!, cli };
}

async function run(args: string[]): Promise<void> {
  const flags = runFlags(args);
  if (flags === 'help') {
    process.stdout.write(runUsage());
    return;
  }
  const { script, cli } = flags;
  const unreadable = unreadableScript(script);
  if (unreadable) fail(unreadable);
  const cfg = kamailioCfgSign(script);
  if (cfg) {
    process.stderr.write(`viaduct: ${script} is a kamailio.cfg (${cfg}); viaduct runs KEMI JavaScript/TypeScript ` +
      'routing scripts (see examples/); the kamailio.cfg front end is not built yet\n');
    process.exit(USAGE_ERROR);
  }
  // Signals are handled from the start: a SIGTERM during start-up waits for it, then stops.
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  let stopRequested: string | null = null;
  const stop = (sig: string): void => {
    if (stopRequested) return;
    stopRequested = sig;
    if (!server) return; // stopped right after start-up below
    process.stderr.write(`viaduct: ${sig}, stopping\n`);
    server.stop().then(() => process.exit(process.exitCode ?? OK), () => process.exit(FAILURE));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    server = await startServer(script, cli);
  } catch (e) {
    if (e instanceof ScriptError) fail(`script error: ${e.message}`);
    if (e instanceof ConfigError) fail(`configuration error: ${e.message}`);
    fail(`cannot start: ${(e as Error).message}`);
  }
  process.stdout.write(`${server.readyLine}\n`);
  if (stopRequested) {
    const sig = stopRequested;
    stopRequested = null;
    stop(sig);
  }
}

const HELP = new Set(['help', '--help', '-h']);

/** The usage of a command by name; null for an unknown one. */
function usageOf(cmd: string | undefined): string | null {
  if (cmd === undefined || HELP.has(cmd)) return USAGE;
  if (cmd === 'run') return runUsage();
  if (cmd === 'rpc') return RPC_USAGE;
  return null;
}

function unknownCommand(cmd: string): never {
  const hint = unreadableScript(cmd) === null ? ` (to start a script: viaduct run ${cmd})` : '';
  process.stderr.write(`viaduct: unknown command '${cmd}'${hint}\n${USAGE}`);
  process.exit(USAGE_ERROR);
}

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined) {
    process.stderr.write(`viaduct: missing COMMAND\n${USAGE}`);
    process.exitCode = USAGE_ERROR;
    return;
  }
  if (HELP.has(cmd)) {
    const text = usageOf(rest[0]);
    if (text === null) unknownCommand(rest[0]!);
    process.stdout.write(text);
    return;
  }
  switch (cmd) {
    case 'run':
      return run(rest);
    case 'rpc':
      process.exitCode = await rpcCommand(rest);
      return;
    case 'version':
    case '--version':
    case '-v':
    case '-V':
      process.stdout.write(`viaduct ${VERSION}\n`);
      return;
    default:
      unknownCommand(cmd);
  }
}

await main(process.argv.slice(2));
