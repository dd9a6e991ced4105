// dispatcher: list and table loading, the shared table, and the selection algorithms.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadTable } from '../../../src/modules/dispatcher/db.js';
import { DS_DISABLED, DS_INACTIVE, DS_PROBING, DispatcherListError, parseListText } from '../../../src/modules/dispatcher/list.js';
import { parseStateLetters } from '../../../src/modules/dispatcher/index.js';
import { parseReplyCodes } from '../../../src/modules/dispatcher/probe.js';
import { ALG, dsHash, selectOrder, weightSlots } from '../../../src/modules/dispatcher/select.js';
import { buildTable, DsTable } from '../../../src/modules/dispatcher/table.js';

const dir = mkdtempSync(join(tmpdir(), 'viaduct-ds-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LIST = `# carriers
1 sip:10.0.0.1:5060 0 0 duid=a;weight=50
1 sip:10.0.0.2:5060 0x8 0 duid=b;weight=30   # probed
1 sip:10.0.0.3 0 0 duid=c;weight=20

2 sip:gw.example.com;transport=udp 0 10
2 sip:[2001:db8::1]:5080 4 5
`;

const table = (text: string) => new DsTable(buildTable(parseListText(text, 'test.list'), 2, 1));

describe('list file', () => {
  it('reads sets, decimal and hex flags, priorities, attrs, and skips comments', () => {
    const ds = parseListText(LIST, 'test.list');
    expect(ds.map((d) => [d.setid, d.uri, d.flags, d.priority])).toEqual([
      [1, 'sip:10.0.0.1:5060', 0, 0], [1, 'sip:10.0.0.2:5060', 8, 0], [1, 'sip:10.0.0.3', 0, 0],
      [2, 'sip:gw.example.com;transport=udp', 0, 10], [2, 'sip:[2001:db8::1]:5080', 4, 5],
    ]);
    expect(ds[0]!.attrs).toMatchObject({ duid: 'a', weight: 50 });
    expect(ds[2]).toMatchObject({ host: '10.0.0.3', port: 5060, uriPort: 0 });
    expect(ds[3]).toMatchObject({ transport: 'udp', host: 'gw.example.com' });
    expect(ds[4]).toMatchObject({ host: '2001:db8::1', port: 5080 });
    expect(ds[1]!.origin).toBe('test.list:3');
  });

  it.each([
    ['x sip:1.2.3.4', 'test.list:1: set id "x" is not an integer'],
    ['1', 'test.list:1: expected "setid destination [flags [priority [attrs]]]"'],
    ['1 http://a.b', 'test.list:1: bad destination "http://a.b"'],
    ['1 sip:1.2.3.4 zz', 'test.list:1: flags "zz" is not an integer'],
    ['1 sip:1.2.3.4 0 0 weight=500', 'test.list:1: attribute weight must be 1..100'],
    ['1 sip:1.2.3.4 0 0 rweight=0', 'test.list:1: attribute rweight must be 1..100'],
    ['1 sip:1.2.3.4 0 0 a=1 trailing', 'test.list:1: unexpected "trailing" after the attrs'],
    ['1 sip:1.2.3.4;transport=tcp', 'only UDP is supported'],
  ])('rejects %j with file, line and reason', (line, reason) => {
    const text = `# first line is a comment\n${line}\n`;
    let err: unknown;
    try { parseListText(text, 'test.list'); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(DispatcherListError);
    expect((err as Error).message.replace('test.list:2', 'test.list:1')).toContain(reason);
  });
});

describe('dispatcher table in SQLite', () => {
  const Database = createRequire(import.meta.url)('better-sqlite3');
  const file = join(dir, 'ds.db');
  const db = new Database(file);
  db.exec(`CREATE TABLE dispatcher (id INTEGER PRIMARY KEY AUTOINCREMENT, setid INTEGER NOT NULL DEFAULT 0,
    destination VARCHAR(192) NOT NULL DEFAULT '', flags INTEGER NOT NULL DEFAULT 0, priority INTEGER NOT NULL DEFAULT 0,
    attrs VARCHAR(128) NOT NULL DEFAULT '', description VARCHAR(64) NOT NULL DEFAULT '')`);
  const insert = db.prepare('INSERT INTO dispatcher (setid, destination, flags, priority, attrs, description) VALUES (?, ?, ?, ?, ?, ?)');
  insert.run(1, 'sip:10.0.0.1:5060', 0, 0, 'weight=60', 'first');
  insert.run(1, 'sip:10.0.0.2:5060', 8, 1, '', 'second');
  db.close();

  it("reads Kamailio's columns", () => {
    const ds = loadTable(`sqlite://${file}`, 'dispatcher');
    expect(ds.map((d) => [d.setid, d.uri, d.flags, d.priority, d.attrs.weight, d.description])).toEqual([
      [1, 'sip:10.0.0.1:5060', 0, 0, 60, 'first'], [1, 'sip:10.0.0.2:5060', 8, 1, undefined, 'second'],
    ]);
  });

  it('names the bad row, the missing table and the bad URL', () => {
    const w = new Database(file);
    w.prepare('INSERT INTO dispatcher (setid, destination) VALUES (?, ?)').run(2, 'not a uri');
    w.close();
    expect(() => loadTable(`sqlite://${file}`, 'dispatcher')).toThrow(/table dispatcher row id 3: bad destination "not a uri"/);
    expect(() => loadTable(`sqlite://${file}`, 'nosuch')).toThrow(/table nosuch: cannot read it/);
    expect(() => loadTable('mysql://u:p@h/db', 'dispatcher')).toThrow(/db_url must be sqlite:/);
    expect(() => loadTable(`sqlite://${join(dir, 'missing.db')}`, 'dispatcher')).toThrow(/cannot open the database/);
  });
});

describe('shared table', () => {
  it("orders a set by priority, equal priorities in reverse list order (Kamailio's)", () => {
    const t = table(LIST);
    expect(t.set(1)!.members.map((i) => t.dests[i]!.uri)).toEqual(['sip:10.0.0.3', 'sip:10.0.0.2:5060', 'sip:10.0.0.1:5060']);
    expect(t.set(2)!.members.map((i) => t.dests[i]!.priority)).toEqual([10, 5]);
  });

  it("prints Kamailio's flag letters and keeps P when the state changes", () => {
    const t = table(LIST);
    const b = t.findUri(1, 'sip:10.0.0.2:5060')!;
    expect(t.flagLetters(b)).toBe('AP');
    t.setState(b, DS_INACTIVE);
    expect(t.flagLetters(b)).toBe('IP');
    expect(t.usable(b)).toBe(false);
    t.setState(b, 0, false);
    expect(t.flagLetters(b)).toBe('AX');
    expect(t.flagLetters(t.findUri(2, 'sip:[2001:db8::1]:5080')!)).toBe('DX');
  });

  it('keeps the state of unchanged destinations across a rebuild, and is seen through a second view at once', () => {
    const first = table(LIST);
    const other = new DsTable(first.data); // another thread's view of the same memory
    const a = first.findUri(1, 'sip:10.0.0.1:5060')!;
    first.setState(a, DS_INACTIVE, true);
    expect(other.flagLetters(a)).toBe('IP');
    const changed = LIST.replace('sip:10.0.0.3 0 0', 'sip:10.0.0.3 0 7');
    const next = new DsTable(buildTable(parseListText(changed, 'test.list'), 2, 2, first));
    expect(next.flagLetters(next.findUri(1, 'sip:10.0.0.1:5060')!)).toBe('IP');
    const changedDest = next.findUri(1, 'sip:10.0.0.3')!;
    expect(next.dests[changedDest]!.priority).toBe(7);
    expect(next.flagLetters(changedDest)).toBe('AX');
  });
});

describe('selection', () => {
  const three = table('1 sip:10.0.0.1 0 0 weight=50;rweight=50\n1 sip:10.0.0.2 0 0 weight=30;rweight=30\n1 sip:10.0.0.3 0 0 weight=20;rweight=20\n');
  const uri = (t: DsTable, i: number) => t.dests[i]!.uri;
  const shares = (t: DsTable, alg: number, n: number, key = () => 0): Record<string, number> => {
    const out: Record<string, number> = {};
    for (let k = 0; k < n; k++) {
      const u = uri(t, selectOrder(t, 1, alg, key())[0]!);
      out[u] = (out[u] ?? 0) + 1;
    }
    return out;
  };

  it('round-robin gives each destination the same share and skips an inactive one', () => {
    const t = table('1 sip:10.0.0.1\n1 sip:10.0.0.2\n1 sip:10.0.0.3\n');
    expect(shares(t, ALG.ROUND_ROBIN, 3000)).toEqual({ 'sip:10.0.0.1': 1000, 'sip:10.0.0.2': 1000, 'sip:10.0.0.3': 1000 });
    t.setState(t.findUri(1, 'sip:10.0.0.2')!, DS_INACTIVE);
    expect(shares(t, ALG.ROUND_ROBIN, 3000)).toEqual({ 'sip:10.0.0.1': 1500, 'sip:10.0.0.3': 1500 }); // evenly, as Kamailio
  });

  it('weight and relative weight follow the weights; relative weight redistributes over live ones', () => {
    expect(shares(three, ALG.WEIGHT, 1000)).toEqual({ 'sip:10.0.0.1': 500, 'sip:10.0.0.2': 300, 'sip:10.0.0.3': 200 });
    expect(shares(three, ALG.RELATIVE_WEIGHT, 1000)).toEqual({ 'sip:10.0.0.1': 500, 'sip:10.0.0.2': 300, 'sip:10.0.0.3': 200 });
    const t = table('1 sip:10.0.0.1 0 0 rweight=50\n1 sip:10.0.0.2 0 0 rweight=30\n1 sip:10.0.0.3 0 0 rweight=20\n');
    t.setState(t.findUri(1, 'sip:10.0.0.1')!, DS_INACTIVE);
    expect(shares(t, ALG.RELATIVE_WEIGHT, 1000)).toEqual({ 'sip:10.0.0.2': 600, 'sip:10.0.0.3': 400 });
    expect(weightSlots([{ i: 0, w: 1 }, { i: 1, w: 1 }]).slice(0, 4)).toEqual([0, 1, 0, 1]);
  });

  it('hashing moves only the calls of a destination that goes down, and brings the same ones back', () => {
    const t = table('1 sip:10.0.0.1\n1 sip:10.0.0.2\n1 sip:10.0.0.3\n1 sip:10.0.0.4\n');
    const keys = Array.from({ length: 4000 }, (_, k) => dsHash(`call-${k}@host`));
    const pick = () => keys.map((k) => selectOrder(t, 1, ALG.HASH_CALLID, k)[0]!);
    const before = pick();
    const counts = [0, 1, 2, 3].map((d) => before.filter((x) => x === d).length);
    for (const c of counts) expect(c).toBeGreaterThan(800); // spread: 1000 each, give or take
    const dead = t.findUri(1, 'sip:10.0.0.2')!;
    t.setState(dead, DS_INACTIVE);
    const during = pick();
    keys.forEach((_, k) => {
      if (before[k] !== dead) expect(during[k]).toBe(before[k]); // live destinations keep their calls
      else expect(during[k]).not.toBe(dead);
    });
    const moved = during.filter((x, k) => before[k] === dead);
    expect(new Set(moved).size).toBe(3); // spread over the three others, not all on one neighbour
    t.setState(dead, 0);
    expect(pick()).toEqual(before);
  });

  it('priority picks the highest, call load the least loaded under maxload, latency the fastest', () => {
    const t = table('1 sip:10.0.0.1 0 1 maxload=2\n1 sip:10.0.0.2 0 9 maxload=1\n');
    expect(uri(t, selectOrder(t, 1, ALG.PRIORITY, 0)[0]!)).toBe('sip:10.0.0.2');
    const a = t.findUri(1, 'sip:10.0.0.1')!;
    const b = t.findUri(1, 'sip:10.0.0.2')!;
    t.addLoad(b, 1);
    expect(selectOrder(t, 1, ALG.CALL_LOAD, 0)).toEqual([a]);
    t.addLoad(a, 2);
    expect(selectOrder(t, 1, ALG.CALL_LOAD, 0)).toEqual([]);
    expect(selectOrder(t, 1, ALG.ALL, 0)).toEqual([b, a]);
    expect(selectOrder(t, 9, ALG.ROUND_ROBIN, 0)).toEqual([]);
  });

  it("computes Kamailio's ds_get_hash bit for bit", () => {
    // Kamailio 5.6 `kamcmd dispatcher.hash 0 VALUE` (hashid printed as a signed int)
    const kamailio: [string, string | null, number][] = [
      ['abc', null, 7167810], ['abcd', null, 1834959896], ['abcde', null, 1834960001],
      ['call-1@host', null, -1742796366], ['héllo', null, 1800151102], ['alice', 'example.com', 1442294598],
    ];
    for (const [a, b, h] of kamailio) expect(dsHash(a, b) | 0).toBe(h);
    expect(dsHash('alice', 'example.com') % 7).toBe(3); // Kamailio's `dispatcher.hash 7 alice example.com`: slot 3
  });
});

describe('state letters and reply codes', () => {
  it('parses ds_mark_dst letters', () => {
    expect(parseStateLetters('ip')).toEqual({ state: DS_INACTIVE, probing: true });
    expect(parseStateLetters('a')).toEqual({ state: 0, probing: false });
    expect(parseStateLetters('dp')).toEqual({ state: DS_DISABLED, probing: true });
    expect(parseStateLetters('x')).toBeNull();
    expect(DS_PROBING).toBe(8);
  });
  it('parses ds_ping_reply_codes', () => {
    const r = parseReplyCodes('class=4;code=503');
    expect([...r.classes]).toEqual([4]);
    expect([...r.codes]).toEqual([503]);
    expect(() => parseReplyCodes('code=99')).toThrow(/bad ds_ping_reply_codes entry/);
  });
});
