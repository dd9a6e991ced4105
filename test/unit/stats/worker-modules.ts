/**
 * Worker threads cannot load our .ts sources under vitest, so tests that need real threads
 * transpile the modules they use into a temp directory as .mjs. Relative imports are pointed at
 * the sibling .mjs files and package imports at their resolved files (the temp directory has no
 * node_modules to resolve them from).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

const require = createRequire(import.meta.url);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface WorkerModules {
  dir: string;
  /** File URL of a transpiled module or an extra file, by base name without extension. */
  url(name: string): URL;
  cleanup(): Promise<void>;
}

/** sources: repository-relative .ts paths; scripts: extra .mjs files (name -> code) for workers. */
export async function compileForWorkers(sources: string[], scripts: Record<string, string> = {}): Promise<WorkerModules> {
  const dir = await mkdtemp(join(tmpdir(), 'viaduct-test-'));
  for (const src of sources) {
    const { outputText } = ts.transpileModule(await readFile(join(ROOT, src), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    const code = outputText.replace(/from '([^']+)'/g, (_, spec: string) =>
      spec.startsWith('.')
        ? `from './${basename(spec).replace(/\.js$/, '.mjs')}'` // every module sits flat in dir
        : spec.startsWith('node:') ? `from '${spec}'` // built in
        : `from '${pathToFileURL(require.resolve(spec)).href}'`,
    );
    await writeFile(join(dir, basename(src, '.ts') + '.mjs'), code);
  }
  for (const [name, code] of Object.entries(scripts)) await writeFile(join(dir, `${name}.mjs`), code);
  return {
    dir,
    url: (name) => pathToFileURL(join(dir, `${name}.mjs`)),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
