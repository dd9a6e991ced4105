// Loads a routing script: a plain KEMI JavaScript file (global functions, global KSR) or a
// TypeScript / ES module that exports its routes and `settings`. Both are compiled into one
// function in this thread's own context (vm.compileFunction keeps file names and lines in stack
// traces and runs at full speed, unlike a separate vm context).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import vm from 'node:vm';
import type { ScriptSettings } from './config.js';
import { hasKemiFunction, isKemiModule } from './ksr.js';

export class ScriptError extends Error {
  constructor(readonly file: string, readonly line: number, readonly reason: string) {
    super(`${file}:${line}: ${reason}`);
  }
}

export interface LoadedScript {
  file: string;
  settings: ScriptSettings | undefined;
  /** A function the script defines (global function or export), or undefined. */
  fn(name: string): ((...args: unknown[]) => unknown) | undefined;
}

const IDENT = /^[A-Za-z_$][\w$]*$/;

function needsTranspile(file: string, src: string): boolean {
  return /\.[cm]?ts$/.test(file) || /^\s*(import|export)\s/m.test(src);
}

function transpile(file: string, src: string): string {
  // Loaded on demand: the compiler is large, and plain KEMI files never need it.
  const ts = createRequire(import.meta.url)('typescript') as typeof import('typescript');
  const out = ts.transpileModule(src, {
    fileName: file,
    reportDiagnostics: true,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, sourceMap: false, removeComments: false },
  });
  const diag = out.diagnostics?.find((d) => d.category === ts.DiagnosticCategory.Error);
  if (diag) {
    const line = diag.file && diag.start !== undefined ? diag.file.getLineAndCharacterOfPosition(diag.start).line + 1 : 0;
    throw new ScriptError(file, line, ts.flattenDiagnosticMessageText(diag.messageText, '\n'));
  }
  return out.outputText;
}

/** Finds "file:line" for an error thrown while compiling or running the script's top level. */
function lineOf(err: unknown, file: string, src: string): number {
  const stack = err instanceof Error && err.stack ? err.stack : '';
  const esc = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`${esc}:(\\d+)`).exec(stack);
  if (!m) return 0;
  // an unexpected end of input points past the script, into our appended lookup
  const lines = src.split('\n').length - (src.endsWith('\n') ? 1 : 0);
  return Math.min(Number(m[1]), lines);
}

/** The script's text with comments blanked out (newlines kept, so offsets keep their lines). */
function withoutComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, (c) => c.replace(/[^\n]/g, ' '));
}

const KSR_CALL = /\bKSR\s*\.\s*([A-Za-z_$][\w$]*)(?:\s*\.\s*([A-Za-z_$][\w$]*))?\s*\(/g;

/**
 * Checks every KSR.<function>( and KSR.<module>.<function>( call in the script against the
 * module registry: a function viaduct lacks stops start-up here, with its line, instead of a
 * TypeError on every message later.
 */
export function checkKsrCalls(file: string, src: string): void {
  const text = withoutComments(src);
  for (const m of text.matchAll(KSR_CALL)) {
    const [, first, second] = m;
    const known = second === undefined ? hasKemiFunction(null, first!) : isKemiModule(first!) && hasKemiFunction(first!, second);
    if (!known) {
      const line = text.slice(0, m.index).split('\n').length;
      throw new ScriptError(file, line, `KSR.${second === undefined ? first : `${first}.${second}`} is not available`);
    }
  }
}

export function loadScript(path: string, ksr: object): LoadedScript {
  const file = resolve(path);
  let src: string;
  try {
    src = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ScriptError(file, 0, `cannot read the script: ${(e as Error).message}`);
  }
  checkKsrCalls(file, src);
  const code = needsTranspile(file, src) ? transpile(file, src) : src;
  // The trailing lookup closure sees the script's own scope, so plain KEMI files that declare
  // `function ksr_request_route()` need no exports. Names are checked before the eval.
  const body = `${code}\n;return function (__viaduct_name) { try { return eval(__viaduct_name); } catch { return undefined; } };`;
  let compiled: (...a: unknown[]) => (n: string) => unknown;
  try {
    compiled = vm.compileFunction(body, ['exports', 'require', 'module', 'KSR', '__filename', '__dirname'], { filename: file }) as typeof compiled;
  } catch (e) {
    throw new ScriptError(file, lineOf(e, file, src), (e as Error).message);
  }
  const mod = { exports: {} as Record<string, unknown> };
  const baseRequire = createRequire(file);
  const requireFn = (id: string): unknown => (id === 'viaduct' || id === 'viaduct/ksr' ? { KSR: ksr, default: ksr } : baseRequire(id));
  let lookup: (n: string) => unknown;
  try {
    lookup = compiled(mod.exports, requireFn, mod, ksr, file, dirname(file));
  } catch (e) {
    throw new ScriptError(file, lineOf(e, file, src), `error while loading: ${(e as Error).message}`);
  }
  const exported = mod.exports;
  const find = (name: string): unknown => {
    if (!IDENT.test(name)) return undefined;
    if (name in exported) return exported[name];
    return lookup(name);
  };
  const settings = find('settings');
  if (settings !== undefined && (typeof settings !== 'object' || settings === null)) {
    throw new ScriptError(file, 0, '`settings` must be an object');
  }
  if (typeof find('ksr_request_route') !== 'function') {
    throw new ScriptError(file, 1, 'no ksr_request_route() function: every script must define it');
  }
  return {
    file,
    settings: settings as ScriptSettings | undefined,
    fn(name: string) {
      const f = find(name);
      return typeof f === 'function' ? (f as (...args: unknown[]) => unknown) : undefined;
    },
  };
}
