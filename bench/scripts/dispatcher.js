// The dispatcher bench scenario (bench/kamailio/dispatcher.cfg is the same job for Kamailio):
// initial INVITEs round-robin over set 1 and are record-routed; in-dialog requests follow Route.
var settings = {
  // a relative path is taken from this script's folder
  modparams: { dispatcher: { list_file: '../kamailio/dispatcher.list' } },
};

function ksr_request_route() {
  if (KSR.siputils.has_totag() > 0) {
    if (KSR.rr.loose_route() > 0) {
      KSR.forward();
      return;
    }
    KSR.sl.sl_send_reply(404, 'Not here');
    return;
  }
  if (KSR.dispatcher.ds_select_dst(1, 4) < 0) {
    KSR.sl.sl_send_reply(503, 'Service Unavailable');
    return;
  }
  KSR.rr.record_route();
  KSR.forward();
}
