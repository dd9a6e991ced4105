// The `viaduct` command: run a routing script, or talk to a running server over JSON-RPC.
import { parseArgs } from 'node:util';
import { ConfigError, type CliOverrides } from '../core/config.js';
import { ScriptError } from '../core/script.js';
import { startServer, VERSION } from '../core/server.js';
import { rpcCommand } from './rpc.js';

const USAGE = `usage:
  viaduct run SCRIPT [--listen udp:IP:PORT]... [--workers N] [--http IP:PORT|off]
                     [--modparam MODULE:NAME=VALUE]... [--alias HOST[:PORT]]... [--log-level LEVEL]
                     [--watchdog-ms MS]
  viaduct rpc [--http IP:PORT] METHOD [PARAMS...]
  viaduct version`;

function fail(msg: string): never {
  process.stderr.write(`viaduct: ${msg}\n`);
  process.exit(1);
}

async function run(args: string[]): Promise<void> {
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
      },
    });
  } catch (e) {
    fail(`${(e as Error).message}\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) fail(`run needs exactly one script\n${USAGE}`);
  const workers = values.workers === undefined ? undefined : Number(values.workers);
  if (workers !== undefined && !/^\d+$/.test(values.workers!)) fail(`--workers "${values.workers}" is not a whole number`);
  const watchdog = values['watchdog-ms'];
  if (watchdog !== undefined && !/^\d+$/.test(watchdog)) fail(`--watchdog-ms "${watchdog}" is not a whole number of milliseconds`);
  const cli: CliOverrides = {
    listen: values.listen ?? [],
    workers,
    http: values.http,
    alias: values.alias ?? [],
    modparams: values.modparam ?? [],
    logLevel: values['log-level'],
    watchdogMs: watchdog === undefined ? undefined : Number(watchdog),
  };
  // Signals are handled from the start: a SIGTERM during start-up waits for it, then stops.
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  let stopRequested: string | null = null;
  const stop = (sig: string): void => {
    if (stopRequested) return;
    stopRequested = sig;
    if (!server) return; // stopped right after start-up below
    process.stderr.write(`viaduct: ${sig}, stopping\n`);
    server.stop().then(() => process.exit(process.exitCode ?? 0), () => process.exit(1));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    server = await startServer(positionals[0], cli);
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

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'run':
      return run(rest);
    case 'rpc':
      process.exitCode = await rpcCommand(rest);
      return;
    case 'version':
    case '--version':
      process.stdout.write(`viaduct ${VERSION}\n`);
      return;
    default:
      process.stdout.write(`${USAGE}\n`);
      if (cmd !== 'help' && cmd !== '--help' && cmd !== '-h') process.exitCode = 2;
  }
}

await main(process.argv.slice(2));
