/**
 * RPC method registry: the control plane's equivalent of Kamailio's rpc_export_t tables. Methods
 * take positional parameters (Kamailio's jsonrpcs and kamcmd send arrays) and return any
 * JSON-serialisable value, or a promise of one.
 */

/** JSON-RPC 2.0 error codes (the same numbers Kamailio's jsonrpcs uses). */
export const PARSE_ERROR = -32700;
export const INVALID_REQUEST = -32600;
export const METHOD_NOT_FOUND = -32601;
export const INVALID_PARAMS = -32602;
export const INTERNAL_ERROR = -32603;
/** A method failed: Kamailio's rpc->fault() ends up as this code too. */
export const EXECUTION_ERROR = -32000;

export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

export type RpcHandler = (params: unknown[]) => unknown | Promise<unknown>;

interface RpcMethod {
  handler: RpcHandler;
  help: string;
}

export class RpcRegistry {
  private readonly methods = new Map<string, RpcMethod>();

  register(name: string, handler: RpcHandler, help: string): void {
    if (this.methods.has(name)) throw new Error(`RPC method already registered: ${name}`);
    this.methods.set(name, { handler, help });
  }

  has(name: string): boolean {
    return this.methods.has(name);
  }

  /** Registered method names, sorted (system.listMethods). */
  list(): string[] {
    return [...this.methods.keys()].sort();
  }

  help(name: string): string | undefined {
    return this.methods.get(name)?.help;
  }

  /**
   * Runs a method. Always rejects with an RpcError: METHOD_NOT_FOUND for an unknown name, the
   * handler's own RpcError as it is, anything else thrown as EXECUTION_ERROR with its message.
   */
  async call(method: string, params: unknown[] = []): Promise<unknown> {
    const m = this.methods.get(method);
    if (!m) throw new RpcError(METHOD_NOT_FOUND, 'Method Not Found');
    try {
      return await m.handler(params);
    } catch (err) {
      if (err instanceof RpcError) throw err;
      throw new RpcError(EXECUTION_ERROR, err instanceof Error ? err.message : String(err));
    }
  }
}

/** Parameter helper for handlers: the i-th parameter as a string (numbers are accepted, as
 *  Kamailio's rpc->scan("s") does), or an INVALID_PARAMS error naming what was expected. */
export function stringParam(params: unknown[], i: number, what: string): string {
  const v = params[i];
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new RpcError(INVALID_PARAMS, what);
}
