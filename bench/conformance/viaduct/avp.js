// Scenario "avp" for viaduct: seed 002's transaction-stateful proxy, what ../kamailio/avp.cfg does.
// The driver puts `var CONF = { callee: {host, port}, ... }` before this script.

function ksr_request_route() {
  KSR.rr.record_route();
  if (KSR.is_method('REGISTER')) {
    KSR.sl.sl_send_reply(200, 'ok');
    return;
  }
  KSR.textops.append_hf('X-Proxied: You betcha\r\n');
  if (KSR.is_method('INVITE')) KSR.pv.sets('$avp(state_test_var)', 'I remember');
  KSR.xlog.xerr('for $rm the value of AVP "state_test_var" is $avp(state_test_var)\n');
  ksr_route_relay();
}

function ksr_route_relay() {
  KSR.tm.t_on_reply('ksr_onreply_route_OurReplyRoute');
  // = t_relay_to_udp(host, port)
  KSR.tm.t_relay_to_proto_addr('udp', CONF.callee.host, CONF.callee.port);
}

function ksr_onreply_route_OurReplyRoute() {
  KSR.xlog.xerr('for $rs response the value of AVP "state_test_var" is $avp(state_test_var)\n');
  KSR.textops.append_hf('X-Proxied: For the reply\r\n');
}
