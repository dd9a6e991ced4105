// Repository-relative paths. The bench runs compiled (dist/bench/*.js) and the e2e
// harness imports these modules from source (bench/*.ts), so the root is found by
// walking up to our package.json rather than by a fixed number of '..'.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepoRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).name === 'viaduct') return dir;
    if (dirname(dir) === dir) throw new Error(`no viaduct package.json above ${start}`);
  }
}

export const repoRoot = findRepoRoot(dirname(fileURLToPath(import.meta.url)));

/** Absolute path of a repository-relative path. */
export const repoPath = (...parts: string[]): string => resolve(repoRoot, ...parts);

/** The compiled viaduct command line entry point. */
export const viaductCli = repoPath('dist/src/cli/main.js');
