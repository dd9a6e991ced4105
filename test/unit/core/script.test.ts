import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadScript, ScriptError } from '../../../src/core/script.js';

const dir = mkdtempSync(join(tmpdir(), 'viaduct-script-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('loadScript', () => {
  const ksr = { tag: 'the-ksr' };
  it('loads a plain KEMI file: global functions see the global KSR', () => {
    const s = loadScript(file('kemi.js', 'var settings = { workers: 2 };\nfunction ksr_request_route() { return KSR.tag; }\n'), ksr);
    expect(s.fn('ksr_request_route')!()).toBe('the-ksr');
    expect(s.fn('ksr_reply_route')).toBeUndefined();
    expect(s.settings).toEqual({ workers: 2 });
  });
  it('loads a TypeScript module with exports and an import of the KSR type', () => {
    const s = loadScript(file('mod.ts', [
      "import type { KSR as K } from 'viaduct';",
      "import { KSR as real } from 'viaduct';",
      'export const settings = { listen: ["udp:127.0.0.1:5099"] };',
      'function helper(x: number): number { return x * 2; }',
      'export function ksr_request_route(): unknown { return [real.tag, helper(21)]; }',
    ].join('\n')), ksr);
    expect(s.fn('ksr_request_route')!()).toEqual(['the-ksr', 42]);
    expect(s.fn('helper')!(2)).toBe(4);
    expect(s.settings).toEqual({ listen: ['udp:127.0.0.1:5099'] });
  });
  it('reports a syntax error with file and line', () => {
    const p = file('bad.js', 'function ok() {}\n\nvar x = ;\nfunction f() {}\n');
    try {
      loadScript(p, ksr);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ScriptError);
      expect((e as ScriptError).file).toBe(p);
      expect((e as ScriptError).line).toBe(3);
    }
  });
  it('reports a TypeScript syntax error and a top-level exception with their lines', () => {
    expect(() => loadScript(file('bad.ts', 'const a: number = 1;\nconst b: number = ;\nexport {};\n'), ksr)).toThrow(/bad\.ts:2:/);
    expect(() => loadScript(file('throws.js', '\n\nundefinedThing.call();\n'), ksr)).toThrow(/throws\.js:3: error while loading/);
    expect(() => loadScript(join(dir, 'missing.js'), ksr)).toThrow(/cannot read/);
    // an error at the end of the file is reported on its last line, not past it
    expect(() => loadScript(file('eof.js', 'function a() {}\nfunction b( {\n'), ksr)).toThrow(/eof\.js:2:/);
  });
});
