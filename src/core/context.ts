// The message context: the message a route acts on and the per-message state a script reads and
// changes (flags, destination URI, new R-URI, the lumps that will rewrite the message, headers
// for a local reply). Every KEMI function takes one. A thread reuses one for the datagrams it
// reads (reset per message, no allocation on the common path); a route run for a stored
// message (a failure route for a transaction's request) gets a context of its own.
import type { SipCore } from './core.js';
import type { SipMessage } from './sip/message.js';
import type { SipUri } from './sip/uri.js';
import { Lumps, type Lump } from './lumps.js';

export interface SocketInfo {
  index: number;
  family: 4 | 6;
  bindHost: string;   // the literal address bound
  port: number;
  viaHost: string;    // advertised or bound host, IPv6 in brackets: what goes in Via/Record-Route
  viaPort: number;
  name: string;       // "udp:127.0.0.1:5060"
}

/** A name-addr header (From/To) whose URI or display name the script rewrote. */
export interface NameAddrEdit {
  uri: string;            // the current URI text
  parsed: SipUri | null;  // cache of parseUri(uri)
  uriLump: Lump | null;
  nameLump: Lump | null;
  closeLump: Lump | null; // '>' added when an addr-spec gets a display name
}

/** A branch of the destination set (corex append_branch): R-URI, $du and q (-1: none) of its own. */
export interface DsetBranch {
  uri: string;
  du: string | null;
  q: number;
}

export type AvpMap = Map<string, (string | number)[]>;
export type XavpMap = Map<string, Record<string, string | number>[]>;
/** What keeps a message's AVP lists after it (tm's transaction record). */
export interface AvpHolder {
  avps: AvpMap | null;
  xavps: XavpMap | null;
}

export class MsgContext {
  msg!: SipMessage;
  /** The thread's core: sockets, sending, logging, counters. */
  readonly core: SipCore;
  srcIp = '';
  srcPort = 0;
  sock!: SocketInfo;
  flags = 0;
  bflags = 0;
  du: string | null = null;
  ruri: string | null = null;          // new Request-URI text when the script changed it
  ruriParsed: SipUri | null = null;    // parse cache of the current R-URI
  readonly lumps = new Lumps();
  replyHeaders: string[] = [];
  rr: string | null = null;            // record_route() requested: its params (";a=b") or ''
  rrParams = '';                       // add_rr_param() additions
  routeParams: string | null = null;   // params of our Route that loose_route() consumed
  rrPreset: string[] | null = null;    // record_route_preset() addresses
  forceRport = false;
  localRport = false;
  maxfwdDone = false;
  dropped = false;
  replied = false;
  from: NameAddrEdit | null = null;
  to: NameAddrEdit | null = null;
  /** $avp: made on the first write (avpList()); null while the message has none. */
  avps: AvpMap | null = null;
  /** Extended AVPs: name -> list of records, newest first ($xavp(name[0]=>field)), e.g. dispatcher's _dsdst_ */
  xavps: XavpMap | null = null;
  /**
   * Where the lists live beyond this message: a transaction's record (tm), which shares them.
   * A list made after the transaction (an AVP set after t_relay) goes to the record too.
   */
  avpHolder: AvpHolder | null = null;
  /** Branches appended to the destination set; t_relay takes them (and clears the list). */
  branches: DsetBranch[] | null = null;

  constructor(core: SipCore) {
    this.core = core;
  }

  reset(msg: SipMessage, srcIp: string, srcPort: number, sock: SocketInfo): void {
    this.msg = msg;
    this.srcIp = srcIp;
    this.srcPort = srcPort;
    this.sock = sock;
    this.flags = 0;
    this.bflags = 0;
    this.du = null;
    this.ruri = null;
    this.ruriParsed = null;
    this.lumps.reset();
    if (this.replyHeaders.length) this.replyHeaders = [];
    this.rr = null;
    this.rrParams = '';
    this.routeParams = null;
    this.rrPreset = null;
    this.forceRport = false;
    this.localRport = false;
    this.maxfwdDone = false;
    this.dropped = false;
    this.replied = false;
    this.from = null;
    this.to = null;
    this.avps = null;
    this.xavps = null;
    this.avpHolder = null;
    this.branches = null;
  }

  /** $avp for writing. Most messages set none: no Map per message or transaction until one does. */
  avpList(): AvpMap {
    if (this.avps === null) {
      this.avps = new Map();
      if (this.avpHolder !== null) this.avpHolder.avps = this.avps;
    }
    return this.avps;
  }

  /** $xavp for writing, made on first use as avpList(). */
  xavpList(): XavpMap {
    if (this.xavps === null) {
      this.xavps = new Map();
      if (this.avpHolder !== null) this.avpHolder.xavps = this.xavps;
    }
    return this.xavps;
  }

  /** The Request-URI as it stands now (changed by the script or as received). */
  currentRuri(): string {
    return this.ruri ?? this.msg.ruri;
  }
}
