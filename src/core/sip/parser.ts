// Entry point of the SIP parser: framing (parseMessage) and its error type.
export { parseMessage } from './message.js';
export { SipParseError } from './errors.js';
