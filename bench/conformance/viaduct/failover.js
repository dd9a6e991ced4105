// Scenario "failover" for viaduct, what ../kamailio/failover.cfg does: dispatcher set 1 by
// priority (algorithm 8), the next trunk on 486, a branch timeout (408, fr_timer 1000 ms) or 5xx.
// The driver puts `var CONF = {...}` and withindlg.js before this script.
var settings = {
  modparams: {
    tm: { fr_timer: 1000 },
    dispatcher: { list_file: CONF.dsList, flags: 2 },
  },
};

function ksr_request_route() {
  if (ksr_route_withindlg() || ksr_route_cancel()) return;
  if (KSR.dispatcher.ds_select_dst(1, 8) < 0) {
    KSR.sl.sl_send_reply(503, 'Service Unavailable');
    return;
  }
  KSR.rr.record_route();
  KSR.tm.t_on_failure('ksr_failure_route_TRUNK_FAILOVER');
  KSR.tm.t_relay();
}

function ksr_failure_route_TRUNK_FAILOVER() {
  if (KSR.tm.t_is_canceled() > 0) return;
  if (KSR.tm.t_check_status('486|408|5[0-9][0-9]') > 0 && KSR.dispatcher.ds_next_dst() > 0) {
    KSR.tm.t_on_failure('ksr_failure_route_TRUNK_FAILOVER');
    KSR.tm.t_relay();
  }
}
