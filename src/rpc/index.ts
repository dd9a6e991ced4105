// The control plane's RPC and metrics surface: see each module for details.
export * from './registry.js';
export * from './server.js';
export * from './metrics.js';
export * from './builtins.js';
