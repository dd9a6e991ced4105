// Per-destination Prometheus metrics, read from the shared table at scrape time (labels: set,
// destination). Kamailio users scrape these with an external exporter; here they are built in.
import { Counter, Gauge, type Registry } from 'prom-client';
import { F_LAT_AVG, F_LAT_EST, F_LAT_MAX, F_LAT_STD, F_PROBE_FAILS, F_TIMEOUTS, type DsTable } from './table.js';

const STATES = ['active', 'trying', 'inactive', 'disabled'] as const;
const LETTER: Record<string, (typeof STATES)[number]> = { A: 'active', T: 'trying', I: 'inactive', D: 'disabled' };

export function dispatcherMetrics(registry: Registry, table: () => DsTable): void {
  const labels = (t: DsTable, i: number) => ({ set: String(t.dests[i]!.setid), destination: t.dests[i]!.uri });
  const each = (fn: (t: DsTable, i: number) => void): void => {
    const t = table();
    for (let i = 0; i < t.dests.length; i++) fn(t, i);
  };

  // A metric with one value per destination, set from the table at each scrape.
  const perDestination = (kind: 'gauge' | 'counter', name: string, help: string, value: (t: DsTable, i: number) => number): void => {
    const opts = { name, help, labelNames: ['set', 'destination'], registers: [registry] };
    if (kind === 'gauge') new Gauge({ ...opts, collect() { this.reset(); each((t, i) => this.set(labels(t, i), value(t, i))); } });
    else new Counter({ ...opts, collect() { this.reset(); each((t, i) => this.inc(labels(t, i), value(t, i))); } });
  };

  perDestination('gauge', 'viaduct_dispatcher_destination_up',
    'Destination selectable (1: active or trying, 0: inactive or disabled)', (t, i) => (t.usable(i) ? 1 : 0));
  new Gauge({
    name: 'viaduct_dispatcher_destination_state',
    help: 'Destination state (1 for the current one): active, trying, inactive, disabled',
    labelNames: ['set', 'destination', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      each((t, i) => {
        const current = LETTER[t.flagLetters(i)[0]!];
        for (const s of STATES) this.set({ ...labels(t, i), state: s }, s === current ? 1 : 0);
      });
    },
  });
  perDestination('gauge', 'viaduct_dispatcher_destination_probing', 'Destination probed with keep-alives (P flag)',
    (t, i) => (t.flagLetters(i)[1] === 'P' ? 1 : 0));
  perDestination('counter', 'viaduct_dispatcher_selections_total',
    'Times the destination was selected (ds_select_*, ds_next_*); restarts from 0 on reload', (t, i) => t.selectionsOf(i));
  perDestination('gauge', 'viaduct_dispatcher_call_load', 'Calls holding a slot of the destination (algorithm 10)',
    (t, i) => t.load(i));
  new Gauge({
    name: 'viaduct_dispatcher_probe_latency_seconds',
    help: 'Keep-alive round trip: avg, std (deviation), est (weighted estimate), max',
    labelNames: ['set', 'destination', 'stat'],
    registers: [registry],
    collect() {
      this.reset();
      each((t, i) => {
        for (const [stat, f] of [['avg', F_LAT_AVG], ['std', F_LAT_STD], ['est', F_LAT_EST], ['max', F_LAT_MAX]] as const) {
          this.set({ ...labels(t, i), stat }, t.latency(i, f) / 1000);
        }
      });
    },
  });
  perDestination('counter', 'viaduct_dispatcher_probe_failures_total',
    'Keep-alives that failed (no answer, or a reply code not accepted)', (t, i) => t.latency(i, F_PROBE_FAILS));
  perDestination('counter', 'viaduct_dispatcher_probe_timeouts_total',
    'Keep-alives that got no answer within ds_ping_fr_timer', (t, i) => t.latency(i, F_TIMEOUTS));
}
