// The control plane (main thread): loads and checks the script, starts the worker threads and
// the receiving thread, supervises them, and serves /metrics and JSON-RPC over HTTP.
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { resolveSettings, type CliOverrides, type Settings } from './config.js';
import { SipCore, type Transport } from './core.js';
import { apiList, buildKSR, modules, resolveModparams } from './ksr.js';
import { createLogger, errorLine, L_DBG, type Logger } from './log.js';
import { Doorbells, Ring, ringUsedBytes } from './runtime/ring.js';
import { createInHandBuffer, FROM_RING, IDLE, InHandTable } from './runtime/in-hand.js';
import { createRings, ringsInto, topologyFor } from './runtime/topology.js';
import { Watchdog } from './runtime/watchdog.js';
import { checkPortsFree, socketInfos, type ThreadData } from './runtime/thread.js';
import { nativeTransport, nativeUdp, openSockets } from './runtime/udp-native.js';
import type { ModuleSetup } from '../modules/module.js';
import { loadScript } from './script.js';
import { ShmRegions, wholeRegion } from './shm/regions.js';
import { C, createStatsBuffer, sumStats, ThreadCounters } from './stats/counters.js';
import { RpcRegistry } from '../rpc/registry.js';
import { compiledTime, registerBuiltins } from '../rpc/builtins.js';
import { createMetricsRegistry, type ThreadSample } from '../rpc/metrics.js';
import { udpKernelDrops } from '../rpc/udp-drops.js';
import { startHttpServer, type HttpServerHandle } from '../rpc/server.js';

export const VERSION: string = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')).version;

const MAIN_ROW = 0;
const RECEIVER_ROW = 1;

interface ThreadSlot {
  name: string;
  row: number;
  worker: Worker;
  ringsIn: Ring[];        // workers: every ring into it
  data: ThreadData;
  /** Why the supervisor stopped this thread itself (the watchdog), for the restart's log line. */
  stoppedBecause: string | null;
}

export interface RunningServer {
  settings: Settings;
  readyLine: string;
  rpc: RpcRegistry;
  stop(): Promise<void>;
}

function onceMessage(w: Worker, type: string, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMsg = (m: { type: string; message?: string }): void => {
      if (m.type === type) { cleanup(); resolve(); } else if (m.type === 'error') { cleanup(); reject(new Error(`${what}: ${m.message}`)); }
    };
    const onErr = (e: Error): void => { cleanup(); reject(new Error(`${what}: ${e.message}`)); };
    const onExit = (code: number): void => { cleanup(); reject(new Error(`${what} exited with code ${code} while starting`)); };
    const cleanup = (): void => { w.off('message', onMsg); w.off('error', onErr); w.off('exit', onExit); };
    w.on('message', onMsg);
    w.once('error', onErr);
    w.once('exit', onExit);
  });
}

export async function startServer(scriptFile: string, cli: CliOverrides): Promise<RunningServer> {
  // Load the script here first: a bad script stops start-up with file, line and reason, and its
  // exported settings decide how many threads to start.
  const probeSab = createStatsBuffer(1);
  const probeSettings = resolveSettings(undefined, { ...cli, listen: cli.listen.length ? cli.listen : [] }, 1);
  const probeLog = createLogger(probeSettings.logLevel, '[main]');
  const probeCore = new SipCore(probeSettings, socketInfos(probeSettings), { send() {} }, new ThreadCounters(probeSab, 0), probeLog, null, '');
  const script = loadScript(scriptFile, buildKSR(probeCore, resolveModparams({})));
  const settings = resolveSettings(script.settings, cli, availableParallelism());
  const modparams = resolveModparams(settings.modparams);
  const statsSab = createStatsBuffer(2 + settings.workers);
  const mainCounters = new ThreadCounters(statsSab, MAIN_ROW);
  const log: Logger = createLogger(settings.logLevel, '[main]', { counters: mainCounters });
  const instanceTag = `vd${randomBytes(3).toString('hex')}-`;
  const n = settings.workers;
  // Native UDP: this thread opens the sockets (a bind error, such as a port in use, stops
  // start-up here) and keeps them across thread restarts; every SIP thread sends on them.
  // node:dgram: every thread binds its own socket; this thread first checks the ports are free.
  const udp = nativeUdp();
  const topology = topologyFor(n, udp.udp !== null);
  const fds = udp.udp ? openSockets(udp.udp, socketInfos(settings), settings.udpBufferBytes) : null;
  if (!udp.udp) await checkPortsFree(socketInfos(settings));
  const rings = createRings(topology, settings.ringBytes);
  const bells = Doorbells.create(n);
  const inHandSab = createInHandBuffer(topology.sipThreads);
  const inHand = new InHandTable(inHandSab);
  const bellFds = udp.udp ? Array.from({ length: n }, () => udp.udp!.bellCreate()) : null;
  log.info(`UDP I/O: ${udp.udp ? 'native (recvmmsg batches, shared sockets)' : `node:dgram (${udp.why})`}`);
  // every SharedArrayBuffer, named, for core.shmmem (modules add theirs after their set-up)
  const shm = new ShmRegions();
  shm.add(() => [
    wholeRegion('counters', statsSab), wholeRegion('doorbells', bells), wholeRegion('in-hand', inHandSab),
    ...rings.flatMap((row, p) => row.flatMap((sab, k) => (sab ? [{
      name: `ring ${p === 0 ? 'receiver' : `worker ${p}`} -> worker ${k + 1}`, total: sab.byteLength, used: ringUsedBytes(sab),
    }] : []))),
  ]);
  // Modules with state of their own (dispatcher) set up here, before the threads: a bad list
  // stops start-up. What they hand the threads is kept current in moduleData (restarts get it).
  const rpc = new RpcRegistry();
  const moduleData: Record<string, unknown> = {};
  const moduleSetups: ModuleSetup[] = [];
  const mainHandlers = new Map<string, (d: unknown) => void>();
  // per module, its set-up's handler of what its instances on the SIP threads send (toMain)
  const threadMessageHandlers = new Map<string, (d: unknown) => void>();
  let threadsStarted = false;
  let main: { core: SipCore; fn: (name: string) => unknown } | null = null;
  // What this thread sends (dispatcher's probes, event routes) leaves from the listening
  // sockets: native sockets are shared; with node:dgram only the SIP threads have them, so the
  // first one sends it for us (before they start, the datagram is lost: a send error).
  const mainTransport: Transport = udp.udp && fds ? nativeTransport(udp.udp, fds, socketInfos(settings), log, mainCounters) : {
    send: (sock, data, port, host) => {
      if (!threadsStarted) {
        mainCounters.inc(C['viaduct:send_errors']);
        log.limited(L_DBG, 'core:send-early', `cannot send to ${host}:${port} before the SIP threads run`);
        return;
      }
      sipThreads()[0]!.postMessage({ type: 'send', sock, bytes: data, port, host });
    },
  };
  // the main thread's own core and script instance, for event routes; built on first use
  const mainCore = (): { core: SipCore; fn: (name: string) => unknown } => {
    if (!main) {
      const core = new SipCore(settings, socketInfos(settings), mainTransport, mainCounters, log, null, instanceTag);
      const s = loadScript(script.file, buildKSR(core, modparams, moduleData, {
        row: MAIN_ROW,
        onMessage: (m, h) => mainHandlers.set(m, h),
        toMain: (m, d) => threadMessageHandlers.get(m)?.(d),
      }));
      main = { core, fn: (name) => s.fn(name) };
    }
    return main;
  };
  for (const [name, mod] of modules()) {
    if (!mod.setup) {
      if (mod.rpc) throw new Error(`module ${name}: RPC methods need a set-up that provides their state`);
      continue;
    }
    const setup = await mod.setup({
      params: modparams[name]!,
      scriptFile: script.file,
      settings,
      log,
      threadRows: 2 + n,
      broadcast: (data) => {
        moduleData[name] = data;
        mainHandlers.get(name)?.(data);
        if (threadsStarted) for (const w of sipThreads()) w.postMessage({ type: 'module', module: name, data });
      },
      toThreads: (data) => {
        if (threadsStarted) for (const w of sipThreads()) w.postMessage({ type: 'module', module: name, data });
      },
      mainCore: () => (threadsStarted ? mainCore().core : null),
      callScript: (fnName, ...args) => {
        const f = mainCore().fn(fnName);
        if (typeof f !== 'function') throw new Error(`the script has no function ${fnName}`);
        return (f as (...a: unknown[]) => unknown)(...args);
      },
      transport: mainTransport,
      sockets: socketInfos(settings),
      onThreadMessage: (handler) => { threadMessageHandlers.set(name, handler); },
      stats: () => sumStats(statsSab),
    });
    moduleData[name] = setup.threadData;
    moduleSetups.push(setup);
    if (setup.shm) shm.add(setup.shm);
    for (const [method, def] of Object.entries(mod.rpc ?? {})) rpc.register(method, (params) => def.handler(setup.state, params), def.doc);
  }
  rpc.register('app_jsdt.api_list', () => apiList(), 'List the KEMI functions exported to JavaScript (module, name, parameter and return types)');
  const base = { scriptFile: script.file, settings, modparams, statsSab, instanceTag, bells, inHand: inHandSab, fds, bellFds, moduleData, mode: topology.mode };
  const workerUrl = new URL('./runtime/worker.js', import.meta.url);
  const receiverUrl = new URL('./runtime/receiver.js', import.meta.url);
  let stopping = false;

  const slots: ThreadSlot[] = [];
  const fromThread = (m: { type: string; module?: string; data?: unknown }): void => {
    if (m.type === 'module' && m.module) threadMessageHandlers.get(m.module)?.(m.data);
  };
  // V8's memory reducer would give back idle heap with GCs up to 100 s after start-up or a burst
  // of load, polling every 8 s per thread until then: an idle server would never be idle. SIP
  // threads keep their heap, as Kamailio keeps its pools. Set before they start (a new thread's
  // heap reads it); bin/viaduct passes it to node for this thread too.
  setFlagsFromString('--no-memory-reducer');
  const spawn = (url: URL, data: ThreadData): Worker => {
    const w = new Worker(url, { workerData: data, stdout: false, stderr: false });
    w.on('message', fromThread);
    return w;
  };

  // Workers first, then the receiving thread (sharded: it must not fill rings nobody drains yet).
  for (let k = 0; k < n; k++) {
    const data: ThreadData = {
      ...base, role: 'worker', name: `worker ${k + 1}`, row: 2 + k, workerIndex: k, sipIndex: k,
      ringsOut: rings[k + 1] ?? [], ringsIn: ringsInto(rings, k), readsSockets: topology.workersRead,
    };
    slots.push({ name: data.name, row: data.row, worker: spawn(workerUrl, data), ringsIn: data.ringsIn.map((r) => new Ring(r)), data, stoppedBecause: null });
  }
  await Promise.all(slots.map((s) => onceMessage(s.worker, 'bound', s.name)));
  const recvData: ThreadData = {
    ...base, role: 'receiver', name: 'receiver', row: RECEIVER_ROW, workerIndex: -1, sipIndex: topology.mode === 'inline' ? 0 : -1,
    ringsOut: rings[0] ?? [], ringsIn: [], readsSockets: true,
  };
  const receiver: ThreadSlot | null = topology.receiver
    ? { name: 'receiver', row: RECEIVER_ROW, worker: spawn(receiverUrl, recvData), ringsIn: [], data: recvData, stoppedBecause: null }
    : null;
  if (receiver) await onceMessage(receiver.worker, 'ready', 'receiver');
  const sipSlots: ThreadSlot[] = topology.mode === 'inline' ? [receiver!] : slots;

  const restart = (slot: ThreadSlot, why: string): void => {
    if (stopping) return;
    mainCounters.inc(C['viaduct:worker_restarts']);
    // The message the thread was processing when it died is lost (and skipped if it came from a
    // ring: it may be what killed it). Everything behind it stays queued for the new thread.
    const k = slot.data.sipIndex;
    const from = k >= 0 ? inHand.from(k) : IDLE;
    if (from !== IDLE) {
      mainCounters.inc(C['viaduct:worker_lost_messages']);
      if (from >= FROM_RING) slot.ringsIn[from - FROM_RING]!.release();
      inHand.clear(k);
    }
    const queued = slot.ringsIn.reduce((sum, ring) => sum + ring.pending(), 0);
    log.err(`${slot.name} ${why}; ${queued} queued messages wait for its restart`);
    const isWorker = slot.data.role === 'worker';
    slot.stoppedBecause = null;
    slot.worker = spawn(isWorker ? workerUrl : receiverUrl, slot.data);
    watch(slot);
    onceMessage(slot.worker, isWorker ? 'bound' : 'ready', slot.name)
      .then(() => log.notice(`${slot.name} restarted`))
      .catch((e) => log.err(`${slot.name} restart failed: ${(e as Error).message}`));
  };
  const watch = (slot: ThreadSlot): void => {
    const w = slot.worker;
    let err = '';
    w.on('error', (e) => { err = errorLine(e); });
    w.on('exit', (code) => { if (slot.worker === w) restart(slot, slot.stoppedBecause ?? `died (${err || `exit code ${code}`})`); });
  };
  slots.forEach(watch);
  if (receiver) watch(receiver);
  // A SIP thread stuck in one message (a script in an endless loop) is stopped and restarted.
  const watchdog = new Watchdog(inHand, topology.sipThreads, settings.watchdogMs, (k, stuckMs) => {
    const slot = sipSlots[k]!;
    if (slot.stoppedBecause) return;
    mainCounters.inc(C['viaduct:watchdog_restarts']);
    slot.stoppedBecause = `stuck in one message for ${stuckMs} ms (watchdog limit ${settings.watchdogMs} ms), stopped by the watchdog`;
    void slot.worker.terminate();
  });
  watchdog.start();

  // At each scrape every thread is asked for its histogram, and says how long the question
  // waited for its event loop (measured only when scraped: nothing runs in the threads for it).
  // A thread too busy to answer within a second is represented by its last histogram, so the
  // summary's _count never steps back, and by the second it let pass.
  let histSeq = 0;
  const lastHistogram = new Map<Worker, string>();
  const askThread = (slot: ThreadSlot): Promise<ThreadSample> => new Promise((resolve) => {
    const w = slot.worker;
    const id = ++histSeq;
    const sent = process.hrtime.bigint();
    const t = setTimeout(() => {
      w.off('message', on);
      resolve({ name: slot.name, histogram: lastHistogram.get(w) ?? null, delayMs: Number(process.hrtime.bigint() - sent) / 1e6 });
    }, 1000);
    const on = (m: { type: string; id?: number; data?: string | null; delayMs?: number | null }): void => {
      if (m.type === 'histogram' && m.id === id) {
        clearTimeout(t);
        w.off('message', on);
        if (m.data) lastHistogram.set(w, m.data);
        resolve({ name: slot.name, histogram: m.data ?? null, delayMs: m.delayMs ?? 0 });
      }
    };
    w.on('message', on);
    w.postMessage({ type: 'histogram', id, sent });
  });
  const sipThreads = (): Worker[] => sipSlots.map((s) => s.worker);
  threadsStarted = true;
  moduleSetups.forEach((m) => m.start?.());

  const startTime = new Date();
  const stats = (): Map<string, number> => sumStats(statsSab);
  registerBuiltins(rpc, {
    startTime,
    version: VERSION,
    stats,
    shm: () => shm.list(),
    build: {
      id: 'unknown', // no repository hash is recorded at build time
      compiler: `node ${process.version} (V8 ${process.versions.v8})`,
      compiled: compiledTime(statSync(new URL(import.meta.url)).mtime), // when tsc wrote this file
      flags: `UDP: ${fds ? 'native' : 'node:dgram'}, WORKERS: ${n} (${topology.mode}), ARCH: ${process.arch}/${process.platform}`,
    },
    processes: () => [
      { IDX: 0, PID: process.pid, DSC: 'main: control plane, http' },
      ...(receiver ? [{ IDX: 1, PID: process.pid, DSC: `receiver: ${socketInfos(settings).map((s) => s.name).join(' ')}${topology.mode === 'inline' ? ' (runs the script)' : ''}` }] : []),
      ...slots.map((s, i) => ({ IDX: 2 + i, PID: process.pid, DSC: `${s.name}: ${topology.mode === 'single' ? `reads ${socketInfos(settings).map((x) => x.name).join(' ')}, ` : ''}routing script` })),
    ],
  });
  let http: HttpServerHandle | null = null;
  if (settings.http) {
    const registry = createMetricsRegistry({
      stats,
      // every thread: in sharded mode the receiving thread's delay delays every message too
      threads: () => Promise.all([...(receiver ? [receiver] : []), ...slots].map(askThread)),
      buildInfo: { version: VERSION, node: process.version, udp: fds ? 'native' : 'dgram', mode: topology.mode },
      udpDrops: () => udpKernelDrops(socketInfos(settings)),
      extra: (registry) => moduleSetups.forEach((m) => m.metrics?.(registry)),
    });
    http = await startHttpServer({ host: settings.http.host, port: settings.http.port, registry: rpc, metrics: () => registry.metrics() });
  }

  async function stop(): Promise<void> {
    if (stopping) return;
    stopping = true;
    watchdog.stop();
    await Promise.all(moduleSetups.map((m) => m.stop?.()));
    await Promise.all([...(receiver ? [receiver.worker] : []), ...slots.map((s) => s.worker)].map((w) => w.terminate()));
    [...(fds ?? []), ...(bellFds ?? [])].forEach((fd) => udp.udp!.close(fd));
    await http?.close();
  }

  const readyLine = `viaduct ready sockets=${socketInfos(settings).map((s) => s.name.slice(4)).map((n) => `udp:${n}`).join(',')}` +
    ` http=${http ? http.address : 'off'} workers=${settings.workers} mode=${topology.mode} udp=${fds ? 'native' : 'dgram'}`;
  return { settings, readyLine, rpc, stop };
}
