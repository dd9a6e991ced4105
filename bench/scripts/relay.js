// The relay bench scenario (bench/kamailio/relay.cfg is the same job for Kamailio): new requests
// record-routed and relayed statefully (KSR.tm.t_relay) to the uas on 5070; in-dialog requests
// follow their Route; CANCEL and the ACK for a negative reply go to their transaction.
function ksr_request_route() {
  if (KSR.siputils.has_totag() > 0) {
    if (KSR.rr.loose_route() > 0) {
      KSR.tm.t_relay();
      return;
    }
    if (KSR.is_method('ACK')) {
      if (KSR.tm.t_check_trans() > 0) KSR.tm.t_relay();
      return;
    }
    KSR.sl.sl_send_reply(404, 'Not here');
    return;
  }
  if (KSR.is_method('CANCEL')) {
    if (KSR.tm.t_check_trans() > 0) KSR.tm.t_relay();
    return;
  }
  KSR.rr.record_route();
  KSR.pv.sets('$du', 'sip:127.0.0.1:5070');
  KSR.tm.t_relay();
}
