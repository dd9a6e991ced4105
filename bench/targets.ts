// The proxies the bench compares, each able to run any scenario.
import { existsSync } from 'node:fs';
import { startKamailio, type KamailioAllocator } from './kamailio.js';
import { repoPath, viaductCli } from './paths.js';
import { freePort, releasePorts } from './ports.js';
import type { Scenario } from './scenarios.js';
import { spawnViaduct } from './viaduct.js';

export interface RunningProxy {
  /** Every process of the proxy right now. */
  readonly pids: number[];
  /** Its output, for error reports. */
  output(): string;
  stop(): Promise<unknown>;
}

export interface Target {
  name: string;
  description: string;
  start(scenario: Scenario): Promise<RunningProxy>;
}

/** Targets every other is compared with (a ratio column each); the first is the anchor. */
export const REFERENCES = ['kamailio-tlsf', 'kamailio-default'] as const;

function kamailio(allocator: KamailioAllocator, description: string): Target {
  return {
    name: `kamailio-${allocator}`,
    description,
    async start(s) {
      const k = await startKamailio({
        cfg: repoPath(s.kamailioCfg),
        allocator,
        port: s.proxy.port,
        defines: s.kamailioDefines,
        shmMb: s.kamailioShmMb,
      });
      return { get pids() { return k.pids; }, output: k.output, stop: k.stop };
    },
  };
}

function viaduct(workers: number): Target {
  return {
    name: `viaduct-w${workers}`,
    description: `viaduct, ${workers === 0 ? 'script inline on the receiving thread' : `${workers} worker thread(s)`}`,
    async start(s) {
      if (!existsSync(viaductCli)) throw new Error(`${viaductCli} is not built`);
      const httpPort = await freePort();
      try {
        const v = await spawnViaduct({
          script: repoPath(s.viaductScript),
          listen: [`udp:${s.proxy.host}:${s.proxy.port}`],
          workers,
          http: `127.0.0.1:${httpPort}`,
        });
        const output = () => `viaduct ${v.pid}\n--- stdout ---\n${v.stdout()}\n--- stderr ---\n${v.stderr()}`;
        return {
          get pids() { return v.pids; },
          output,
          stop: async () => {
            const status = await v.stop();
            releasePorts([httpPort]);
            return status;
          },
        };
      } catch (e) {
        releasePorts([httpPort]);
        throw e;
      }
    },
  };
}

export const targets: Target[] = [
  kamailio('tlsf', 'Kamailio 5.6, one UDP child, fast allocator (-x tlsf -X tlsf)'),
  kamailio('default', 'Kamailio 5.6, one UDP child, default allocator'),
  viaduct(0),
  viaduct(1),
  viaduct(2),
];
