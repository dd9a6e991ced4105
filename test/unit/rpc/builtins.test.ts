import { beforeEach, describe, expect, it } from 'vitest';
import { C, COUNTERS, createStatsBuffer, RCV_REQUESTS, sumStats, ThreadCounters } from '../../../src/core/stats/counters.js';
import type { ShmUse } from '../../../src/core/shm/regions.js';
import { compiledTime, ctime, registerBuiltins } from '../../../src/rpc/builtins.js';
import { EXECUTION_ERROR, INVALID_PARAMS, RpcRegistry } from '../../../src/rpc/registry.js';
import { builtinsContext } from './helpers.js';

const CTIME = /^(Sun|Mon|Tue|Wed|Thu|Fri|Sat) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d\d:\d\d:\d\d \d{4}$/;

describe('built-in RPC methods', () => {
  let registry: RpcRegistry;
  let t: ThreadCounters[];
  let regions: ShmUse[];
  const startTime = new Date(Date.now() - 42_000);

  beforeEach(() => {
    const sab = createStatsBuffer(2);
    t = [new ThreadCounters(sab, 0), new ThreadCounters(sab, 1)];
    regions = [
      { name: 'counters', total: 4096, used: 4096 },
      { name: 'ring receiver -> worker 1', total: 3 << 20, used: 64 },
    ];
    registry = new RpcRegistry();
    registerBuiltins(registry, builtinsContext({
      startTime,
      stats: () => sumStats(sab),
      processes: () => [
        { IDX: 0, PID: process.pid, DSC: 'main: control plane' },
        { IDX: 1, PID: process.pid, DSC: 'udp receiver 127.0.0.1:5060' },
      ],
      shm: () => regions.map((r) => ({ ...r })),
      build: { id: 'unknown', compiler: 'node v20.0.0', compiled: compiledTime(new Date(2024, 10, 2, 6, 0, 9)), flags: 'UDP: native' },
    }));
  });

  it('ctime() formats as C ctime without the newline', () => {
    expect(ctime(new Date(2024, 10, 2, 6, 0, 9))).toBe('Sat Nov  2 06:00:09 2024');
    expect(ctime(new Date(2025, 0, 15, 23, 59, 1))).toBe('Wed Jan 15 23:59:01 2025');
  });

  it('compiledTime() formats as C __TIME__ " " __DATE__', () => {
    expect(compiledTime(new Date(2024, 10, 2, 6, 0, 9))).toBe('06:00:09 Nov  2 2024');
    expect(compiledTime(new Date(2025, 0, 15, 23, 59, 1))).toBe('23:59:01 Jan 15 2025');
  });

  it('core.info has Kamailio\'s keys; core.echo returns its parameters as strings', async () => {
    expect(await registry.call('core.info')).toEqual({
      version: 'viaduct 0.1.0', id: 'unknown', compiler: 'node v20.0.0', compiled: '06:00:09 Nov  2 2024', flags: 'UDP: native',
    });
    expect(await registry.call('core.echo', ['a', 5060, -1, true])).toEqual(['a', '5060', '-1', 'true']);
    expect(await registry.call('core.echo', [])).toEqual([]);
    await expect(registry.call('core.echo', [{ a: 1 }])).rejects.toMatchObject({ code: INVALID_PARAMS });
  });

  it('core.shmmem: Kamailio\'s keys first, in a unit, then each region', async () => {
    const bytes = (await registry.call('core.shmmem')) as Record<string, unknown>;
    expect(Object.keys(bytes)).toEqual(['total', 'free', 'used', 'real_used', 'max_used', 'fragments', 'regions']);
    const total = 4096 + (3 << 20);
    expect(bytes).toEqual({
      total, free: total - 4160, used: 4160, real_used: 4160, max_used: 4160, fragments: 2,
      regions: [
        { name: 'counters', total: 4096, used: 4096, free: 0 },
        { name: 'ring receiver -> worker 1', total: 3 << 20, used: 64, free: (3 << 20) - 64 },
      ],
    });
    // Kamailio's units: b, k/kb, m/mb, g/gb in either case, values truncated
    expect(await registry.call('core.shmmem', ['k'])).toMatchObject({ total: 3076, used: 4, regions: [{ total: 4 }, { total: 3072, used: 0 }] });
    expect(await registry.call('core.shmmem', ['MB'])).toMatchObject({ total: 3, free: 2, used: 0 });
    expect(await registry.call('core.shmmem', ['b'])).toMatchObject({ total });
    expect(await registry.call('core.shmmem', ['g'])).toMatchObject({ total: 0, fragments: 2 });
    for (const bad of ['x', 'kk', 'bb', 'kbs', '']) {
      await expect(registry.call('core.shmmem', [bad]), bad).rejects.toMatchObject({ code: INVALID_PARAMS, message: 'bad param, (use b|k|m|g)' });
    }
    // max_used keeps the highest use seen
    regions[1]!.used = 1 << 20;
    expect(await registry.call('core.shmmem')).toMatchObject({ used: 4096 + (1 << 20), max_used: 4096 + (1 << 20) });
    regions[1]!.used = 64;
    expect(await registry.call('core.shmmem')).toMatchObject({ used: 4160, max_used: 4096 + (1 << 20) });
  });

  it('the same figures are kex\'s shmem: statistics, which a reset leaves alone', async () => {
    const total = 4096 + (3 << 20);
    expect(await registry.call('stats.fetchn', ['shmem:'])).toEqual({
      'shmem.total_size': total, 'shmem.used_size': 4160, 'shmem.real_used_size': 4160, 'shmem.max_used_size': 4160,
      'shmem.free_size': total - 4160, 'shmem.fragments': 2,
    });
    expect(await registry.call('stats.clear_statistics', ['shmem:'])).toContain(`shmem:total_size = ${total}`);
    expect(await registry.call('stats.get_statistics', ['total_size'])).toEqual([`shmem:total_size = ${total}`]);
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
    expect(all).toHaveLength(COUNTERS.length + 6); // and the shmem: group
    expect(all[0]).toBe('core:rcv_requests = 12');
    for (const line of all) expect(line).toMatch(/^(core|sl|viaduct|shmem):\w+ = \d+$/);

    const sl = await get('sl:');
    expect(sl).toContain('sl:200_replies = 1');
    expect(sl.every((l) => l.startsWith('sl:'))).toBe(true);
    expect(sl).toHaveLength(COUNTERS.filter((c) => c.startsWith('sl:')).length);

    expect(await get('rcv_requests')).toEqual(['core:rcv_requests = 12']);
    expect(await get('core:rcv_requests')).toEqual(['core:rcv_requests = 12']);
    expect(await get('core.rcv_requests')).toEqual(['core:rcv_requests = 12']);
    expect(await get('200_replies', 'fwd_requests', 'nope')).toEqual(['sl:200_replies = 1', 'core:fwd_requests = 0']);
    expect(await get('nope')).toEqual([]);
    expect(await get('nosuch:nope')).toEqual([]); // unknown names are skipped, as Kamailio does
    await expect(get()).rejects.toMatchObject({ code: INVALID_PARAMS, message: 'Please provide which stats to retrieve' });
    await expect(get({ a: 1 })).rejects.toMatchObject({ code: INVALID_PARAMS });
  });

  it('an unknown statistics group is an error, in every stats method, even beside known ones', async () => {
    for (const method of ['stats.get_statistics', 'stats.fetch', 'stats.fetchn', 'stats.reset_statistics', 'stats.clear_statistics']) {
      await expect(registry.call(method, ['nosuch:']), method).rejects.toMatchObject({ code: INVALID_PARAMS, message: 'unknown statistics group "nosuch"' });
      await expect(registry.call(method, ['core:', 'tmx:']), method).rejects.toMatchObject({ message: 'unknown statistics group "tmx"' });
    }
    t[0].inc(RCV_REQUESTS);
    expect(await registry.call('stats.get_statistics', ['rcv_requests'])).toEqual(['core:rcv_requests = 1']); // nothing was reset
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
