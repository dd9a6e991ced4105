/**
 * The control plane's HTTP endpoint: JSON-RPC 2.0 at POST /RPC (also /rpc, as Kamailio's
 * jsonrpcs + xhttp setups commonly route it) and the Prometheus text at GET /metrics.
 *
 * JSON-RPC follows the 2.0 specification: single and batch requests, notifications (no "id") are
 * run and get no response (HTTP 204 when nothing is left to send), "jsonrpc": "2.0" is required.
 * Kamailio's jsonrpcs is laxer (it answers notifications and does not check "jsonrpc"); where the
 * two differ we follow the specification, as the design asks, so standard clients behave.
 * Parameters are positional: an array or omitted; by-name (object) params get -32602.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  INTERNAL_ERROR,
  INVALID_PARAMS,
  INVALID_REQUEST,
  PARSE_ERROR,
  RpcError,
  type RpcRegistry,
} from './registry.js';

type JsonRpcId = string | number | null;

interface JsonRpcResponse {
  jsonrpc: '2.0';
  id: JsonRpcId;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

function errorResponse(id: JsonRpcId, err: RpcError): JsonRpcResponse {
  const error: JsonRpcResponse['error'] = { code: err.code, message: err.message };
  if (err.data !== undefined) error.data = err.data;
  return { jsonrpc: '2.0', id, error };
}

function isValidId(id: unknown): id is JsonRpcId {
  return id === null || typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id));
}

/** Calls the method for a valid request; every failure becomes an error response. */
async function invoke(registry: RpcRegistry, method: string, params: object | undefined, id: JsonRpcId): Promise<JsonRpcResponse> {
  try {
    if (params !== undefined && !Array.isArray(params)) {
      throw new RpcError(INVALID_PARAMS, 'Invalid Parameters: positional (array) params only');
    }
    const result = await registry.call(method, params ?? []);
    return { jsonrpc: '2.0', id, result: result ?? null };
  } catch (err) {
    return errorResponse(id, err as RpcError); // registry.call only rejects with RpcError
  }
}

/** Runs one request object; null for a notification. */
async function runOne(registry: RpcRegistry, req: unknown): Promise<JsonRpcResponse | null> {
  if (typeof req !== 'object' || req === null || Array.isArray(req)) {
    return errorResponse(null, new RpcError(INVALID_REQUEST, 'Invalid Request'));
  }
  const { jsonrpc, method, params, id } = req as Record<string, unknown>;
  const hasId = 'id' in req;
  const structured = params === undefined || (typeof params === 'object' && params !== null);
  if (jsonrpc !== '2.0' || typeof method !== 'string' || (hasId && !isValidId(id)) || !structured) {
    return errorResponse(isValidId(id) ? id : null, new RpcError(INVALID_REQUEST, 'Invalid Request'));
  }
  const response = await invoke(registry, method, params as object | undefined, hasId ? (id as JsonRpcId) : null);
  return hasId ? response : null;
}

/** Serialises a response; a result JSON cannot carry (BigInt, cycles) becomes an internal error. */
function serialize(r: JsonRpcResponse): string {
  try {
    return JSON.stringify(r);
  } catch (err) {
    return JSON.stringify(errorResponse(r.id, new RpcError(INTERNAL_ERROR, `Internal Error: ${(err as Error).message}`)));
  }
}

/**
 * Handles one JSON-RPC 2.0 request body (single or batch). Returns the response body, or null when
 * there is nothing to send (only notifications). Transport-independent: HTTP here, any socket later.
 */
export async function handleJsonRpc(registry: RpcRegistry, body: string): Promise<string | null> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return serialize(errorResponse(null, new RpcError(PARSE_ERROR, 'Parse Error')));
  }
  if (!Array.isArray(parsed)) {
    const r = await runOne(registry, parsed);
    return r && serialize(r);
  }
  if (parsed.length === 0) return serialize(errorResponse(null, new RpcError(INVALID_REQUEST, 'Invalid Request')));
  const responses = (await Promise.all(parsed.map((req) => runOne(registry, req)))).filter((r) => r !== null);
  return responses.length ? `[${responses.map(serialize).join(',')}]` : null;
}

// ---------------------------------------------------------------------------------------------

export interface HttpServerOptions {
  host: string;
  /** 0 picks a free port (see the returned port/address). */
  port: number;
  registry: RpcRegistry;
  /** Prometheus text for GET /metrics; /metrics answers 404 without it. */
  metrics?: () => Promise<string>;
  /** Largest accepted request body (default 1 MiB). */
  maxBodyBytes?: number;
}

export interface HttpServerHandle {
  /** "host:port" as bound ("[::1]:9060" for IPv6). */
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

function send(res: ServerResponse, status: number, contentType: string | null, body: string, extra?: Record<string, string>): void {
  const headers: Record<string, string | number> = { ...extra };
  if (contentType) headers['Content-Type'] = contentType;
  headers['Content-Length'] = Buffer.byteLength(body);
  res.writeHead(status, headers);
  res.end(body);
}

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume(); // drain without buffering so the 413 can be written
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function route(opts: HttpServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?', 1)[0];
  if (path === '/RPC' || path === '/rpc') {
    if (req.method !== 'POST') return send(res, 405, 'text/plain', 'use POST\n', { Allow: 'POST' });
    let body: string;
    try {
      body = await readBody(req, opts.maxBodyBytes ?? 1 << 20);
    } catch (err) {
      if (err instanceof BodyTooLarge) return send(res, 413, 'text/plain', 'request body too large\n', { Connection: 'close' });
      throw err;
    }
    const out = await handleJsonRpc(opts.registry, body);
    if (out === null) return send(res, 204, null, '');
    return send(res, 200, 'application/json', out + '\n');
  }
  if (path === '/metrics' && opts.metrics) {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'use GET\n', { Allow: 'GET, HEAD' });
    return send(res, 200, PROMETHEUS_CONTENT_TYPE, await opts.metrics());
  }
  send(res, 404, 'text/plain', 'not found\n');
}

export function startHttpServer(opts: HttpServerOptions): Promise<HttpServerHandle> {
  const server = createServer((req, res) => {
    route(opts, req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, 'text/plain', `${err instanceof Error ? err.message : String(err)}\n`);
      else res.destroy();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      const { address, port, family } = server.address() as AddressInfo;
      resolve({
        address: family === 'IPv6' ? `[${address}]:${port}` : `${address}:${port}`,
        port,
        close: () =>
          new Promise<void>((done, fail) => {
            server.close((err) => (err ? fail(err) : done()));
            server.closeAllConnections(); // keep-alive clients must not hold the shutdown
          }),
      });
    });
  });
}
