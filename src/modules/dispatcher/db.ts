// The `dispatcher` table in SQLite (Kamailio's db_sqlite URL form: sqlite:///path/to/file.db),
// read with better-sqlite3 on the main thread at start-up and on reload.
import { createRequire } from 'node:module';
import { DispatcherListError, makeDestination, type DsDestination } from './list.js';

interface Statement { all(): Record<string, unknown>[] }
interface Database { prepare(sql: string): Statement; close(): void }
type DatabaseCtor = new (file: string, opts: { readonly: boolean; fileMustExist: boolean }) => Database;

/** The file of a `sqlite://` URL: sqlite:///abs/path.db or sqlite://relative/path.db */
export function sqlitePath(url: string): string {
  const m = /^sqlite:\/\/(.+)$/.exec(url.trim());
  if (!m) throw new DispatcherListError(url, 'db_url must be sqlite:///path/to/file.db (the only database supported)');
  return m[1]!;
}

const COLUMNS = ['id', 'setid', 'destination', 'flags', 'priority', 'attrs', 'description'];

/** Every row of `table`, ordered by id; a bad row is an error naming its id. */
export function loadTable(url: string, table: string): DsDestination[] {
  const file = sqlitePath(url);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(table)) throw new DispatcherListError(url, `bad table name "${table}"`);
  const Ctor = createRequire(import.meta.url)('better-sqlite3') as DatabaseCtor;
  let db: Database;
  try {
    db = new Ctor(file, { readonly: true, fileMustExist: true });
  } catch (e) {
    throw new DispatcherListError(url, `cannot open the database: ${(e as Error).message}`);
  }
  try {
    let rows: Record<string, unknown>[];
    try {
      rows = db.prepare(`SELECT ${COLUMNS.join(', ')} FROM ${table} ORDER BY id`).all();
    } catch (e) {
      throw new DispatcherListError(`${url} table ${table}`, `cannot read it (Kamailio's columns ${COLUMNS.join(', ')}): ${(e as Error).message}`);
    }
    return rows.map((r) => makeDestination(
      { setid: r.setid, uri: r.destination, flags: r.flags, priority: r.priority, attrs: r.attrs, description: r.description },
      `${url} table ${table} row id ${String(r.id)}`,
    ));
  } finally {
    db.close();
  }
}
