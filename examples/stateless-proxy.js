// A stateless proxy in Kamailio's KEMI JavaScript: every request goes to the next hop, with a
// header added on the way, like the "stateless SIP proxy" tutorial. `make run` starts this file.
//   bin/viaduct run examples/stateless-proxy.js --listen udp:127.0.0.1:5060
// Change NEXT_HOP (or pass your own script) to point at your SIP server.

var NEXT_HOP = 'sip:127.0.0.1:5070';

var settings = {
  listen: ['udp:127.0.0.1:5060'],
  workers: 0,
  log_level: 'info',
};

function ksr_request_route() {
  if (KSR.maxfwd.process_maxfwd(10) < 0) {
    KSR.sl.sl_send_reply(483, 'Too Many Hops');
    return;
  }
  if (KSR.is_OPTIONS() && KSR.is_myself_ruri()) {
    KSR.sl.sl_send_reply(200, 'OK'); // keep-alives addressed to us
    return;
  }
  KSR.xlog.xinfo('Received $rm to $ru from $si:$sp - forwarding\n');
  KSR.hdr.append('X-Proxied: You betcha\r\n');
  KSR.forward_uri(NEXT_HOP);
}

function ksr_reply_route() {
  KSR.xlog.xdbg('Got a reply $rs $rr\n');
}
