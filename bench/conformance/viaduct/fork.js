// Scenario "fork" for viaduct, what ../kamailio/fork.cfg does: each INVITE forked in parallel to
// a phone that only rings (the R-URI) and one that answers (append_branch).
// The driver puts `var CONF = {...}` and withindlg.js before this script.

function ksr_request_route() {
  if (ksr_route_withindlg() || ksr_route_cancel()) return;
  KSR.rr.record_route();
  KSR.rewriteuri(CONF.ringer);
  KSR.corex.append_branch_uri(CONF.answerer);
  KSR.tm.t_relay();
}
