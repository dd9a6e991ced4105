import { describe, expect, it } from 'vitest';
import { ConfigError, parseListen, resolveSettings, splitHostPort } from '../../../src/core/config.js';

const cli = { listen: [], alias: [], modparams: [] };

describe('config', () => {
  it('parses Kamailio listen syntax with advertise and IPv6', () => {
    expect(parseListen('udp:127.0.0.1:5080')).toMatchObject({ host: '127.0.0.1', port: 5080, family: 4 });
    expect(parseListen('udp:[::1]:5062')).toMatchObject({ host: '::1', port: 5062, family: 6 });
    expect(parseListen('udp:10.0.0.1:5060 advertise 203.0.113.5:5090')).toMatchObject({ advertiseHost: '203.0.113.5', advertisePort: 5090 });
    expect(parseListen('127.0.0.1')).toMatchObject({ port: 5060 });
    expect(() => parseListen('udp:example.com:5060')).toThrow(ConfigError);
    expect(() => parseListen('tcp:127.0.0.1:5060')).toThrow(/only udp/);
    expect(splitHostPort('[2001:db8::1]:7')).toEqual({ host: '2001:db8::1', port: 7 });
  });
  it('lets command-line flags override script settings', () => {
    const s = resolveSettings({ listen: 'udp:127.0.0.1:5000', workers: 3, modparams: { maxfwd: { max_limit: 20 } } },
      { ...cli, workers: 1, modparams: ['maxfwd:max_limit=30', 'rr:enable_double_rr=0'] }, 8);
    expect(s.workers).toBe(1);
    expect(s.listen[0].port).toBe(5000);
    expect(s.modparams).toEqual({ maxfwd: { max_limit: 30 }, rr: { enable_double_rr: 0 } });
    expect(resolveSettings(undefined, { ...cli, listen: ['udp:127.0.0.1:6000'] }, 8).listen[0].port).toBe(6000);
  });
  it('rejects bad values with a clear error', () => {
    expect(() => resolveSettings({ workers: -1 }, cli, 2)).toThrow(/workers/);
    expect(() => resolveSettings(undefined, { ...cli, modparams: ['nonsense'] }, 2)).toThrow(/MODULE:NAME=VALUE/);
    expect(() => resolveSettings(undefined, { ...cli, logLevel: 'loud' }, 2)).toThrow(/log level/);
    expect(() => resolveSettings({ watchdog_ms: 1.5 }, cli, 2)).toThrow(/watchdog_ms must be a whole number of milliseconds/);
  });

  it('has a 2 s watchdog by default; the script sets it, --watchdog-ms overrides it, 0 turns it off', () => {
    expect(resolveSettings(undefined, cli, 2).watchdogMs).toBe(2000);
    expect(resolveSettings({ watchdog_ms: 500 }, cli, 2).watchdogMs).toBe(500);
    expect(resolveSettings({ watchdog_ms: 500 }, { ...cli, watchdogMs: 0 }, 2).watchdogMs).toBe(0);
  });

  it('server_header, user_agent_header and server_signature as in Kamailio', () => {
    const dflt = resolveSettings(undefined, cli, 2);
    expect([dflt.serverHeader, dflt.userAgentHeader]).toEqual(['Server: viaduct', 'User-Agent: viaduct']);
    const own = resolveSettings({ server_header: 'Server: Acme SBC', user_agent_header: 'User-Agent: Acme\r\n' }, cli, 2);
    expect([own.serverHeader, own.userAgentHeader]).toEqual(['Server: Acme SBC', 'User-Agent: Acme']);
    expect(resolveSettings({ server_header: '' }, cli, 2).serverHeader).toBe('');
    for (const off of ['no', 'off', 0, false] as const) {
      const s = resolveSettings({ server_signature: off, server_header: 'Server: Acme' }, cli, 2);
      expect([s.serverHeader, s.userAgentHeader]).toEqual(['', '']);
    }
    expect(resolveSettings({ server_signature: 'yes' }, cli, 2).serverHeader).toBe('Server: viaduct');
    expect(() => resolveSettings({ server_signature: 'maybe' as never }, cli, 2)).toThrow(/server_signature must be yes or no/);
    expect(() => resolveSettings({ server_header: 'Acme SBC' }, cli, 2)).toThrow(/server_header must be one header line/);
    expect(() => resolveSettings({ server_header: 'Server: a\r\nX-Injected: 1' }, cli, 2)).toThrow(/server_header must be one header line/);
    expect(() => resolveSettings({ user_agent_header: 7 as never }, cli, 2)).toThrow(/user_agent_header must be a string/);
  });
});
