// A stateless carrier load balancer in Kamailio's KEMI JavaScript: new calls are spread over
// the destinations of set 1 (examples/dispatcher.list), which are probed with OPTIONS every
// 10 s; a destination that stops answering is skipped until it answers again. `make run`
// starts this file, and `make demo` runs it with three SIPp uas as the destinations:
//   bin/viaduct run examples/load-balancer.js
// Point dispatcher.list at your carriers or media servers (Kamailio's list format).

var settings = {
  listen: ['udp:127.0.0.1:5060'],
  workers: 0,
  log_level: 'info',
  modparams: {
    dispatcher: {
      list_file: 'dispatcher.list',       // taken from this script's folder
      ds_ping_interval: 10,               // seconds between keep-alives
      ds_probing_mode: 1,                 // probe every destination, not only those flagged 8
      ds_probing_threshold: 2,            // two failed probes: inactive
      ds_inactive_threshold: 2,           // two answered probes: active again
      ds_ping_fr_timer: 2000,             // ms a probe waits for its answer
      event_callback: 'ksr_dispatcher_event',
    },
  },
};

function ksr_request_route() {
  if (KSR.maxfwd.process_maxfwd(10) < 0) {
    KSR.sl.sl_send_reply(483, 'Too Many Hops');
    return;
  }
  // in-dialog requests follow the Record-Route we put in the INVITE
  if (KSR.siputils.has_totag() > 0) {
    if (KSR.rr.loose_route() > 0) {
      KSR.forward();
      return;
    }
    if (!KSR.is_ACK()) KSR.sl.sl_send_reply(404, 'Not here');
    return;
  }
  if (KSR.is_OPTIONS() && KSR.is_myself_ruri()) {
    KSR.sl.sl_send_reply(200, 'OK'); // keep-alives addressed to us
    return;
  }
  // Call-ID hashing (algorithm 0): retransmissions and the CANCEL of a call reach the same
  // destination without transaction state, and a dead destination's calls spread over the rest.
  if (KSR.dispatcher.ds_select_dst(1, 0) < 0) {
    KSR.sl.sl_send_reply(503, 'Service Unavailable');
    return;
  }
  KSR.xlog.xinfo('$rm $ci -> $du\n');
  KSR.rr.record_route();
  KSR.forward();
}

// Kamailio's event_route[dispatcher:dst-down] / [dispatcher:dst-up]; $ru is the destination
function ksr_dispatcher_event(evname) {
  KSR.xlog.xnotice(evname + ': $ru\n');
}
