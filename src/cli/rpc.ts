/**
 * `viaduct rpc [--http IP:PORT] METHOD [PARAMS...]`: calls a JSON-RPC method of a running server,
 * like kamcmd does over binrpc. Parameters that look like integers are sent as numbers, as kamcmd
 * does; prefix one with "s:" to send it as a string ("s:5060"). The result is printed as pretty
 * JSON on stdout; an error goes to stderr and the exit code is 1 (2 for a usage error).
 */
import { DEFAULT_HTTP } from '../core/config.js';

export const DEFAULT_RPC_HTTP = DEFAULT_HTTP;
const TIMEOUT_MS = 10_000;

export const RPC_USAGE = `usage: viaduct rpc [--http IP:PORT] METHOD [PARAMS...]

Calls METHOD on a running server's JSON-RPC endpoint (Kamailio's method names and result shapes)
and prints the result as JSON.

      --http IP:PORT   the server's endpoint, as its --http (default ${DEFAULT_RPC_HTTP})
  -h, --help           this text
  PARAMS               integers are sent as numbers, as kamcmd does; s: sends one as a string (s:5060)

examples: viaduct rpc system.listMethods
          viaduct rpc core.shmmem k
          viaduct rpc stats.get_statistics core: sl:
          viaduct rpc dispatcher.list

Exit codes: 0 ok, 1 the server answered an error or could not be reached, 2 a bad command line.
`;

export interface RpcCommandIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const processIo: RpcCommandIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

/** kamcmd's typing of command-line parameters. */
export function parseRpcParam(arg: string): string | number {
  if (arg.startsWith('s:')) return arg.slice(2);
  if (/^[-+]?\d+$/.test(arg)) {
    const n = Number(arg);
    if (Number.isSafeInteger(n)) return n;
  }
  return arg;
}

/** "IP:PORT", "[v6]:PORT", "IP" or a bare IPv6 address -> the /RPC URL (port 9060 if absent). */
export function rpcUrl(endpoint: string): string {
  const defaultPort = DEFAULT_RPC_HTTP.split(':')[1];
  let host = endpoint;
  let port = defaultPort;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(endpoint);
  if (v6) {
    host = `[${v6[1]}]`;
    port = v6[2] ?? defaultPort;
  } else if ((endpoint.match(/:/g) ?? []).length > 1) {
    host = `[${endpoint}]`;
  } else if (endpoint.includes(':')) {
    [host, port] = endpoint.split(':');
  }
  if (!host || !/^\d+$/.test(port)) throw new Error(`bad --http endpoint: ${endpoint}`);
  return `http://${host}:${port}/RPC`;
}

interface ParsedArgs {
  endpoint: string;
  method: string;
  params: (string | number)[];
}

/** Options come before METHOD; everything after it is a parameter (so "-1" stays a number). */
function parseArgs(args: string[]): ParsedArgs | 'help' {
  let endpoint = DEFAULT_RPC_HTTP;
  let i = 0;
  for (; i < args.length && args[i].startsWith('-'); i++) {
    const a = args[i];
    if (a === '-h' || a === '--help') return 'help';
    if (a === '--http') {
      if (i + 1 >= args.length) throw new Error('--http needs IP:PORT');
      endpoint = args[++i]!;
    } else if (a.startsWith('--http=')) endpoint = a.slice('--http='.length);
    else throw new Error(`unknown option: ${a}`);
  }
  if (i >= args.length) throw new Error('missing METHOD');
  return { endpoint, method: args[i], params: args.slice(i + 1).map(parseRpcParam) };
}

export async function rpcCommand(args: string[], io: RpcCommandIo = processIo): Promise<number> {
  let parsed: ParsedArgs | 'help';
  let url: string;
  try {
    parsed = parseArgs(args);
    if (parsed === 'help') {
      io.stdout(RPC_USAGE);
      return 0;
    }
    url = rpcUrl(parsed.endpoint);
  } catch (err) {
    io.stderr(`viaduct rpc: ${(err as Error).message}\n(viaduct rpc --help for usage)\n`);
    return 2;
  }

  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', method: parsed.method, params: parsed.params, id: 1 }),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    const cause = (err as { cause?: Error }).cause;
    io.stderr(`viaduct rpc: cannot reach ${url}: ${cause?.message ?? (err as Error).message}\n`);
    return 1;
  }
  const text = await res.text();
  if (res.status !== 200) {
    io.stderr(`viaduct rpc: HTTP ${res.status} from ${url}: ${text.trim()}\n`);
    return 1;
  }
  let reply: { result?: unknown; error?: { code: number; message: string; data?: unknown } };
  try {
    reply = JSON.parse(text);
  } catch {
    io.stderr(`viaduct rpc: not a JSON reply from ${url}: ${text.slice(0, 200)}\n`);
    return 1;
  }
  if (reply.error) {
    const data = reply.error.data === undefined ? '' : ` ${JSON.stringify(reply.error.data)}`;
    io.stderr(`error: ${reply.error.code} - ${reply.error.message}${data}\n`);
    return 1;
  }
  io.stdout(`${JSON.stringify(reply.result, null, 2)}\n`);
  return 0;
}
