import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EXECUTION_ERROR,
  INVALID_PARAMS,
  INVALID_REQUEST,
  METHOD_NOT_FOUND,
  PARSE_ERROR,
  RpcError,
  RpcRegistry,
} from '../../../src/rpc/registry.js';
import { handleJsonRpc, startHttpServer } from '../../../src/rpc/server.js';
import { serve } from './helpers.js';

function testRegistry(): { registry: RpcRegistry; calls: string[] } {
  const registry = new RpcRegistry();
  const calls: string[] = [];
  registry.register('echo', (params) => params, 'returns its parameters');
  registry.register('slow.add', async (params) => {
    await new Promise((r) => setTimeout(r, 5));
    return (params as number[]).reduce((a, b) => a + b, 0);
  }, 'adds numbers, later');
  registry.register('note', (params) => { calls.push(String(params[0])); }, 'records a call, returns nothing');
  registry.register('fail', () => { throw new Error('boom'); }, 'always throws');
  registry.register('needs.one', (params) => {
    if (params.length !== 1) throw new RpcError(INVALID_PARAMS, 'exactly one parameter');
    return params[0];
  }, 'one parameter');
  registry.register('bigint', () => 1n, 'unserialisable result');
  return { registry, calls };
}

describe('RpcRegistry', () => {
  it('calls, lists, helps and refuses duplicates', async () => {
    const { registry } = testRegistry();
    expect(await registry.call('echo', [1, 'a'])).toEqual([1, 'a']);
    expect(await registry.call('echo')).toEqual([]);
    expect(registry.list()).toEqual([...registry.list()].sort());
    expect(registry.help('fail')).toBe('always throws');
    expect(registry.help('nope')).toBeUndefined();
    expect(() => registry.register('echo', () => 0, '')).toThrow(/already registered/);
    await expect(registry.call('nope')).rejects.toMatchObject({ code: METHOD_NOT_FOUND });
    await expect(registry.call('fail')).rejects.toMatchObject({ code: EXECUTION_ERROR, message: 'boom' });
  });
});

describe('JSON-RPC 2.0 over HTTP', () => {
  const { registry, calls } = testRegistry();
  let server: Awaited<ReturnType<typeof serve>>;
  beforeAll(async () => {
    server = await serve({ registry, metrics: async () => 'm 1\n', maxBodyBytes: 4096 });
  });
  afterAll(() => server.close());

  it('answers a single call, positional params or none, string and number ids', async () => {
    expect(await server.rpc({ jsonrpc: '2.0', method: 'echo', params: [1, 'two'], id: 1 }))
      .toEqual({ jsonrpc: '2.0', id: 1, result: [1, 'two'] });
    expect(await server.rpc({ jsonrpc: '2.0', method: 'slow.add', params: [2, 3], id: 'x' }))
      .toEqual({ jsonrpc: '2.0', id: 'x', result: 5 });
    expect(await server.rpc({ jsonrpc: '2.0', method: 'echo', id: null })).toEqual({ jsonrpc: '2.0', id: null, result: [] });
    expect(await server.rpc({ jsonrpc: '2.0', method: 'note', params: ['r'], id: 7 })).toEqual({ jsonrpc: '2.0', id: 7, result: null });
  });

  it('serves /rpc too, with a JSON content type', async () => {
    const res = await server.post(JSON.stringify({ jsonrpc: '2.0', method: 'echo', params: [], id: 2 }), '/rpc');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toMatchObject({ id: 2, result: [] });
  });

  it('answers a batch in order, leaving notifications out', async () => {
    const reply = await server.rpc([
      { jsonrpc: '2.0', method: 'slow.add', params: [1, 1], id: 1 },
      { jsonrpc: '2.0', method: 'note', params: ['batched'] },
      { jsonrpc: '2.0', method: 'nope', id: 2 },
      { jsonrpc: '2.0', method: 'echo', params: ['x'], id: 3 },
      1,
    ]);
    expect(reply).toEqual([
      { jsonrpc: '2.0', id: 1, result: 2 },
      { jsonrpc: '2.0', id: 2, error: { code: METHOD_NOT_FOUND, message: 'Method Not Found' } },
      { jsonrpc: '2.0', id: 3, result: ['x'] },
      { jsonrpc: '2.0', id: null, error: { code: INVALID_REQUEST, message: 'Invalid Request' } },
    ]);
    expect(calls).toContain('batched');
  });

  it('runs notifications without answering (204)', async () => {
    const single = await server.post(JSON.stringify({ jsonrpc: '2.0', method: 'note', params: ['n1'] }));
    expect(single.status).toBe(204);
    expect(await single.text()).toBe('');
    const batch = await server.post(JSON.stringify([{ jsonrpc: '2.0', method: 'note', params: ['n2'] }]));
    expect(batch.status).toBe(204);
    expect(calls).toEqual(expect.arrayContaining(['n1', 'n2']));
  });

  it('reports every error code', async () => {
    const err = async (body: string) => ((await (await server.post(body)).json()) as { error: unknown; id: unknown });
    expect(await err('{"jsonrpc": "2.0", "method": ')).toEqual({ jsonrpc: '2.0', id: null, error: { code: PARSE_ERROR, message: 'Parse Error' } });
    expect((await err('[]')).error).toMatchObject({ code: INVALID_REQUEST });
    expect(await err('{"method": "echo", "id": 4}')).toMatchObject({ id: 4, error: { code: INVALID_REQUEST } });
    expect(await err('{"jsonrpc": "2.0", "method": 5, "id": 5}')).toMatchObject({ id: 5, error: { code: INVALID_REQUEST } });
    expect(await err('{"jsonrpc": "2.0", "method": "echo", "params": "x", "id": 6}')).toMatchObject({ id: 6, error: { code: INVALID_REQUEST } });
    expect(await err('{"jsonrpc": "2.0", "method": "echo", "id": {"a": 1}}')).toMatchObject({ id: null, error: { code: INVALID_REQUEST } });
    expect(await err('"hello"')).toMatchObject({ id: null, error: { code: INVALID_REQUEST } });
    expect(await err('{"jsonrpc": "2.0", "method": "nope", "id": 7}')).toMatchObject({ id: 7, error: { code: METHOD_NOT_FOUND } });
    expect(await err('{"jsonrpc": "2.0", "method": "echo", "params": {"a": 1}, "id": 8}')).toMatchObject({ id: 8, error: { code: INVALID_PARAMS } });
    expect(await err('{"jsonrpc": "2.0", "method": "needs.one", "params": [], "id": 9}'))
      .toEqual({ jsonrpc: '2.0', id: 9, error: { code: INVALID_PARAMS, message: 'exactly one parameter' } });
    expect(await err('{"jsonrpc": "2.0", "method": "fail", "id": 10}'))
      .toEqual({ jsonrpc: '2.0', id: 10, error: { code: EXECUTION_ERROR, message: 'boom' } });
    expect((await err('{"jsonrpc": "2.0", "method": "bigint", "id": 11}')).error).toMatchObject({ code: -32603 });
  });

  it('answers HTTP errors for wrong paths, methods and sizes', async () => {
    expect((await fetch(`http://${server.address}/RPC`)).status).toBe(405);
    expect((await fetch(`http://${server.address}/nope`)).status).toBe(404);
    expect((await server.post('{}', '/metrics')).status).toBe(405);
    expect((await server.post('x'.repeat(5000))).status).toBe(413);
    const metrics = await fetch(`http://${server.address}/metrics`);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await metrics.text()).toBe('m 1\n');
  });

  it('handleJsonRpc works without HTTP', async () => {
    expect(await handleJsonRpc(registry, '{"jsonrpc":"2.0","method":"echo","params":[1],"id":1}'))
      .toBe('{"jsonrpc":"2.0","id":1,"result":[1]}');
    expect(await handleJsonRpc(registry, '{"jsonrpc":"2.0","method":"echo"}')).toBeNull();
  });
});

describe('server lifecycle', () => {
  it('reports a port in use, and closes with a keep-alive client connected', async () => {
    const { registry } = testRegistry();
    const a = await serve({ registry });
    expect(a.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(a.address.endsWith(`:${a.port}`)).toBe(true);
    await a.rpc({ jsonrpc: '2.0', method: 'echo', id: 1 }); // fetch keeps the connection alive
    await expect(startHttpServer({ host: '127.0.0.1', port: a.port, registry })).rejects.toThrow(/EADDRINUSE/);
    await a.close();
  });
});
