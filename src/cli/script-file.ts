// What `viaduct run` checks about its SCRIPT argument before starting anything: that it is there,
// and that it is not a kamailio.cfg (its front end is not built yet; running one as JavaScript
// would only give a syntax error that says nothing useful).
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { extname } from 'node:path';

/** The extensions a routing script has; only the first line of such a file is looked at. */
const SCRIPT_EXTENSIONS = new Set(['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts']);
/** kamailio.cfg's first-line compatibility tags (#!KAMAILIO, #!OPENSER, #!SER, #!MAXCOMPAT, #!ALL). */
const CFG_TAG = /^#!(KAMAILIO|OPENSER|SER|MAXCOMPAT|ALL)\b/;
/** A route block or a loadmodule line at the start of a line: kamailio.cfg, and not valid JavaScript. */
const CFG_LINE = /^[ \t]*(?:(?:request_|reply_|onreply_|failure_|branch_|onsend_|event_)?route[ \t]*(?:\[[^\]\n]*\])?[ \t]*\{|loadmodule[ \t]+")[^\n]*/m;
const HEAD_BYTES = 64 * 1024;

/** Why `file` cannot be run: "no such file", a directory; null when it can be read. */
export function unreadableScript(file: string): string | null {
  try {
    if (statSync(file).isDirectory()) return `${file} is a directory, not a routing script`;
    return null;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `no such file: ${file}` : `cannot read ${file}: ${(e as Error).message}`;
  }
}

function head(file: string): string {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(HEAD_BYTES);
    return buf.toString('utf8', 0, readSync(fd, buf, 0, HEAD_BYTES, 0));
  } finally {
    closeSync(fd);
  }
}

/**
 * What gives `file` away as a kamailio.cfg, or null: a .cfg name, a first line such as
 * #!KAMAILIO, or (in a file without a script's extension) a route block or loadmodule line.
 */
export function kamailioCfgSign(file: string): string | null {
  const ext = extname(file).toLowerCase();
  if (ext === '.cfg') return 'its name ends in .cfg';
  let text: string;
  try {
    text = head(file);
  } catch {
    return null; // loading it will say what is wrong
  }
  const tag = CFG_TAG.exec(text);
  if (tag) return `it starts with ${tag[0]}`;
  if (SCRIPT_EXTENSIONS.has(ext)) return null; // a comment may quote kamailio.cfg lines
  const line = CFG_LINE.exec(text);
  return line ? `it has the kamailio.cfg line '${line[0].trim().slice(0, 60)}'` : null;
}
