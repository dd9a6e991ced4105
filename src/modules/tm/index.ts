// tm: Kamailio's transaction module (KSR.tm.*): stateful relaying with server and client
// transactions per RFC 3261 16/17, armed onreply/failure routes, the transaction's AVPs and
// flags. The engine is tm.ts, the record it keeps per transaction record.ts.
import { performance } from 'node:perf_hooks';
import type { MsgContext } from '../../core/context.js';
import { counterId } from '../../core/stats/counters.js';
import { threadWheel } from '../../core/timer/wheel.js';
import { defineModule, kemi, ok, ROUTE, type ParamValue } from '../module.js';
import {
  adoptTransactions, armBranchFailure, armed, branchOf, cancelByKey, current, dropReplies, initThread, inviteOf,
  loadContacts, lookupCancel, lookupRequest, newTransaction, nextContacts, reasonOf, relay, releaseTx, replyCurrent,
  replyHook, requestHook, setAutoInv100, setMaxLifetime, setRetr, setTFlag, statusOf, txOf, type TmCounters, type TmParams,
} from './tm.js';
import { tmMetrics, tmStats } from './metrics.js';
import { BR_CALLING, T_DISABLE_INTERNAL_REPLY } from './record.js';
import { attachStore } from './shm.js';
import { RpcError } from '../../rpc/registry.js';
import { TmStore, TM_STORE_PARAMS, type TmStoreShm } from './store/store.js';

const int = (d: number) => ({ default: d, type: 'int' as const, check: (v: ParamValue) => (Number(v) >= 0 ? undefined : 'must be >= 0') });

// Kamailio's tm.stats names, then viaduct's: requests, CANCELs and negative finals resent (timers
// A/E, G: retr_sent), retransmitted requests absorbed (retr_received), branches ended by
// fr_timer/fr_inv_timer (timeouts), local replies (rpl_generated) by class, transactions refused
// for a full shared-memory store (shm_full)
const LOCAL = ['local_1xx', 'local_2xx', 'local_3xx', 'local_4xx', 'local_5xx', 'local_6xx'] as const;
const STATS = [
  'current', 'waiting', 'total', 'rpl_received', 'rpl_generated', 'rpl_sent', '2xx', '3xx', '4xx', '5xx', '6xx', 'created', 'freed',
  'retr_sent', 'retr_received', 'timeouts', ...LOCAL, 'shm_full',
] as const;

const RELAYS = ROUTE.REQUEST | ROUTE.FAILURE | ROUTE.BRANCH | ROUTE.BRANCH_FAILURE;
const FAILURES = ROUTE.FAILURE | ROUTE.BRANCH_FAILURE;
const REQ_FAIL = ROUTE.REQUEST | ROUTE.FAILURE;
const ARM = ROUTE.REQUEST | ROUTE.FAILURE | ROUTE.BRANCH | ROUTE.ONREPLY;

/** "proto:host:port" / "host:port" / "host" -> a SIP URI (t_relay_to_proxy). */
function proxyUri(s: string): string | null {
  const m = /^(?:(udp|tcp|tls|sctp|ws|wss):)?(\[[^\]]+\]|[^:;]+)(?::(\d+))?$/i.exec(s.trim());
  if (!m) return null;
  return `sip:${m[2]}${m[3] ? `:${m[3]}` : ''}`;
}

function statusMatches(ctx: MsgContext, re: string): boolean {
  const code = statusOf(ctx);
  try {
    return new RegExp(re).test(String(code));
  } catch {
    return false;
  }
}

/** t_set_fr(fr_inv, fr): 0 keeps the module's default, as Kamailio. */
function setFr(ctx: MsgContext, inv: number, fr: number): number {
  const a = armed(ctx);
  a.frInvTimer = inv > 0 ? inv : Number(params.fr_inv_timer);
  a.frTimer = fr > 0 ? fr : Number(params.fr_timer);
  return 1;
}

let params: Record<string, ParamValue> = {};

/** What the RPC methods read on the main thread. */
interface TmState { totals: () => Map<string, number>; store: TmStore; toThreads: (data: unknown) => void }

export default defineModule({
  name: 'tm',
  params: {
    fr_timer: int(30000),
    fr_inv_timer: int(120000),
    max_inv_lifetime: int(180000),
    max_noninv_lifetime: int(32000),
    wt_timer: int(5000),
    retr_timer1: int(500),
    retr_timer2: int(4000),
    restart_fr_on_each_reply: int(1),
    auto_inv_100: int(1),
    failure_reply_mode: int(3),
    cancel_b_method: int(1),
    /** the xavp t_load_contacts/t_next_contacts keep the contacts in ('' disables them, as Kamailio) */
    contacts_avp: { default: '', type: 'str' },
    contact_flows_avp: { default: '', type: 'str' },
    // the shared-memory store of the transactions (store/store.ts): records, mean bytes per record
    ...TM_STORE_PARAMS,
  },
  stats: STATS,
  hooks: { request: requestHook, reply: replyHook },
  setup: (env) => {
    // made once here, shared by every SIP thread (each writes its own transactions, row = its counters row)
    const shm = TmStore.create(Number(env.params.shm_transactions), Number(env.params.shm_transaction_bytes));
    const store = new TmStore(shm, 0);
    return {
      threadData: shm,
      state: { totals: () => env.stats(), store, toThreads: env.toThreads },
      shm: () => store.regions(),
      metrics: (registry) => tmMetrics(registry, () => tmStats(env.stats())),
    };
  },
  threadInit: (env) => {
    params = env.params;
    const p = Object.fromEntries(Object.entries(env.params).map(([k, v]) => [k, Number(v)])) as unknown as TmParams;
    const id = (n: string) => counterId(`tm:${n}`);
    const k: TmCounters = {
      created: id('created'), freed: id('freed'), waiting: id('waiting'), rpl_received: id('rpl_received'),
      rpl_generated: id('rpl_generated'), rpl_sent: id('rpl_sent'),
      c2xx: id('2xx'), c3xx: id('3xx'), c4xx: id('4xx'), c5xx: id('5xx'), c6xx: id('6xx'),
      retr_sent: id('retr_sent'), retr_received: id('retr_received'), timeouts: id('timeouts'), local: LOCAL.map(id),
    };
    initThread(env.core, threadWheel(), p, k);
    // SIP threads only (row 0: the main thread's script instance writes no transactions)
    const shm = env.data as TmStoreShm | undefined;
    const store = shm && env.row > 0 ? new TmStore(shm, env.row) : null;
    attachStore(store, env.core, id('shm_full'));
    if (store) {
      // tm.cancel: the main thread names the transaction and its owner row
      env.onMessage((d) => {
        const m = d as { cancel?: string; row?: number };
        if (m.cancel !== undefined && m.row === env.row) cancelByKey(m.cancel);
      });
      // a thread restarted in this row (the watchdog, a crash) takes over its predecessor's transactions
      try {
        const got = store.adopt(env.row);
        adoptTransactions(got.records);
        if (got.records.length + got.damaged.length > 0) {
          env.core.log.notice(`tm: adopted ${got.records.length} transactions of this thread's predecessor` +
            (got.damaged.length ? `, ${got.damaged.length} damaged (dropped)` : ''));
        }
      } catch (e) {
        // never a restart loop: the thread starts without them
        env.core.log.err(`tm: could not adopt this thread's transactions: ${(e as Error).message}`);
      }
    }
  },
  rpc: {
    'tm.stats': {
      doc: 'Print transaction statistics.',
      handler: ({ totals }: TmState) => tmStats(totals()),
    },
    'tm.list': {
      doc: 'List the transactions in the shared-memory store: every thread\'s INVITEs until their 2xx, and other requests unanswered after T1.',
      handler: ({ store }: TmState) => store.listForRpc(),
    },
    'tm.cancel': {
      doc: 'Cancel the INVITE transaction of a Call-ID and CSeq number (its thread sends the CANCELs).',
      handler: ({ store, toThreads }: TmState, params: unknown[]) => {
        const [callId, cseq] = params.map(String);
        if (!callId || !cseq) throw new RpcError(400, 'Callid and CSeq expected as parameters');
        const found = store.findInvite(callId, Number(cseq));
        if (found === null) throw new RpcError(400, 'Transaction not found');
        toThreads({ cancel: found.record.key, row: found.owner });
        // Kamailio: the branches that cannot be cancelled yet (no provisional: cancel_b_method 1)
        const waiting = found.record.branches.filter((b) => b.state === BR_CALLING).length;
        return [waiting, 'branches remaining (waiting for timeout)'];
      },
    },
  },
  pvs: {
    T_reply_code: { get: (ctx) => statusOf(ctx) },
    T_reply_reason: { get: (ctx) => reasonOf(ctx) },
    T_branch_idx: { get: (ctx) => (txOf(ctx) && current.branch >= 0 ? current.branch : 0) },
  },
  functions: {
    /** t_relay(): statefully to $du / the R-URI */
    t_relay: kemi([], 'int', (ctx) => relay(ctx, undefined, 0), RELAYS),
    /** t_relay_to_proxy("proto:host:port") */
    t_relay_to_proxy: kemi(['str'], 'int', (ctx, s) => {
      const uri = proxyUri(String(s));
      return uri ? relay(ctx, uri, 0) : -1;
    }, RELAYS),
    /** t_relay_to_proto_addr(proto, host, port) */
    t_relay_to_proto_addr: kemi(['str', 'str', 'int'], 'int', (ctx, _proto, host, port) => relay(ctx, `sip:${host}:${Number(port)}`, 0), RELAYS),
    /** t_relay_to_flags(flags): 1 no 100 Trying, 2 no internal error reply */
    t_relay_to_flags: kemi(['int'], 'int', (ctx, flags) => relay(ctx, undefined, Number(flags)), RELAYS),
    t_relay_to_proxy_flags: kemi(['str', 'int'], 'int', (ctx, s, flags) => {
      const uri = proxyUri(String(s));
      return uri ? relay(ctx, uri, Number(flags)) : -1;
    }, RELAYS),
    t_on_reply: kemi(['str'], 'int', (ctx, name) => { armed(ctx).onReply = String(name); return 1; }, ARM),
    t_on_failure: kemi(['str'], 'int', (ctx, name) => { armed(ctx).onFailure = String(name); return 1; }, ARM),
    t_on_branch: kemi(['str'], 'int', (ctx, name) => { armed(ctx).onBranch = String(name); return 1; }, ARM),
    /** t_on_branch_failure(name): event_route[tm:branch-failure:NAME]; in KEMI the function `name` */
    t_on_branch_failure: kemi(['str'], 'int', (ctx, name) => armBranchFailure(ctx, String(name)), ARM),
    /** t_is_set("onreply_route" | "failure_route" | "branch_route") */
    t_is_set: kemi(['str'], 'int', (ctx, what) => {
      const a = armed(ctx);
      const w = String(what);
      return ok(w === 'onreply_route' ? a.onReply !== '' : w === 'failure_route' ? a.onFailure !== '' : w === 'branch_route' ? a.onBranch !== '' : false);
    }, ARM),
    /** t_reply(code, reason): needs the transaction (t_newtran) */
    t_reply: kemi(['int', 'str'], 'int', (ctx, code, reason) => {
      const tx = txOf(ctx);
      return tx ? replyCurrent(ctx, tx, Number(code), String(reason)) : -1;
    }, REQ_FAIL),
    /** t_send_reply(code, reason): the transaction is made if needed */
    t_send_reply: kemi(['int', 'str'], 'int', (ctx, code, reason) => {
      const tx = newTransaction(ctx);
      return tx ? replyCurrent(ctx, tx, Number(code), String(reason)) : -1;
    }, REQ_FAIL),
    t_reply_error: kemi([], 'int', (ctx) => {
      const tx = newTransaction(ctx);
      return tx ? replyCurrent(ctx, tx, 500, 'Server Internal Error') : -1;
    }, REQ_FAIL),
    /** t_newtran(): 1 for a new transaction (retransmissions are absorbed before the script) */
    t_newtran: kemi([], 'int', (ctx) => (newTransaction(ctx) ? 1 : -1), ROUTE.REQUEST),
    /**
     * t_check_trans(): a reply or a request of a known transaction -> 1; a CANCEL -> 1 when its
     * INVITE is known. Retransmissions and ACKs of negative replies never reach the script.
     */
    t_check_trans: kemi([], 'int', (ctx) => {
      if (!ctx.msg.isRequest) return ok(txOf(ctx) !== null);
      return ok(txOf(ctx) !== null || (ctx.msg.method === 'CANCEL' && inviteOf(ctx) !== null));
    }, ROUTE.REQUEST | ROUTE.ONREPLY),
    t_is_canceled: kemi([], 'int', (ctx) => ok(txOf(ctx)?.rec.canceled ?? false), ROUTE.ANY),
    t_is_expired: kemi([], 'int', (ctx) => {
      const tx = txOf(ctx);
      return tx ? ok(performance.now() > tx.rec.endAt) : -1;
    }),
    t_check_status: kemi(['str'], 'int', (ctx, re) => ok(statusMatches(ctx, String(re)))),
    t_get_status_code: kemi([], 'int', (ctx) => txOf(ctx)?.rec.uasCode ?? -1),
    t_set_fr: kemi(['int', 'int'], 'int', (ctx, inv, fr) => setFr(ctx, Number(inv), Number(fr))),
    t_set_fr_inv: kemi(['int'], 'int', (ctx, inv) => setFr(ctx, Number(inv), armed(ctx).frTimer)),
    t_reset_fr: kemi([], 'int', (ctx) => setFr(ctx, 0, 0)),
    t_release: kemi([], 'int', (ctx) => {
      const tx = txOf(ctx);
      if (!tx) return -1;
      releaseTx(tx);
      return 1;
    }, ROUTE.REQUEST),
    /** t_set_auto_inv_100(0|1): this transaction's 100 Trying, whatever auto_inv_100 says */
    t_set_auto_inv_100: kemi(['int'], 'int', (ctx, on) => setAutoInv100(ctx, Number(on) !== 0)),
    /** t_set_disable_internal_reply(1): a failing t_relay sends no 500 and returns -4 */
    t_set_disable_internal_reply: kemi(['int'], 'int', (ctx, on) => setTFlag(ctx, T_DISABLE_INTERNAL_REPLY, Number(on) !== 0)),
    /** t_set_retr(t1, t2) ms, 0 keeps the module's retr_timer1/retr_timer2 */
    t_set_retr: kemi(['int', 'int'], 'int', (ctx, t1, t2) => setRetr(ctx, Number(t1), Number(t2))),
    t_reset_retr: kemi([], 'int', (ctx) => setRetr(ctx, 0, 0)),
    /** t_set_max_lifetime(inv, noninv) ms, 0 keeps max_inv_lifetime/max_noninv_lifetime */
    t_set_max_lifetime: kemi(['int', 'int'], 'int', (ctx, inv, noninv) => setMaxLifetime(ctx, Number(inv), Number(noninv))),
    t_reset_max_lifetime: kemi([], 'int', (ctx) => setMaxLifetime(ctx, 0, 0)),
    t_lookup_request: kemi([], 'int', (ctx) => lookupRequest(ctx), ROUTE.REQUEST),
    t_lookup_cancel: kemi([], 'int', (ctx) => lookupCancel(ctx, false), ROUTE.REQUEST),
    /** t_lookup_cancel(1): the INVITE transaction's flags onto the CANCEL too */
    t_lookup_cancel_flags: kemi(['int'], 'int', (ctx, f) => lookupCancel(ctx, Number(f) === 1), ROUTE.REQUEST),
    /** t_drop_replies("a" | "l" | "n"): earlier replies no longer compete for the final */
    t_drop_replies: kemi(['str'], 'int', (ctx, mode) => dropReplies(ctx, String(mode) || 'a'), FAILURES),
    t_drop_replies_all: kemi([], 'int', (ctx) => dropReplies(ctx, 'a'), FAILURES),
    /** t_load_contacts(): the destination set into contacts_avp, grouped by q */
    t_load_contacts: kemi([], 'int', (ctx) => loadContacts(ctx, String(params.contacts_avp)), RELAYS),
    /** t_next_contacts(): the next q group as R-URI and branches; -2 when none is left */
    t_next_contacts: kemi([], 'int', (ctx) => nextContacts(ctx, String(params.contacts_avp)), RELAYS),
    t_get_branch_index: kemi([], 'int', (ctx) => (txOf(ctx) ? current.branch : -1)),
    t_any_timeout: kemi([], 'int', (ctx) => ok(txOf(ctx)?.rec.branches.some((b) => b.timedOut) ?? false)),
    t_any_replied: kemi([], 'int', (ctx) => ok(txOf(ctx)?.rec.branches.some((b) => !b.timedOut && b.lastCode > 0) ?? false)),
    t_branch_timeout: kemi([], 'int', (ctx) => ok(branchOf(ctx)?.rec.timedOut ?? false), ROUTE.FAILURE | ROUTE.BRANCH_FAILURE),
    t_branch_replied: kemi([], 'int', (ctx) => {
      const b = branchOf(ctx);
      return ok(b !== null && !b.rec.timedOut && b.rec.lastCode > 0);
    }, ROUTE.FAILURE | ROUTE.BRANCH_FAILURE),
  },
});
