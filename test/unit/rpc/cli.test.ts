import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRpcParam, rpcCommand, rpcUrl } from '../../../src/cli/rpc.js';
import { createStatsBuffer, RCV_REQUESTS, sumStats, ThreadCounters } from '../../../src/core/stats/counters.js';
import { registerBuiltins } from '../../../src/rpc/builtins.js';
import { RpcRegistry } from '../../../src/rpc/registry.js';
import { builtinsContext, serve } from './helpers.js';

/** Runs the command, capturing what it prints. */
async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await rpcCommand(args, { stdout: (t) => { out += t; }, stderr: (t) => { err += t; } });
  return { code, out, err };
}

describe('viaduct rpc argument handling', () => {
  it('types parameters as kamcmd does', () => {
    expect(parseRpcParam('5060')).toBe(5060);
    expect(parseRpcParam('-1')).toBe(-1);
    expect(parseRpcParam('s:5060')).toBe('5060');
    expect(parseRpcParam('core:')).toBe('core:');
    expect(parseRpcParam('1.5')).toBe('1.5');
    expect(parseRpcParam('12345678901234567890')).toBe('12345678901234567890');
  });

  it('builds the endpoint URL', () => {
    expect(rpcUrl('127.0.0.1:9060')).toBe('http://127.0.0.1:9060/RPC');
    expect(rpcUrl('10.0.0.1')).toBe('http://10.0.0.1:9060/RPC');
    expect(rpcUrl('[::1]:8080')).toBe('http://[::1]:8080/RPC');
    expect(rpcUrl('::1')).toBe('http://[::1]:9060/RPC');
    expect(() => rpcUrl('host:port')).toThrow(/bad --http/);
  });

  it('prints usage', async () => {
    expect((await run(['--help'])).code).toBe(0);
    const missing = await run([]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/missing METHOD/);
    expect((await run(['--bogus', 'core.uptime'])).code).toBe(2);
  });
});

describe('viaduct rpc against a live server', () => {
  let server: Awaited<ReturnType<typeof serve>>;
  beforeAll(async () => {
    const sab = createStatsBuffer(1);
    new ThreadCounters(sab, 0).add(RCV_REQUESTS, 9);
    const registry = new RpcRegistry();
    registerBuiltins(registry, builtinsContext({ stats: () => sumStats(sab) }));
    registry.register('echo', (params) => params, 'returns its parameters');
    server = await serve({ registry });
  });
  afterAll(() => server.close());

  it('prints the result as pretty JSON', async () => {
    const r = await run(['--http', server.address, 'stats.get_statistics', 'rcv_requests']);
    expect(r).toEqual({ code: 0, out: '[\n  "core:rcv_requests = 9"\n]\n', err: '' });
    const v = await run([`--http=${server.address}`, 'core.version']);
    expect(JSON.parse(v.out)).toMatch(/^viaduct 0\.1\.0 /);
  });

  it('sends integers as numbers unless s: says otherwise', async () => {
    const r = await run(['--http', server.address, 'echo', '5060', 's:5060', 'abc', '-3']);
    expect(JSON.parse(r.out)).toEqual([5060, '5060', 'abc', -3]);
  });

  it('reports RPC errors and unreachable servers on stderr with exit code 1', async () => {
    const missing = await run(['--http', server.address, 'no.such.method']);
    expect(missing).toMatchObject({ code: 1, out: '' });
    expect(missing.err).toBe('error: -32601 - Method Not Found\n');
    const noParams = await run(['--http', server.address, 'stats.get_statistics']);
    expect(noParams.code).toBe(1);
    expect(noParams.err).toMatch(/-32602 - Please provide which stats to retrieve/);

    const closed = await serve({ registry: new RpcRegistry() });
    const { address } = closed;
    await closed.close();
    const down = await run(['--http', address, 'core.uptime']);
    expect(down.code).toBe(1);
    expect(down.err).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+\/RPC/);
  });
});
