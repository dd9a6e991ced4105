import type { BuiltinsContext } from '../../../src/rpc/builtins.js';
import { startHttpServer, type HttpServerHandle, type HttpServerOptions } from '../../../src/rpc/server.js';

/** What registerBuiltins needs, with no processes, no shared memory and fixed build fields. */
export function builtinsContext(ctx: Pick<BuiltinsContext, 'stats'> & Partial<BuiltinsContext>): BuiltinsContext {
  return {
    startTime: new Date(),
    version: '0.1.0',
    processes: () => [],
    shm: () => [],
    build: { id: 'unknown', compiler: 'node', compiled: '06:00:09 Nov  2 2024', flags: 'UDP: native' },
    ...ctx,
  };
}

/** A server on an ephemeral 127.0.0.1 port, and helpers to talk to it. */
export async function serve(opts: Omit<HttpServerOptions, 'host' | 'port'>): Promise<HttpServerHandle & {
  post(body: string, path?: string): Promise<Response>;
  rpc(body: unknown): Promise<unknown>;
}> {
  const server = await startHttpServer({ host: '127.0.0.1', port: 0, ...opts });
  const post = (body: string, path = '/RPC') =>
    fetch(`http://${server.address}${path}`, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
  return Object.assign(server, {
    post,
    rpc: async (body: unknown) => (await post(JSON.stringify(body))).json(),
  });
}
