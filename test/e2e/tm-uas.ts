// A small scriptable UA over UDP for the tm tests where SIPp cannot play the part: a callee
// that answers INVITEs as told (reject, stay silent, ring, answer; 487 on CANCEL) and a caller
// that sends raw requests; both record what they receive. TmRig is the set-up and tear-down
// those tests share (ports, the proxy, the UAs, SIPp, temp dirs).
import { createSocket, type Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { freePorts, startViaduct, stopAll, type SippProcess, type StartViaductOptions, type ViaductProcess } from './harness.js';

/** A datagram received: its text, first line, source port and arrival time (performance.now(), ms). */
export interface Msg { text: string; first: string; from: number; at: number }

const header = (text: string, name: string): string[] =>
  text.split('\r\n').filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));

/** A reply to `req`: its Via lines, From, To (with `tag`), Call-ID and CSeq. */
export function replyTo(req: string, code: number, reason: string, tag: string): string {
  const to = header(req, 'To')[0]!;
  return [`SIP/2.0 ${code} ${reason}`, ...header(req, 'Via'), ...header(req, 'From'),
    /;tag=/.test(to) ? to : `${to};tag=${tag}`, ...header(req, 'Call-ID'), ...header(req, 'CSeq'), 'Content-Length: 0', '', ''].join('\r\n');
}

/** ringNoCancel: rings and never answers a CANCEL (neither its 200 nor the 487). ring-answer: rings, answers after answerDelayMs. */
export type Behaviour = 'reject486' | 'reject603' | 'silent' | 'ring' | 'ringNoCancel' | 'answer' | 'ring-answer';

export class Ua {
  readonly received: Msg[] = [];
  private waiters: (() => void)[] = [];
  private invite = '';
  /** 'ring-answer': the 200 follows the 180 after this long. */
  answerDelayMs = 1000;
  private constructor(readonly sock: Socket, readonly port: number, readonly behaviour: Behaviour | null) {
    sock.on('message', (data, rinfo) => {
      const text = data.toString('latin1');
      this.received.push({ text, first: text.slice(0, text.indexOf('\r\n')), from: rinfo.port, at: performance.now() });
      if (behaviour) this.answer(text, rinfo.port);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async open(port: number, behaviour: Behaviour | null): Promise<Ua> {
    const sock = createSocket('udp4');
    await new Promise<void>((res, rej) => { sock.once('error', rej); sock.bind(port, '127.0.0.1', () => res()); });
    return new Ua(sock, port, behaviour);
  }

  send(text: string, port: number): void {
    this.sock.send(Buffer.from(text, 'latin1'), port, '127.0.0.1');
  }

  private answer(text: string, port: number): void {
    if (text.startsWith('INVITE ')) {
      this.invite = text;
      if (this.behaviour === 'reject486') this.send(replyTo(text, 486, 'Busy Here', `b${this.port}`), port);
      if (this.behaviour === 'reject603') this.send(replyTo(text, 603, 'Decline', `d${this.port}`), port);
      if (this.behaviour === 'ring' || this.behaviour === 'ringNoCancel' || this.behaviour === 'answer' || this.behaviour === 'ring-answer') {
        this.send(replyTo(text, 180, 'Ringing', `r${this.port}`), port);
      }
      if (this.behaviour === 'answer') this.send(replyTo(text, 200, 'OK', `r${this.port}`), port);
      if (this.behaviour === 'ring-answer') setTimeout(() => {
        try { this.send(replyTo(text, 200, 'OK', `r${this.port}`), port); } catch { /* closed meanwhile */ }
      }, this.answerDelayMs);
    } else if (text.startsWith('CANCEL ') && this.behaviour !== 'ringNoCancel') {
      this.send(replyTo(text, 200, 'OK', `r${this.port}`), port);
      if (this.invite) this.send(replyTo(this.invite, 487, 'Request Terminated', `r${this.port}`), port);
    } else if (text.startsWith('BYE ')) {
      this.send(replyTo(text, 200, 'OK', `r${this.port}`), port);
    }
  }

  /** Messages whose first line starts with `first`. */
  got(first: string): Msg[] {
    return this.received.filter((m) => m.first.startsWith(first));
  }

  async waitFor(first: string, count: number, timeoutMs: number): Promise<boolean> {
    return this.waitUntil(() => this.got(first).length >= count, timeoutMs);
  }

  /** Waits until `done` holds for what was received; false on timeout. */
  async waitUntil(done: (received: Msg[]) => boolean, timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (!done(this.received)) {
      const left = end - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((res) => { const t = setTimeout(res, left); this.waiters.push(() => { clearTimeout(t); res(); }); });
    }
    return true;
  }

  close(): void {
    this.sock.close();
  }
}

/** A request from the caller at `port` (Via with `branch`). */
export function request(method: string, ruri: string, port: number, branch: string, callId: string, cseq: number, toTag = ''): string {
  return [`${method} ${ruri} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=${branch};rport`, 'Max-Forwards: 70',
    `From: <sip:caller@127.0.0.1>;tag=c${port}`, `To: <${ruri}>${toTag ? `;tag=${toTag}` : ''}`, `Call-ID: ${callId}`,
    `CSeq: ${cseq} ${method}`, `Contact: <sip:caller@127.0.0.1:${port}>`, 'Content-Length: 0', '', ''].join('\r\n');
}

/**
 * What one tm e2e test holds: its ports, the proxy, the UAs, SIPp processes and temp dirs. tmRig()
 * makes one per describe and stops everything after each test (ports freed, UAs closed); the
 * proxy's stop fails the test when its routing script threw.
 */
export class TmRig {
  ports: number[] = [];
  viaduct: ViaductProcess | undefined;
  uas: Ua[] = [];
  sipps: SippProcess[] = [];
  private dirs: string[] = [];

  /** `n` free ports for this test, released after it. */
  async freePorts(n: number): Promise<number[]> {
    this.ports = await freePorts(n);
    return this.ports;
  }

  async start(opts: StartViaductOptions): Promise<ViaductProcess> {
    this.viaduct = await startViaduct(opts);
    return this.viaduct;
  }

  /** The proxy the test started. */
  get proxy(): ViaductProcess {
    if (!this.viaduct) throw new Error('TmRig: start() the proxy first');
    return this.viaduct;
  }

  /** UAs on the given ports, behaving as told (null: a caller), closed after the test. */
  async open<T extends [port: number, behaviour: Behaviour | null][]>(...specs: T): Promise<{ [K in keyof T]: Ua }> {
    const opened = await Promise.all(specs.map(([port, b]) => Ua.open(port, b)));
    this.uas.push(...opened);
    return opened as { [K in keyof T]: Ua };
  }

  /** A SIPp process stopped after the test (if the test did not). */
  sipp(p: SippProcess): SippProcess {
    this.sipps.push(p);
    return p;
  }

  /** A temp directory removed after the test. */
  tempDir(prefix: string): string {
    const d = mkdtempSync(join(tmpdir(), prefix));
    this.dirs.push(d);
    return d;
  }

  async stop(): Promise<void> {
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    for (const u of this.uas.splice(0)) u.close();
    const { sipps, viaduct, ports } = this;
    this.sipps = [];
    this.viaduct = undefined;
    this.ports = [];
    await stopAll(sipps, viaduct, ports);
  }
}

/** A TmRig for the tests of the calling describe (its afterEach stops what a test started). */
export function tmRig(): TmRig {
  const rig = new TmRig();
  afterEach(() => rig.stop());
  return rig;
}
