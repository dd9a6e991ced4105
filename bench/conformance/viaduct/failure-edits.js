// Scenario "failure-edits" for viaduct, what ../kamailio/failure-edits.cfg does: the request
// route's edits (X-Req added, Content-Type removed) are on every leg; each failure route adds its
// own X-Fail, which the next leg does not carry. The driver puts `var CONF = {...}` and
// withindlg.js before this script.

function ksr_request_route() {
  if (ksr_route_withindlg() || ksr_route_cancel()) return;
  KSR.rr.record_route();
  KSR.textops.append_hf('X-Req: added\r\n');
  KSR.textops.remove_hf('Content-Type');
  KSR.tm.t_on_failure('ksr_failure_route_LEG2');
  KSR.pv.sets('$du', CONF.busy1);
  KSR.tm.t_relay();
}

function ksr_failure_route_LEG2() {
  if (KSR.tm.t_is_canceled() > 0) return;
  KSR.textops.append_hf('X-Fail: 1\r\n');
  KSR.tm.t_on_failure('ksr_failure_route_LEG3');
  KSR.pv.sets('$du', CONF.busy2);
  KSR.tm.t_relay();
}

function ksr_failure_route_LEG3() {
  if (KSR.tm.t_is_canceled() > 0) return;
  KSR.textops.append_hf('X-Fail: 2\r\n');
  KSR.pv.sets('$du', CONF.answer);
  KSR.tm.t_relay();
}
