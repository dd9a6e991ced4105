// Scenarios "cancel" and "retransmission" for viaduct, what ../kamailio/relay.cfg does: every new
// INVITE record-routed and relayed statefully to one callee. The driver puts
// `var CONF = {...}` and withindlg.js before this script.

function ksr_request_route() {
  if (ksr_route_withindlg() || ksr_route_cancel()) return;
  KSR.rr.record_route();
  KSR.pv.sets('$du', CONF.callee.uri);
  KSR.tm.t_relay();
}
