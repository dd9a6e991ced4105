import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createStatsBuffer, registerModuleCounters, sumStats } from '../../src/core/stats/counters.js';
import { createMetricsRegistry } from '../../src/rpc/metrics.js';
import { dispatcherMetrics } from '../../src/modules/dispatcher/metrics.js';
import { parseListText } from '../../src/modules/dispatcher/list.js';
import { buildTable, DsTable } from '../../src/modules/dispatcher/table.js';
import tm from '../../src/modules/tm/index.js';
import { tmMetrics, tmStats } from '../../src/modules/tm/metrics.js';

const dir = fileURLToPath(new URL('../../grafana/dashboards/', import.meta.url)); // ESM: no __dirname

describe('grafana dashboards', () => {
  it('query only metrics that /metrics exports', async () => {
    registerModuleCounters('tm', tm.stats!); // as src/core/ksr.ts does at load
    const sab = createStatsBuffer(1);
    const table = new DsTable(buildTable(parseListText('1 sip:127.0.0.1:5071\n', 'test.list'), 1, 1));
    const registry = createMetricsRegistry({
      stats: () => sumStats(sab),
      threads: async () => [{ name: 'worker 1', histogram: null, delayMs: 0 }],
      buildInfo: { version: '0.0.0' },
      udpDrops: () => new Map([['udp:127.0.0.1:5060', 0]]),
      // what a server exports with the modules' own metrics (every module is set up)
      extra: (r) => {
        dispatcherMetrics(r, () => table);
        tmMetrics(r, () => tmStats(sumStats(sab)));
      },
    });
    const text = await registry.metrics();
    const exported = new Set([...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]));
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const exprs = [...readFileSync(join(dir, f), 'utf8').matchAll(/"(?:expr|query)": "((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]);
      expect(exprs.length).toBeGreaterThan(0);
      for (const e of exprs) {
        for (const name of e.match(/\b(viaduct_[a-z0-9_]+|process_[a-z0-9_]+)\b/g) ?? []) {
          expect(exported, `${f}: ${name} in "${e}"`).toContain(name);
        }
      }
    }
  });
});
