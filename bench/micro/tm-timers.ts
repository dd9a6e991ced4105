// What tm's RFC 3261 timers and the saved request edits add per message (ns/op, best of 5):
// timer G armed and cancelled by the ACK (per negative final to an INVITE), the request route's
// lumps copied at the first t_relay (with one edit, and with none), and the extra cancels of
// stale handles when a transaction is freed.
//   node dist/bench/micro/tm-timers.js [iterations]
import { Lumps } from '../../src/core/lumps.js';
import { TimerWheel } from '../../src/core/timer/wheel.js';

const N = Number(process.argv[2] ?? 2_000_000);
const wheel = new TimerWheel();
const noop = (): void => {};
const arg = {};
let keep: unknown;

function bench(name: string, fn: (n: number) => void): void {
  for (let r = 0; r < 3; r++) fn(N / 10);
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const t = process.hrtime.bigint();
    fn(N);
    best = Math.min(best, Number(process.hrtime.bigint() - t) / N);
  }
  console.log(`${name}: ${best.toFixed(1)} ns/op`);
}

bench('timer G: schedule (T1) + cancel (the ACK)', (n) => {
  for (let i = 0; i < n; i++) wheel.cancel(wheel.schedule(noop, arg, 500));
});
bench('timer G and H as two entries (64*T1 = 32 s, past one turn of the wheel)', (n) => {
  for (let i = 0; i < n; i++) { wheel.cancel(wheel.schedule(noop, arg, 500)); wheel.cancel(wheel.schedule(noop, arg, 32_000)); }
});
const one = new Lumps();
one.insert(100, 'X-Proxied: You betcha\r\n');
bench('request edits saved: one lump', (n) => { for (let i = 0; i < n; i++) keep = one.list.length === 0 ? null : one.list.slice(); });
const none = new Lumps();
bench('request edits saved: none', (n) => { for (let i = 0; i < n; i++) keep = none.list.length === 0 ? null : none.list.slice(); });
void keep;
