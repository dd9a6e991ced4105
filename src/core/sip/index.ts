// The SIP message layer: lazy parser, header ids, methods, URIs and proxy validation.
export * from './errors.js';
export * from './headers.js';
export * from './message.js';
export * from './methods.js';
export * from './uri.js';
export * from './validate.js';
export type { CSeq } from './fields.js';
