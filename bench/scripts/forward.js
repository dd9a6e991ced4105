function ksr_request_route(){ KSR.forward_uri("sip:127.0.0.1:5070"); }
