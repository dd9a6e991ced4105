// A transaction-stateful carrier load balancer with failover, in Kamailio's KEMI JavaScript:
// new calls go to the trunks of set 1 (examples/carriers.list) in priority order; a trunk that
// answers 486, 408 or a 5xx, or does not answer within fr_timer, is followed by the next one
// (ds_next_dst in the failure route; dispatcher flags 2 keeps the candidates); one that times
// out is marked inactive (ds_mark_dst) and skipped until it is set active again
// (`viaduct rpc dispatcher.set_state a 1 sip:...`).
//   bin/viaduct run examples/carrier-failover.js

var settings = {
  listen: ['udp:127.0.0.1:5060'],
  workers: 1,
  modparams: {
    tm: { fr_timer: 2000, fr_inv_timer: 60000 }, // ms: no answer from a trunk, no final after ringing
    dispatcher: { list_file: 'carriers.list', flags: 2 },
  },
};

function ksr_request_route() {
  if (KSR.maxfwd.process_maxfwd(10) < 0) {
    KSR.sl.sl_send_reply(483, 'Too Many Hops');
    return;
  }
  if (ksr_route_withindlg()) return;
  if (KSR.is_method('CANCEL')) {
    // to the INVITE's transaction: answered 200 there and sent on to its trunks
    if (KSR.tm.t_check_trans() > 0) KSR.tm.t_relay();
    return;
  }
  if (KSR.dispatcher.ds_select_dst(1, 8) < 0) {
    KSR.sl.sl_send_reply(503, 'No Trunk Available');
    return;
  }
  KSR.rr.record_route();
  KSR.tm.t_on_failure('ksr_failure_route_TRUNK_FAILOVER');
  KSR.tm.t_relay();
}

// In-dialog requests follow the Record-Route of their INVITE; the ACK for a negative reply
// belongs to its transaction (absorbed there). True when the request was handled.
function ksr_route_withindlg() {
  if (KSR.siputils.has_totag() < 0) return false;
  if (KSR.rr.loose_route() > 0) {
    KSR.tm.t_relay();
  } else if (KSR.is_method('ACK')) {
    if (KSR.tm.t_check_trans() > 0) KSR.tm.t_relay();
  } else {
    KSR.sl.sl_send_reply(404, 'Not here');
  }
  return true;
}

function ksr_failure_route_TRUNK_FAILOVER() {
  if (KSR.tm.t_is_canceled() > 0) return;
  if (KSR.tm.t_branch_timeout() > 0) KSR.dispatcher.ds_mark_dst(); // no answer at all: take it out
  if (KSR.tm.t_check_status('486|408|5[0-9][0-9]') > 0 && KSR.dispatcher.ds_next_dst() > 0) {
    KSR.xlog.xinfo('call $ci: trunk failed with $T_reply_code, trying $du\n');
    KSR.tm.t_on_failure('ksr_failure_route_TRUNK_FAILOVER');
    KSR.tm.t_relay();
  }
}
