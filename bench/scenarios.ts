// Benchmark scenarios as data: where the proxy listens, which SIPp uas instances stand
// behind it, what the uac runs, and the same job written for Kamailio and for viaduct.
// A new scenario is one more entry.
import { repoPath } from './paths.js';
import type { SippOptions } from './sipp.js';

export interface Endpoint {
  host: string;
  port: number;
}

/** What a scenario says about a SIPp instance; addresses, rate and call count come from the run. */
export type SippRole = Pick<SippOptions, 'scenario' | 'transport' | 'bufferBytes' | 'extraArgs'>;

export interface Scenario {
  name: string;
  description: string;
  /** Where the proxy listens (UDP) and the uac sends. */
  proxy: Endpoint;
  /** SIPp uas instances the proxy forwards to; each runs `uasOptions`. */
  uas: Endpoint[];
  /** The uac, sending to `proxy`; rate and call count come from the run. */
  uac: Endpoint & SippRole;
  uasOptions: SippRole;
  /** Repository-relative Kamailio cfg doing the same job (listening on `proxy`). */
  kamailioCfg: string;
  /** Kamailio -A defines for that cfg. */
  kamailioDefines?: Record<string, string | true>;
  /** Kamailio's shared memory (-m, MB) when the default 256 is too small for the scenario. */
  kamailioShmMb?: number;
  /** Repository-relative viaduct routing script. */
  viaductScript: string;
}

const LOOPBACK = '127.0.0.1';
// Large SIPp socket buffers (the kernel caps them at net.core.rmem_max): on two cores the
// three processes preempt each other, and SIPp should not be the one dropping datagrams.
const SIPP_BUFFER = 4 << 20;

export const scenarios: Record<string, Scenario> = {
  forward: {
    name: 'forward',
    description: "stateless forward() of every request to one SIPp uas (SIPp's default uac/uas call flow)",
    proxy: { host: LOOPBACK, port: 5060 },
    uas: [{ host: LOOPBACK, port: 5070 }],
    uac: { host: LOOPBACK, port: 5080, scenario: 'uac', bufferBytes: SIPP_BUFFER },
    uasOptions: { scenario: 'uas', bufferBytes: SIPP_BUFFER },
    kamailioCfg: 'bench/kamailio/forward.cfg',
    viaductScript: 'bench/scripts/forward.js',
  },
  dispatcher: {
    name: 'dispatcher',
    description: 'stateless load balancing: initial INVITEs round-robin (ds_select_dst(1, 4)) over three SIPp uas and ' +
      'record-routed, in-dialog requests loose-routed (uac-rr.xml / uas-rr.xml follow Record-Route and Contact)',
    proxy: { host: LOOPBACK, port: 5060 },
    uas: [{ host: LOOPBACK, port: 5071 }, { host: LOOPBACK, port: 5072 }, { host: LOOPBACK, port: 5073 }],
    uac: { host: LOOPBACK, port: 5080, scenario: repoPath('bench/sipp/uac-rr.xml'), bufferBytes: SIPP_BUFFER },
    uasOptions: { scenario: repoPath('bench/sipp/uas-rr.xml'), bufferBytes: SIPP_BUFFER },
    kamailioCfg: 'bench/kamailio/dispatcher.cfg',
    viaductScript: 'bench/scripts/dispatcher.js',
  },
  relay: {
    name: 'relay',
    description: 'transaction-stateful relay: t_relay() of every new INVITE to one SIPp uas, record-routed (100 Trying from the proxy); ' +
      'in-dialog requests loose-routed and t_relay\'d (uac-rr.xml / uas-rr.xml follow Record-Route and Contact)',
    proxy: { host: LOOPBACK, port: 5060 },
    uas: [{ host: LOOPBACK, port: 5070 }],
    uac: { host: LOOPBACK, port: 5080, scenario: repoPath('bench/sipp/uac-rr.xml'), bufferBytes: SIPP_BUFFER },
    uasOptions: { scenario: repoPath('bench/sipp/uas-rr.xml'), bufferBytes: SIPP_BUFFER },
    kamailioCfg: 'bench/kamailio/relay.cfg',
    // tm keeps each INVITE and BYE transaction wt_timer (5 s) after its final: at 2000 calls/s
    // that is ~20,000 transactions of 12-15 KB each (bench/kamailio/tm-shmem). With -m 256
    // Kamailio runs out ("build_cell(): could not allocate shared memory"), refuses calls and the
    // uac retransmits; 1024 MB leaves it room up to ~6000 calls/s.
    kamailioShmMb: 1024,
    viaductScript: 'bench/scripts/relay.js',
  },
};
