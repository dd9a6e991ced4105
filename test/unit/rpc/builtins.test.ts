import { beforeEach, describe, expect, it } from 'vitest';
import { C, COUNTERS, createStatsBuffer, RCV_REQUESTS, sumStats, ThreadCounters } from '../../../src/core/stats/counters.js';
import { ctime, registerBuiltins } from '../../../src/rpc/builtins.js';
import { EXECUTION_ERROR, INVALID_PARAMS, RpcRegistry } from '../../../src/rpc/registry.js';

const CTIME = /^(Sun|Mon|Tue|Wed|Thu|Fri|Sat) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d\d:\d\d:\d\d \d{4}$/;

describe('built-in RPC methods', () => {
  let registry: RpcRegistry;
  let t: ThreadCounters[];
  const startTime = new Date(Date.now() - 42_000);

  beforeEach(() => {
    const sab = createStatsBuffer(2);
    t = [new ThreadCounters(sab, 0), new ThreadCounters(sab, 1)];
    registry = new RpcRegistry();
    registerBuiltins(registry, {
      startTime,
      version: '0.1.0',
      stats: () => sumStats(sab),
      processes: () => [
        { IDX: 0, PID: process.pid, DSC: 'main: control plane' },
        { IDX: 1, PID: process.pid, DSC: 'udp receiver 127.0.0.1:5060' },
      ],
    });
  });

  it('ctime() formats as C ctime without the newline', () => {
    expect(ctime(new Date(2024, 10, 2, 6, 0, 9))).toBe('Sat Nov  2 06:00:09 2024');
    expect(ctime(new Date(2025, 0, 15, 23, 59, 1))).toBe('Wed Jan 15 23:59:01 2025');
  });

  it('core.uptime, core.version, core.ps, core.psx have Kamailio shapes', async () => {
    const up = (await registry.call('core.uptime')) as Record<string, unknown>;
    expect(Object.keys(up)).toEqual(['now', 'up_since', 'uptime']);
    expect(up.now).toMatch(CTIME);
    expect(up.up_since).toBe(ctime(startTime));
    expect(up.uptime).toBeGreaterThanOrEqual(42);
    expect(up.uptime).toBeLessThan(100);
    expect(await registry.call('core.version')).toBe(`viaduct 0.1.0 (${process.arch}/${process.platform})`);
    expect(await registry.call('core.psx')).toEqual([
      { IDX: 0, PID: process.pid, DSC: 'main: control plane' },
      { IDX: 1, PID: process.pid, DSC: 'udp receiver 127.0.0.1:5060' },
    ]);
    expect(await registry.call('core.ps')).toEqual([process.pid, 'main: control plane', process.pid, 'udp receiver 127.0.0.1:5060']);
  });

  it('system.listMethods and system.methodHelp', async () => {
    const methods = (await registry.call('system.listMethods')) as string[];
    expect(methods).toEqual(expect.arrayContaining([
      'core.uptime', 'core.version', 'core.ps', 'core.psx', 'system.listMethods', 'system.methodHelp',
      'stats.get_statistics', 'stats.fetch', 'stats.fetchn', 'stats.reset_statistics', 'stats.clear_statistics',
    ]));
    expect(methods).toEqual([...methods].sort());
    expect(await registry.call('system.methodHelp', ['core.uptime'])).toBe('Returns uptime of SIP server.');
    await expect(registry.call('system.methodHelp', ['no.such'])).rejects.toMatchObject({ code: EXECUTION_ERROR, message: 'command not found' });
    await expect(registry.call('system.methodHelp', [])).rejects.toMatchObject({ code: INVALID_PARAMS });
  });

  it('stats.get_statistics: all, group:, name, group:name, several, unknown', async () => {
    t[0].add(RCV_REQUESTS, 5);
    t[1].add(RCV_REQUESTS, 7);
    t[1].inc(C['sl:200_replies']);
    const get = (...p: unknown[]) => registry.call('stats.get_statistics', p) as Promise<string[]>;

    const all = await get('all');
    expect(all).toHaveLength(COUNTERS.length);
    expect(all[0]).toBe('core:rcv_requests = 12');
    for (const line of all) expect(line).toMatch(/^(core|sl|viaduct):\w+ = \d+$/);

    const sl = await get('sl:');
    expect(sl).toContain('sl:200_replies = 1');
    expect(sl.every((l) => l.startsWith('sl:'))).toBe(true);
    expect(sl).toHaveLength(COUNTERS.filter((c) => c.startsWith('sl:')).length);

    expect(await get('rcv_requests')).toEqual(['core:rcv_requests = 12']);
    expect(await get('core:rcv_requests')).toEqual(['core:rcv_requests = 12']);
    expect(await get('core.rcv_requests')).toEqual(['core:rcv_requests = 12']);
    expect(await get('200_replies', 'fwd_requests', 'nope')).toEqual(['sl:200_replies = 1', 'core:fwd_requests = 0']);
    expect(await get('nope')).toEqual([]);
    await expect(get()).rejects.toMatchObject({ code: INVALID_PARAMS, message: 'Please provide which stats to retrieve' });
    await expect(get({ a: 1 })).rejects.toMatchObject({ code: INVALID_PARAMS });
  });

  it('stats.fetch gives strings and stats.fetchn numbers, keyed group.name', async () => {
    t[1].add(RCV_REQUESTS, 3);
    expect(await registry.call('stats.fetch', ['rcv_requests', 'sl:sent_replies']))
      .toEqual({ 'core.rcv_requests': '3', 'sl.sent_replies': '0' });
    expect(await registry.call('stats.fetchn', ['core.rcv_requests'])).toEqual({ 'core.rcv_requests': 3 });
    const viaduct = (await registry.call('stats.fetch', ['viaduct:'])) as Record<string, string>;
    expect(Object.keys(viaduct)).toContain('viaduct.worker_restarts');
  });

  it('stats.reset_statistics and clear_statistics reset what these methods report', async () => {
    t[1].add(RCV_REQUESTS, 10);
    t[1].add(C.fwd_requests, 4);
    expect(await registry.call('stats.reset_statistics', ['rcv_requests'])).toEqual({});
    expect(await registry.call('stats.get_statistics', ['rcv_requests', 'fwd_requests']))
      .toEqual(['core:rcv_requests = 0', 'core:fwd_requests = 4']);
    t[0].inc(RCV_REQUESTS);
    expect(await registry.call('stats.fetchn', ['rcv_requests'])).toEqual({ 'core.rcv_requests': 1 });
    const cleared = (await registry.call('stats.clear_statistics', ['core:'])) as string[];
    expect(cleared).toContain('core:rcv_requests = 0 (1)');
    expect(cleared).toContain('core:fwd_requests = 0 (4)');
    expect(cleared).toContain('core:drop_requests = 0');
    expect(await registry.call('stats.fetchn', ['rcv_requests', 'fwd_requests']))
      .toEqual({ 'core.rcv_requests': 0, 'core.fwd_requests': 0 });
  });
});
