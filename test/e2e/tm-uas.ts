// A small scriptable UA over UDP for the tm tests where SIPp cannot play the part: a callee
// that answers INVITEs as told (reject, stay silent, ring, answer; 487 on CANCEL) and a caller
// that sends raw requests; both record what they receive.
import { createSocket, type Socket } from 'node:dgram';

export interface Msg { text: string; first: string; from: number }

const header = (text: string, name: string): string[] =>
  text.split('\r\n').filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));

/** A reply to `req`: its Via lines, From, To (with `tag`), Call-ID and CSeq. */
export function replyTo(req: string, code: number, reason: string, tag: string): string {
  const to = header(req, 'To')[0]!;
  return [`SIP/2.0 ${code} ${reason}`, ...header(req, 'Via'), ...header(req, 'From'),
    /;tag=/.test(to) ? to : `${to};tag=${tag}`, ...header(req, 'Call-ID'), ...header(req, 'CSeq'), 'Content-Length: 0', '', ''].join('\r\n');
}

export type Behaviour = 'reject486' | 'reject603' | 'silent' | 'ring' | 'answer' | 'ring-answer';

export class Ua {
  readonly received: Msg[] = [];
  private waiters: (() => void)[] = [];
  private invite = '';
  /** 'ring-answer': the 200 follows the 180 after this long. */
  answerDelayMs = 1000;
  private constructor(readonly sock: Socket, readonly port: number, readonly behaviour: Behaviour | null) {
    sock.on('message', (data, rinfo) => {
      const text = data.toString('latin1');
      this.received.push({ text, first: text.slice(0, text.indexOf('\r\n')), from: rinfo.port });
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
      if (this.behaviour === 'ring' || this.behaviour === 'answer' || this.behaviour === 'ring-answer') this.send(replyTo(text, 180, 'Ringing', `r${this.port}`), port);
      if (this.behaviour === 'answer') this.send(replyTo(text, 200, 'OK', `r${this.port}`), port);
      if (this.behaviour === 'ring-answer') setTimeout(() => {
        try { this.send(replyTo(text, 200, 'OK', `r${this.port}`), port); } catch { /* closed meanwhile */ }
      }, this.answerDelayMs);
    } else if (text.startsWith('CANCEL ')) {
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
    const end = Date.now() + timeoutMs;
    while (this.got(first).length < count) {
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
