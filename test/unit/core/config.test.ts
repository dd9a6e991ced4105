import { describe, expect, it } from 'vitest';
import { ConfigError, parseListen, parseLogLevel, resolveSettings, splitHostPort } from '../../../src/core/config.js';

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

  it('takes log levels as Kamailio users write them: names, aliases and debug= numbers', () => {
    expect(['alert', 'crit', 'err', 'warn', 'notice', 'info', 'dbg'].map(parseLogLevel)).toEqual(['alert', 'crit', 'err', 'warn', 'notice', 'info', 'dbg']);
    expect(['debug', 'DEBUG', 'error', 'warning', 'critical', ' Info '].map(parseLogLevel)).toEqual(['dbg', 'dbg', 'err', 'warn', 'crit', 'info']);
    // Kamailio's L_ALERT -5, L_BUG -4, L_CRIT2 -3, L_CRIT -2, L_ERR -1, L_WARN 0, L_NOTICE 1, L_INFO 2, L_DBG 3
    expect([-5, -4, -3, -2, -1, 0, 1, 2, 3].map(parseLogLevel)).toEqual(['alert', 'alert', 'alert', 'crit', 'err', 'warn', 'notice', 'info', 'dbg']);
    expect(parseLogLevel('3')).toBe('dbg');
    expect(parseLogLevel('-1')).toBe('err');
    for (const bad of ['loud', '4', '-6', '1.5', '']) expect(() => parseLogLevel(bad), bad).toThrow(ConfigError);
    expect(resolveSettings({ log_level: 'debug' }, cli, 2).logLevel).toBe('dbg');
    expect(resolveSettings({ log_level: 1 }, cli, 2).logLevel).toBe('notice');
    expect(resolveSettings({ log_level: 'info' }, { ...cli, logLevel: '3' }, 2).logLevel).toBe('dbg');
  });

  it('has a 2 s watchdog by default; the script sets it, --watchdog-ms overrides it, 0 turns it off', () => {
    expect(resolveSettings(undefined, cli, 2).watchdogMs).toBe(2000);
    expect(resolveSettings({ watchdog_ms: 500 }, cli, 2).watchdogMs).toBe(500);
    expect(resolveSettings({ watchdog_ms: 500 }, { ...cli, watchdogMs: 0 }, 2).watchdogMs).toBe(0);
  });

  it('limits received messages to 65535 bytes, 256 headers and 16 KiB header lines unless the script says otherwise', () => {
    expect(resolveSettings(undefined, cli, 2)).toMatchObject({ sipMaxMsgSize: 65535, sipMaxHeaders: 256, sipMaxHeaderSize: 16384 });
    expect(resolveSettings({ sip_max_msg_size: 4096, sip_max_headers: 2000, sip_max_header_size: 512 }, cli, 2))
      .toMatchObject({ sipMaxMsgSize: 4096, sipMaxHeaders: 2000, sipMaxHeaderSize: 512 });
    expect(() => resolveSettings({ sip_max_headers: 8 }, cli, 2)).toThrow(/sip_max_headers must be an integer of at least 16, got 8/);
    expect(() => resolveSettings({ sip_max_header_size: 100.5 }, cli, 2)).toThrow(/sip_max_header_size must be an integer/);
    expect(() => resolveSettings({ sip_max_msg_size: 'big' as unknown as number }, cli, 2)).toThrow(/sip_max_msg_size/);
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
