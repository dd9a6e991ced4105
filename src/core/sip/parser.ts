// Entry point of the SIP parser: framing (parseMessage) and its error type.
export { NO_LIMITS, parseMessage, type ParseLimits } from './message.js';
export { SipLimitError, SipParseError } from './errors.js';
