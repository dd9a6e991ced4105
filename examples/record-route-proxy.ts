// A stateless proxy that stays in the dialog path: Record-Route on initial requests, loose
// routing for in-dialog ones. TypeScript form: exports its routes and settings.
//   bin/viaduct run examples/record-route-proxy.ts --listen udp:127.0.0.1:5060
import type { KSR as KSRApi, Settings } from 'viaduct';

declare const KSR: KSRApi;

const NEXT_HOP = 'sip:127.0.0.1:5070';

export const settings: Settings = {
  listen: ['udp:127.0.0.1:5060'],
  workers: 1,
  modparams: { maxfwd: { max_limit: 70 } },
};

export function ksr_request_route(): void {
  if (KSR.maxfwd.process_maxfwd(10) < 0) {
    KSR.sl.sl_send_reply(483, 'Too Many Hops');
    return;
  }
  if (KSR.siputils.has_totag() > 0) {
    // in-dialog: follow the route set we are part of
    if (KSR.rr.loose_route() > 0) {
      KSR.forward();
      return;
    }
    if (KSR.is_ACK()) return; // an ACK for a stateless reply: absorb
    KSR.sl.sl_send_reply(404, 'Not here');
    return;
  }
  if (KSR.is_CANCEL()) {
    KSR.forward_uri(NEXT_HOP); // same branch as the INVITE: the next hop matches it
    return;
  }
  KSR.rr.record_route();
  KSR.setdsturi(NEXT_HOP);
  KSR.forward();
}

export function ksr_reply_route(): void {
  KSR.xlog.xdbg('reply $rs $rr for $ci\n');
}
