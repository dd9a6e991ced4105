// Seed 002's transaction-stateful proxy in Kamailio's KEMI JavaScript: every request is
// record-routed, marked with a header, and relayed through tm to one callee; an AVP set for the
// INVITE lives with its transaction, so the onreply route sees it for the 100, 180 and 200,
// while the ACK, the BYE and the BYE's 200 (other transactions) see <null>:
//   bin/viaduct run examples/stateful-proxy.js
// The kamailio.cfg original: t_on_reply("OurReplyRoute"); t_relay_to_udp("192.168.3.118", "5060").

var CALLEE = { host: '127.0.0.1', port: 5070 };

var settings = {
  listen: ['udp:127.0.0.1:5060'],
  workers: 1,
};

function ksr_request_route() {
  // so that we see the BYE (and the re-INVITEs) too; in-dialog requests follow their Route set
  if (KSR.siputils.has_totag() > 0) KSR.rr.loose_route(); else KSR.rr.record_route();
  // registrations answered in a dumb way so they do not clutter the test
  if (KSR.is_method('REGISTER')) {
    KSR.sl.sl_send_reply(200, 'ok');
    return;
  }
  KSR.textops.append_hf('X-Proxied: You betcha\r\n');
  if (KSR.is_method('INVITE')) KSR.pv.sets('$avp(state_test_var)', 'I remember');
  KSR.xlog.xinfo('for $rm the value of AVP "state_test_var" is $avp(state_test_var)\n');
  KSR.tm.t_on_reply('ksr_onreply_route_OurReplyRoute');
  // = t_relay_to_udp(host, port)
  KSR.tm.t_relay_to_proto_addr('udp', CALLEE.host, CALLEE.port);
}

function ksr_onreply_route_OurReplyRoute() {
  KSR.xlog.xinfo('for $rs response the value of AVP "state_test_var" is $avp(state_test_var)\n');
  KSR.textops.append_hf('X-Proxied: For the reply\r\n');
}
