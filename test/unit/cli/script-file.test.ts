import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kamailioCfgSign, unreadableScript } from '../../../src/cli/script-file.js';

const dir = mkdtempSync(join(tmpdir(), 'viaduct-script-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('the SCRIPT of viaduct run', () => {
  it('is there and is a file', () => {
    expect(unreadableScript(file('ok.js', 'function ksr_request_route() {}\n'))).toBeNull();
    expect(unreadableScript(join(dir, 'missing.js'))).toBe(`no such file: ${join(dir, 'missing.js')}`);
    expect(unreadableScript(dir)).toBe(`${dir} is a directory, not a routing script`);
  });

  it('is recognised as a kamailio.cfg by its name, its first line, or a route block or loadmodule line', () => {
    expect(kamailioCfgSign(join(dir, 'absent.cfg'))).toBe('its name ends in .cfg');
    expect(kamailioCfgSign(file('a.conf', '#!KAMAILIO\n#!define WITH_NAT\n'))).toBe('it starts with #!KAMAILIO');
    expect(kamailioCfgSign(file('b.js', '#!OPENSER\n'))).toBe('it starts with #!OPENSER');
    expect(kamailioCfgSign(file('c', 'debug=2\nloadmodule "tm.so"\n'))).toBe('it has the kamailio.cfg line \'loadmodule "tm.so"\'');
    expect(kamailioCfgSign(file('d.txt', '# proxy\nrequest_route {\n  forward();\n}\n'))).toBe('it has the kamailio.cfg line \'request_route {\'');
    expect(kamailioCfgSign(file('e', 'route[RELAY] {\n  t_relay();\n}\n'))).toBe('it has the kamailio.cfg line \'route[RELAY] {\'');
    expect(kamailioCfgSign(file('f', 'event_route[dispatcher:dst-down] {\n}\n'))).toMatch(/event_route\[dispatcher:dst-down\] \{/);
  });

  it('is not taken for a kamailio.cfg when it is a script that quotes one, or a plain script', () => {
    expect(kamailioCfgSign(file('port.js', '/* was, in kamailio.cfg:\nrequest_route {\n  loadmodule "sl.so"\n}\n*/\nfunction ksr_request_route() {}\n'))).toBeNull();
    expect(kamailioCfgSign(file('shebang.js', '#!/usr/bin/env node\nfunction ksr_request_route() {}\n'))).toBeNull();
    expect(kamailioCfgSign(file('proxy.ts', 'export function ksr_request_route(): void { route(); }\n'))).toBeNull();
    expect(kamailioCfgSign(file('noext', 'function ksr_request_route() { KSR.route("RELAY"); }\nfunction ksr_route_RELAY() {}\n'))).toBeNull();
    expect(kamailioCfgSign(join(dir, 'missing.js'))).toBeNull();
  });
});
