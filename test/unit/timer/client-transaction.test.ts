// Client transactions over real UDP sockets, with the timer wheel on a clock the test moves:
// the request as built, its retransmissions per timer E, timer F's 408, reply matching
// (RFC 3261 17.1.3) and timer K absorbing a retransmitted final.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freePorts, releasePorts } from '../../../bench/ports.js';
import { UdpListener, type Datagram } from '../../../bench/udp.js';
import type { SocketInfo } from '../../../src/core/context.js';
import type { Transport } from '../../../src/core/core.js';
import { ClientTransactions, TxState, type ClientTransaction, type TransactionUser } from '../../../src/core/client-transaction.js';
import { parseMessage } from '../../../src/core/sip/parser.js';
import type { SipMessage } from '../../../src/core/sip/message.js';
import { TimerWheel } from '../../../src/core/timer/wheel.js';

const IP = '127.0.0.1';

/** The reply a UAS would send to `request`: its Via, From, To (with a tag), Call-ID and CSeq. */
function replyTo(request: Buffer, code: number, reason: string, edit: (h: string) => string = (h) => h): string {
  const lines = request.toString('latin1').split('\r\n');
  const keep = lines.filter((l) => /^(Via|From|Call-ID|CSeq):/i.test(l));
  const to = lines.find((l) => l.startsWith('To:'))!;
  return edit(`SIP/2.0 ${code} ${reason}\r\n${keep.join('\r\n')}\r\n${to};tag=uas\r\nContent-Length: 0\r\n\r\n`);
}

describe('ClientTransactions', () => {
  let ports: number[];
  let proxy: UdpListener;   // plays viaduct's listening socket: sends the requests, gets the replies
  let peer: UdpListener;
  let now: number;
  let wheel: TimerWheel;
  let txs: ClientTransactions;
  let events: string[];
  let finals: { code: number; reason: string; msg: SipMessage | null }[];
  const user: TransactionUser<string> = {
    provisional: (tx, msg) => { events.push(`${tx.data}: ${msg.status}`); },
    completed: (tx, code, reason, msg) => { events.push(`${tx.data}: final ${code}`); finals.push({ code, reason, msg }); },
  };
  const sent = (): Datagram[] => peer.received;
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 30)); // let datagrams land
  const advance = async (to: number): Promise<void> => { now = to; wheel.tick(now); await settle(); };

  beforeEach(async () => {
    ports = await freePorts(2);
    proxy = await UdpListener.open(IP, ports[0]!);
    peer = await UdpListener.open(IP, ports[1]!);
    now = 1000;
    events = [];
    finals = [];
    wheel = new TimerWheel({ now: () => now });
    const socket: SocketInfo = { index: 0, family: 4, bindHost: IP, port: ports[0]!, viaHost: IP, viaPort: ports[0]!, name: `udp:${IP}:${ports[0]}` };
    const transport: Transport = { send: (_i, data, port, host) => { proxy.socket.send(Buffer.from(data), port, host); } };
    txs = new ClientTransactions({ wheel, transport, sockets: [socket], branchPrefix: 'z9hG4bKtest', now: () => now });
    // what reaches the listening socket is offered to the transactions, as a SIP thread would
    proxy.socket.on('message', (buf) => { events.push(`matched=${txs.receiveReply(parseMessage(buf))}`); });
  });

  afterEach(async () => {
    await proxy.close();
    await peer.close();
    releasePorts(ports);
  });

  it('builds the request and sends it from the listening socket', async () => {
    const tx = txs.start({ method: 'OPTIONS', ruri: `sip:${IP}:${ports[1]}`, from: 'sip:ping@example.org', host: IP, port: ports[1]!, headers: 'User-Agent: viaduct\r\n' }, user, 'a');
    expect(typeof tx).not.toBe('string');
    await settle();
    expect(sent()).toHaveLength(1);
    expect(sent()[0]!.from.port).toBe(ports[0]);
    const req = parseMessage(sent()[0]!.data);
    expect(req.method).toBe('OPTIONS');
    expect(req.ruri).toBe(`sip:${IP}:${ports[1]}`);
    const via = req.topVia();
    expect(`${via.host}:${via.port}`).toBe(`${IP}:${ports[0]}`);
    expect(via.branch).toBe((tx as ClientTransaction<string>).branch);
    expect(via.branch!.startsWith('z9hG4bKtest')).toBe(true);
    expect(via.hasRport).toBe(true);
    expect(req.from().uri).toBe('sip:ping@example.org');
    expect(req.from().tag).toMatch(/^[0-9a-f]{8}$/);
    expect(req.to().uri).toBe(`sip:${IP}:${ports[1]}`);
    expect(req.to().tag).toBeUndefined();
    expect(req.callId()).toMatch(/^[0-9a-f]{16}$/);
    expect(req.cseq()).toMatchObject({ num: 1, method: 'OPTIONS' });
    expect(req.maxForwards()).toBe(70);
    expect(req.bodyLength).toBe(0);
    expect(sent()[0]!.data.toString()).toContain('\r\nUser-Agent: viaduct\r\nContent-Length: 0\r\n\r\n');
  });

  it('retransmits per timer E (T1 doubling to T2) and times out at timer F with 408', async () => {
    const tx = txs.start({ method: 'OPTIONS', ruri: `sip:${IP}:${ports[1]}`, from: 'sip:a@b', host: IP, port: ports[1]!, timeoutMs: 12_000 }, user, 'a') as ClientTransaction<string>;
    await settle();
    const at: number[] = [];
    for (let t = 1000; t <= 1000 + 20_000; t += 10) {
      const before = sent().length;
      now = t;
      wheel.tick(now);
      if (tx.retransmissions > at.length) at.push(t - 1000);
      if (before !== sent().length) await settle();
    }
    await settle();
    // 500, 1000, 2000, 4000, 4000 ... apart: sent at 0.5 s, 1.5 s, 3.5 s, 7.5 s, 11.5 s
    expect(at).toEqual([500, 1500, 3500, 7500, 11_500]);
    expect(sent()).toHaveLength(6); // the first send and five retransmissions, byte for byte equal
    expect(new Set(sent().map((d) => d.data.toString())).size).toBe(1);
    expect(events).toEqual(['a: final 408']);
    expect(finals[0]).toMatchObject({ code: 408, reason: 'Request Timeout', msg: null });
    expect(tx.state).toBe(TxState.Terminated);
    expect(txs.size).toBe(0);
    expect(wheel.size).toBe(0);
  });

  it('a 1xx is noted and retransmission goes on at T2; the final completes it once; timer K absorbs a retransmitted final', async () => {
    const tx = txs.start({ method: 'OPTIONS', ruri: `sip:${IP}:${ports[1]}`, from: 'sip:a@b', host: IP, port: ports[1]!, timeoutMs: 32_000 }, user, 'a') as ClientTransaction<string>;
    await settle();
    const request = sent()[0]!.data;
    peer.socket.send(replyTo(request, 100, 'Trying'), ports[0]!, IP);
    await settle();
    expect(tx.state).toBe(TxState.Proceeding);
    expect(tx.provisional).toBe(100);
    await advance(1500); // timer E (T1) fires: sends, and next waits T2 in Proceeding
    expect(tx.retransmissions).toBe(1);
    expect(tx.interval).toBe(4000);
    peer.socket.send(replyTo(request, 200, 'OK'), ports[0]!, IP);
    await settle();
    expect(tx.state).toBe(TxState.Completed);
    peer.socket.send(replyTo(request, 200, 'OK'), ports[0]!, IP); // retransmitted by the peer
    await settle();
    expect(events).toEqual(['a: 100', 'matched=true', 'a: final 200', 'matched=true', 'matched=true']);
    expect(finals[0]!.msg!.status).toBe(200);
    // no more retransmissions, and after T4 the branch is forgotten
    await advance(1500 + 5000 + 10); // the final came at 1500: timer K (T4) ends it
    expect(sent()).toHaveLength(2);
    expect(tx.state).toBe(TxState.Terminated);
    peer.socket.send(replyTo(request, 200, 'OK'), ports[0]!, IP);
    await settle();
    expect(events.at(-1)).toBe('matched=false');
    expect(wheel.size).toBe(0);
  });

  it('matches on branch and CSeq method only (RFC 3261 17.1.3)', async () => {
    const tx = txs.start({ method: 'OPTIONS', ruri: `sip:${IP}:${ports[1]}`, from: 'sip:a@b', host: IP, port: ports[1]!, timeoutMs: 32_000 }, user, 'a') as ClientTransaction<string>;
    await settle();
    const request = sent()[0]!.data;
    peer.socket.send(replyTo(request, 200, 'OK', (r) => r.replace('OPTIONS', 'INFO')), ports[0]!, IP);
    peer.socket.send(replyTo(request, 200, 'OK', (r) => r.replace(tx.branch, `${tx.branch}x`)), ports[0]!, IP);
    await settle();
    expect(events).toEqual(['matched=false', 'matched=false']);
    expect(tx.state).toBe(TxState.Trying);
    txs.clear();
    expect(wheel.size).toBe(0);
  });

  it('says why when no listening socket fits the destination; refuses a branch prefix without the cookie', () => {
    expect(txs.start({ method: 'OPTIONS', ruri: 'sip:[::1]:5060', from: 'sip:a@b', host: '::1', port: 5060 }, user, 'a')).toBe('no IPv6 listening socket to send to ::1');
    expect(txs.size).toBe(0);
    expect(() => new ClientTransactions({ wheel, transport: { send() {} }, sockets: [], branchPrefix: 'abc' })).toThrow(/z9hG4bK/);
  });
});
