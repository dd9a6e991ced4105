// dgram socket.send() against the fast path in src/core/runtime/udp-send.ts: CPU time per
// datagram sent to a local sink socket (that drains them), 200-byte datagrams.
//   node dist/bench/micro/udp-send.js [count]
import dgram from 'node:dgram';
import { fastSender, type SendFn } from '../../src/core/runtime/udp-send.js';

const count = Number(process.argv[2] ?? 200000);
const payload = Buffer.alloc(200, 0x41);

function bound(): Promise<dgram.Socket> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.bind(0, '127.0.0.1', () => resolve(s));
  });
}

async function measure(name: string, make: (s: dgram.Socket) => SendFn): Promise<void> {
  const sink = await bound();
  let received = 0;
  sink.on('message', () => { received++; });
  const port = (sink.address() as { port: number }).port;
  const sender = await bound();
  const send = make(sender);
  const cpu0 = process.cpuUsage();
  // in bursts, yielding so the sink drains and nothing is lost to a full receive buffer
  for (let i = 0; i < count; i += 10) {
    for (let j = 0; j < 10; j++) send(payload, port, '127.0.0.1');
    await new Promise((r) => setImmediate(r));
  }
  // wait for the sink to go quiet (a datagram lost to a full buffer is not waited for)
  for (let last = -1; received !== last;) { last = received; await new Promise((r) => setTimeout(r, 20)); }
  const cpu = process.cpuUsage(cpu0);
  console.log(`${name}: ${(((cpu.user + cpu.system) * 1000) / count).toFixed(0)} ns CPU per datagram (sender and sink), received ${received}/${count}`);
  sink.close();
  sender.close();
}

await measure('dgram socket.send', (s) => (d, p, h) => s.send(d, p, h));
await measure('fastSender', (s) => fastSender(s, (e) => { throw e; }));
await measure('dgram socket.send', (s) => (d, p, h) => s.send(d, p, h));
await measure('fastSender', (s) => fastSender(s, (e) => { throw e; }));
