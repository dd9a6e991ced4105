// dispatcher.set_state / add / remove over real JSON-RPC: a failure keeps Kamailio's code (500) and
// text, and says why; add refuses a URI its set already has. And `viaduct rpc` prints it as kamcmd does.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoPath } from '../../bench/paths.js';
import { freePorts, RpcError, startViaduct, stopAll, type ViaductProcess } from './harness.js';

const IP = '127.0.0.1';
type List = { RECORDS: { SET: { ID: number; TARGETS: { DEST: { URI: string; FLAGS: string } }[] } }[] };

describe('dispatcher RPC faults say why', () => {
  let ports: number[] = [];
  let v: ViaductProcess;
  let dir: string;
  let a: string;
  let b: string;

  beforeAll(async () => {
    ports = await freePorts(3);
    const [proxyPort, pa, pb] = ports as [number, number, number];
    [a, b] = [`sip:${IP}:${pa}`, `sip:${IP}:${pb}`];
    dir = mkdtempSync(join(tmpdir(), 'viaduct-ds-rpc-'));
    writeFileSync(join(dir, 'dispatcher.list'), `1 ${a}\n1 ${b}\n`);
    v = await startViaduct({
      script: 'function ksr_request_route() { KSR.sl.sl_send_reply(404, "Not here"); }\n',
      listen: [`udp:${IP}:${proxyPort}`],
      workers: 0,
      modparams: [`dispatcher:list_file=${join(dir, 'dispatcher.list')}`],
    });
  });

  afterAll(async () => {
    await stopAll([], v, ports);
    rmSync(dir, { recursive: true, force: true });
  });

  /** The JSON-RPC error of a call that must fail. */
  const fails = async (method: string, ...params: unknown[]): Promise<RpcError> => {
    const e = await v.rpc(method, ...params).then(() => null, (err: unknown) => err);
    if (!(e instanceof RpcError)) throw new Error(`${method} ${JSON.stringify(params)} did not fail with a JSON-RPC error: ${String(e)}`);
    expect(e.code).toBe(500);
    return e;
  };
  const targets = async () => (await v.rpc<List>('dispatcher.list')).RECORDS.map((r) => [r.SET.ID, r.SET.TARGETS.map((t) => `${t.DEST.URI} ${t.DEST.FLAGS}`).sort()]);

  it('set_state: an unknown address, set or state value, or a missing parameter', async () => {
    const unknown = await fails('dispatcher.set_state', 'ip', 1, 'sip:10.0.0.9:5060');
    expect(unknown.message).toMatch(/^JSON-RPC error 500: State Update Failed: sip:10\.0\.0\.9:5060 is not in set 1 \(it has (.*)\)$/);
    expect(/it has (.*)\)$/.exec(unknown.message)![1]!.split(', ').sort()).toEqual([a, b].sort());
    expect((await fails('dispatcher.set_state', 'a', 7, 'all')).message).toMatch(/State Update Failed: destination set 7 not found \(sets: 1\)$/);
    expect((await fails('dispatcher.set_state', 'x', 1, 'all')).message).toMatch(/Unknown State Value "x": use a or 1 \(active\), i or 0 \(inactive\)/);
    expect((await fails('dispatcher.set_state', '', 1, 'all')).message).toMatch(/Invalid State Parameter: use a or 1/);
    expect((await fails('dispatcher.set_state', 'i', 'one', a)).message).toMatch(/Invalid Parameters: group "one" is not a set id/);
    expect((await fails('dispatcher.set_state', 'i', 1)).message).toMatch(/Invalid Parameters: dispatcher.set_state STATE GROUP ADDRESS\|all/);
    // nothing changed; then a match, with Kamailio's case-insensitive comparison
    expect(await targets()).toEqual([[1, [`${a} AX`, `${b} AX`]]]);
    expect(await v.rpc('dispatcher.set_state', 'ip', 1, a.toUpperCase())).toBe('Ok. Dispatcher state updated.');
    expect(await targets()).toEqual([[1, [`${a} IP`, `${b} AX`]]]);
    expect(await v.rpc('dispatcher.set_state', 'a', 1, 'all')).toBe('Ok. Dispatcher state updated.');
  });

  it('add refuses a URI already in the set; remove says what the set has', async () => {
    expect((await fails('dispatcher.add', 1, a)).message).toMatch(new RegExp(`Adding dispatcher dst failed: ${a} is already in set 1$`));
    expect((await fails('dispatcher.add', 1, a.replace('sip:', 'SIP:'), 8)).message).toMatch(/is already in set 1$/);
    expect((await fails('dispatcher.add', 1, 'tel:+123')).message).toMatch(/Adding dispatcher dst failed: .*not a SIP destination/);
    expect((await fails('dispatcher.add', 1)).message).toMatch(/Invalid Parameters: dispatcher.add GROUP ADDRESS/);
    expect((await targets())[0]![1]).toHaveLength(2);
    // the same URI in another set is another destination
    expect(await v.rpc('dispatcher.add', 2, a)).toBe('Ok. Dispatcher destination added.');
    expect((await fails('dispatcher.remove', 1, 'sip:10.0.0.9')).message)
      .toMatch(/Removing dispatcher dst failed: sip:10\.0\.0\.9 is not in set 1 \(it has sip:.*, sip:.*\)$/);
    expect((await fails('dispatcher.remove', 3, a)).message).toMatch(/destination set 3 not found \(sets: 1, 2\)$/);
    expect(await v.rpc('dispatcher.remove', 2, a)).toBe('Ok. Dispatcher destination removed.');
    expect((await targets()).map(([id]) => id)).toEqual([1]);
  });

  it('`viaduct rpc` prints the fault as kamcmd does and exits 1', async () => {
    const r = await promisify(execFile)(repoPath('bin/viaduct'), ['rpc', '--http', v.ready.http!, 'dispatcher.set_state', 'ip', '1', 'sip:10.0.0.9:5060'])
      .then(() => null, (e: { code: number; stderr: string }) => e);
    expect(r?.code).toBe(1);
    expect(r?.stderr).toMatch(/^error: 500 - State Update Failed: sip:10\.0\.0\.9:5060 is not in set 1 \(it has sip:/);
  });
});
