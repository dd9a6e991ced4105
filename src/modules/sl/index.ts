// sl: stateless replies. The reply itself is built by the core (it also answers bad requests).
import { defineModule } from '../module.js';

export default defineModule({
  name: 'sl',
  kemi: (core) => ({
    /** sl_send_reply(code, reason): 1 on success, -1 on failure. */
    sl_send_reply: (code: number, reason: string): number => core.sendReply(Number(code), String(reason)),
    /** send_reply(code, reason): statefully when a transaction exists; stateless here until tm. */
    send_reply: (code: number, reason: string): number => core.sendReply(Number(code), String(reason)),
    /** sl_reply_error(): replies with the error of the last failed core operation (500 when none). */
    sl_reply_error: (): number => core.sendReply(500, 'Server Internal Error'),
  }),
});
