// Logging with Kamailio's levels. Disabled levels are no-ops, so a log call in a route costs
// one function call and nothing else.
import { LOG_LEVEL_VALUES, type LogLevelName } from './config.js';

export type LogFn = (msg: string) => void;

export interface Logger {
  alert: LogFn; crit: LogFn; err: LogFn; warn: LogFn; notice: LogFn; info: LogFn; dbg: LogFn;
  level: number;
  /** Logs at a numeric Kamailio level (L_ALERT -5 ... L_DBG 3). */
  at(level: number, msg: string): void;
}

const NAMES: Record<number, string> = { [-5]: 'ALERT', [-4]: 'BUG', [-3]: 'CRITICAL', [-2]: 'CRITICAL', [-1]: 'ERROR', 0: 'WARNING', 1: 'NOTICE', 2: 'INFO', 3: 'DEBUG' };
const noop: LogFn = () => {};

export function createLogger(levelName: LogLevelName, who: string): Logger {
  const level = LOG_LEVEL_VALUES[levelName];
  const write = (lv: number, msg: string): void => {
    process.stderr.write(`${new Date().toISOString()} ${who} ${NAMES[lv] ?? lv}: ${msg}\n`);
  };
  const make = (lv: number): LogFn => (lv <= level ? (m) => write(lv, m) : noop);
  return {
    alert: make(-5), crit: make(-2), err: make(-1), warn: make(0), notice: make(1), info: make(2), dbg: make(3),
    level,
    at(lv, msg) { if (lv <= level) write(lv, msg); },
  };
}
