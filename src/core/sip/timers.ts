// RFC 3261 timer names and defaults (section 17, Table 4), defined once. Every timer viaduct
// runs for a transaction takes its value from here; a module parameter (tm's fr_timer,
// dispatcher's ds_ping_fr_timer) may replace one for its own transactions.

/** RTT estimate: the first retransmission interval. */
export const T1 = 500;
/** The longest retransmission interval for non-INVITE requests and INVITE responses. */
export const T2 = 4000;
/** The longest time a message stays in the network. */
export const T4 = 5000;

/** INVITE request retransmission interval (UDP only), initially T1, doubling. */
export const TIMER_A = T1;
/** INVITE transaction timeout. */
export const TIMER_B = 64 * T1;
/** Proxy INVITE transaction timeout: more than 3 minutes. */
export const TIMER_C = 180_000;
/** Wait time for response retransmits (UDP: at least 32 s; reliable: 0). */
export const TIMER_D = 32_000;
/** Non-INVITE request retransmission interval (UDP only), initially T1, doubling up to T2. */
export const TIMER_E = T1;
/** Non-INVITE transaction timeout. */
export const TIMER_F = 64 * T1;
/** INVITE response retransmission interval, initially T1, doubling up to T2. */
export const TIMER_G = T1;
/** Wait time for ACK receipt. */
export const TIMER_H = 64 * T1;
/** Wait time for ACK retransmits (UDP: T4; reliable: 0). */
export const TIMER_I = T4;
/** Wait time for non-INVITE request retransmits (UDP: 64*T1; reliable: 0). */
export const TIMER_J = 64 * T1;
/** Wait time for response retransmits (UDP: T4; reliable: 0). */
export const TIMER_K = T4;

/** The next interval of a retransmission timer that doubles from T1 and is capped at `cap` (T2 for E and G). */
export function nextRetransmit(interval: number, cap = T2): number {
  return interval * 2 < cap ? interval * 2 : cap;
}
