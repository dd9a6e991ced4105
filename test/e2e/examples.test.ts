// The stateful examples run as written (only their addresses changed to free ports): seed 002's
// proxy with real SIPp on both sides, and the carrier load balancer with failover over three
// trunks (busy, silent, answering) played by the small scriptable UA.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { request, tmRig } from './tm-uas.js';
import { runSipp, startSipp } from './harness.js';

const LOOPBACK = '127.0.0.1';
const example = (name: string) => readFileSync(fileURLToPath(new URL(`../../examples/${name}`, import.meta.url)), 'utf8');
const scenario = (name: string) => fileURLToPath(new URL(`./scenarios/${name}`, import.meta.url));

describe('examples/', () => {
  const rig = tmRig();

  it('stateful-proxy.js: the INVITE\'s AVP in the onreply route for 100/180/200, <null> for ACK, BYE and its 200', async () => {
    const [proxyPort, uasPort, uacPort] = await rig.freePorts(3) as [number, number, number];
    const script = example('stateful-proxy.js').replace('port: 5070', `port: ${uasPort}`);
    expect(script).toContain(`port: ${uasPort}`);
    const viaduct = await rig.start({ script, listen: [`udp:${LOOPBACK}:${proxyPort}`], workers: 1 });
    const sipp = rig.sipp(startSipp({ scenario: scenario('tm-uas.xml'), localIp: LOOPBACK, localPort: uasPort }));
    await sipp.ready;
    const calls = 3;
    const uac = await runSipp({ scenario: scenario('tm-uac.xml'), remote: `${LOOPBACK}:${proxyPort}`, localIp: LOOPBACK, localPort: uacPort, rate: 5, calls, timeoutMs: 30_000 });
    const log = viaduct.stderr();
    expect(uac, log.slice(-3000)).toMatchObject({ created: calls, successful: calls, failed: 0 });
    const seen = log.split('\n').map((l) => /for (\S+)(?: response)? the value of AVP "state_test_var" is (.*?)\s*$/.exec(l)).filter((m) => m !== null);
    const tally: Record<string, number> = {};
    for (const m of seen) tally[`${m[1]}=${m[2]}`] = (tally[`${m[1]}=${m[2]}`] ?? 0) + 1;
    expect(tally, log.slice(-3000)).toEqual({
      'INVITE=I remember': calls, '100=I remember': calls, '180=I remember': calls, '200=I remember': calls,
      'ACK=<null>': calls, 'BYE=<null>': calls, '200=<null>': calls,
    });
  }, 60_000);

  it('carrier-failover.js: 486, then no answer (marked inactive), then the third trunk; the busy trunk gets the proxy\'s ACK', async () => {
    const [proxy, caller, ...trunkPorts] = await rig.freePorts(5) as [number, number, number, number, number];
    const list = example('carriers.list').replace(/127\.0\.0\.1:507(\d)/g, (_, i: string) => `127.0.0.1:${trunkPorts[Number(i) - 1]}`);
    expect(list).toContain(`:${trunkPorts[2]} 0 10`);
    const listFile = join(rig.tempDir('viaduct-carriers-'), 'carriers.list');
    writeFileSync(listFile, list);
    // the example as written; the command line's --modparam wins over its settings, as in make run
    const viaduct = await rig.start({
      script: example('carrier-failover.js'), listen: [`udp:${LOOPBACK}:${proxy}`], workers: 1,
      modparams: [`dispatcher:list_file=${listFile}`, 'tm:fr_timer=800', 'tm:wt_timer=300'],
    });
    const [busy, silent, good, c] = await rig.open([trunkPorts[0]!, 'reject486'], [trunkPorts[1]!, 'silent'], [trunkPorts[2]!, 'answer'], [caller, null]);
    c.send(request('INVITE', 'sip:+15551234@carrier.example', caller, 'z9hG4bKex-1', 'ex-1', 1), proxy);
    expect(await c.waitFor('SIP/2.0 200', 1, 5000), viaduct.stderr()).toBe(true);
    expect(await busy.waitFor('ACK', 1, 1000)).toBe(true);
    expect([busy.got('INVITE').length, silent.got('INVITE').length >= 1, good.got('INVITE').length]).toEqual([1, true, 1]);
    // the silent trunk is out now: the next call goes from the 486 straight to the third trunk
    const silentBefore = silent.got('INVITE').length;
    c.send(request('INVITE', 'sip:+15551234@carrier.example', caller, 'z9hG4bKex-2', 'ex-2', 1), proxy);
    expect(await c.waitFor('SIP/2.0 200', 2, 700), viaduct.stderr()).toBe(true);
    expect(silent.got('INVITE').length).toBe(silentBefore);
    expect(viaduct.stderr()).toMatch(/trunk failed with 486, trying sip:127\.0\.0\.1:/);
  }, 30_000);
});
