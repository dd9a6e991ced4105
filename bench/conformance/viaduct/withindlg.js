// Put before relay.js, failover.js and fork.js by the driver (as ../kamailio/withindlg.cfg is
// included): in-dialog requests follow their Route; the ACK for a negative reply goes to its
// transaction (t_check_trans absorbs it). Returns true when the request was handled.
function ksr_route_withindlg() {
  if (KSR.siputils.has_totag() < 0) return false;
  if (KSR.rr.loose_route() > 0) {
    KSR.tm.t_relay();
    return true;
  }
  if (KSR.is_method('ACK')) {
    if (KSR.tm.t_check_trans() > 0) KSR.tm.t_relay();
    return true;
  }
  KSR.sl.sl_send_reply(404, 'Not here');
  return true;
}

// CANCEL goes to the INVITE's transaction (answered 200 there, sent on to its branches).
function ksr_route_cancel() {
  if (!KSR.is_method('CANCEL')) return false;
  if (KSR.tm.t_check_trans() > 0) KSR.tm.t_relay();
  return true;
}
