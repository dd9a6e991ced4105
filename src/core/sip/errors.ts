/**
 * A message, or a value a lazy accessor was asked for, is syntactically broken.
 * `reason` is a short human phrase ("bad request line", "Content-Length larger than the
 * message") suitable for a log line or a 400 reason phrase.
 */
export class SipParseError extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(reason);
    this.name = 'SipParseError';
    this.reason = reason;
  }
}

/**
 * A message over one of the parser's limits (too many header lines, a header line too long):
 * not broken, too big for us. Answered 513 Message Too Large when a reply can be addressed.
 */
export class SipLimitError extends SipParseError {
  constructor(reason: string) {
    super(reason);
    this.name = 'SipLimitError';
  }
}
