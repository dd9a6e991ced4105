// The module registry (src/modules/index.ts) is the one list: KSR, app_jsdt.api_list and the
// start-up check of a script's KSR calls are built from it, and agree with each other.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MsgContext } from '../../../src/core/context.js';
import { apiList, modules } from '../../../src/core/ksr.js';
import { parseMessage } from '../../../src/core/sip/parser.js';
import { pvSpec, registerModulePv } from '../../../src/core/pv.js';
import { loadScript, ScriptError } from '../../../src/core/script.js';
import { COUNTERS, counterId, registerModuleCounters } from '../../../src/core/stats/counters.js';
import { minimalInvite, setup } from './ksr-harness.js';

const INVITE = minimalInvite('registry-1', 'z9hG4bKreg1');

describe('module registry', () => {
  it('KSR has exactly the functions the registry declares, under their module', () => {
    const { KSR } = setup();
    const ksr = KSR as unknown as Record<string, unknown>;
    const expected: string[] = [];
    for (const [name, mod] of modules()) for (const fn of Object.keys(mod.functions)) expected.push(name ? `${name}.${fn}` : fn);
    const actual: string[] = [];
    for (const [k, v] of Object.entries(ksr)) {
      if (typeof v === 'function') actual.push(k);
      else for (const [fn, f] of Object.entries(v as Record<string, unknown>)) if (typeof f === 'function') actual.push(`${k}.${fn}`);
    }
    expect(actual.sort()).toEqual(expected.sort());
  });

  it('app_jsdt.api_list lists every function with Kamailio\'s type names, core functions under module ""', () => {
    const list = apiList();
    // every function but KSR.x's, which Kamailio adds beside its KEMI exports and does not list
    const total = modules().reduce((n, [name, m]) => n + (name === 'x' ? 0 : Object.keys(m.functions).length), 0);
    expect(list.msize).toBe(total);
    expect(list.methods.length).toBe(total);
    expect(total).toBeGreaterThanOrEqual(100);
    const find = (module: string, name: string) => list.methods.find((m) => m.func.module === module && m.func.name === name)?.func;
    expect(find('sl', 'sl_send_reply')).toEqual({ ret: 'int', module: 'sl', name: 'sl_send_reply', params: 'int, str' });
    expect(find('dispatcher', 'ds_select_dst')?.params).toBe('int, int');
    expect(find('dispatcher', 'ds_select_dst_limit')?.params).toBe('int, int, int');
    expect(find('', 'setdsturi')).toEqual({ ret: 'int', module: '', name: 'setdsturi', params: 'str' });
    expect(find('', 'is_INVITE')).toEqual({ ret: 'bool', module: '', name: 'is_INVITE', params: 'none' });
    expect(find('pv', 'get')?.ret).toBe('xval');
    expect(find('x', 'exit')).toBeUndefined();
    for (const m of list.methods) {
      expect(['none', 'int', 'bool', 'str', 'xval']).toContain(m.func.ret);
      expect(m.func.params).toMatch(/^(none|(int|str)(, (int|str))*)$/);
    }
  });

  it('a function restricted to some route kinds returns -1 elsewhere and does nothing', () => {
    const h = setup();
    let inReply = 0;
    h.core.routes = {
      request: () => { h.KSR.forward_uri('sip:127.0.0.1:5070'); },
      reply: () => { inReply = h.KSR.sl.sl_send_reply(200, 'OK'); },
      named: () => undefined,
    };
    // a reply through us: our Via on top, the client's below it
    const reply = `SIP/2.0 180 Ringing
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKvdx
Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bKreg1
From: <sip:alice@example.com>;tag=f1
To: <sip:bob@example.com>;tag=t9
Call-ID: registry-1
CSeq: 1 INVITE
Content-Length: 0

`;
    const sent: string[] = [];
    const transport = h.core.transport as { send: (...a: unknown[]) => void };
    const send = transport.send;
    transport.send = (...a: unknown[]) => { sent.push(String(a[1])); send(...a); };
    h.core.receive(Buffer.from(reply.replace(/\n/g, '\r\n')), '127.0.0.1', 5070, 0);
    expect(inReply).toBe(-1);
    expect(sent.length).toBe(1);
    expect(sent[0]).toMatch(/^SIP\/2.0 180 Ringing/); // the reply went on, no 200 was made up
    expect(h.run(() => { expect(h.KSR.sl.sl_send_reply(404, 'Not Here')).toBe(1); }, INVITE)[0]!.text).toMatch(/^SIP\/2.0 404 Not Here/);
  });

  it('a route runs for a stored message: KSR functions act on the context given to withContext', () => {
    const h = setup();
    const stored = new MsgContext(h.core);
    stored.reset(parseMessage(Buffer.from(INVITE.replace(/\n/g, '\r\n').replace('registry-1', 'stored-7'))), '192.0.2.99', 5099, h.core.sockets[0]!);
    const seen: unknown[] = [];
    h.run(() => {
      seen.push(h.KSR.pv.get('$ci'));
      h.core.withContext(stored, () => { seen.push(h.KSR.pv.get('$ci'), h.KSR.pv.get('$si')); h.KSR.setflag(3); });
      seen.push(h.KSR.pv.get('$ci'), h.KSR.isflagset(3));
    }, INVITE);
    expect(seen).toEqual(['registry-1', 'stored-7', '192.0.2.99', 'registry-1', false]);
    expect(stored.flags).toBe(8);
  });

  it('module statistics get columns after the static counters; the same names keep their ids', () => {
    const before = COUNTERS.length;
    const ids = registerModuleCounters('testmod', ['things', 'other_things']);
    expect(ids).toEqual([before, before + 1]);
    expect(registerModuleCounters('testmod', ['things'])).toEqual([before]);
    expect(counterId('testmod:other_things')).toBe(before + 1);
    expect(registerModuleCounters('sl', ['sent_replies'])).toEqual([counterId('sl:sent_replies')]);
  });

  it('a module pseudo-variable is found by pvSpec, with its argument', () => {
    registerModulePv('T_test', { get: (ctx, arg) => `${arg}:${ctx.msg.callId()}` });
    const h = setup();
    let v: unknown;
    h.run(() => { v = pvSpec('$T_test(req)').get(h.core); }, INVITE);
    expect(v).toBe('req:registry-1');
  });
});

describe('start-up check of the script', () => {
  const dir = mkdtempSync(join(tmpdir(), 'viaduct-registry-'));
  const load = (text: string) => {
    const file = join(dir, `s${Math.random().toString(36).slice(2)}.js`);
    writeFileSync(file, text);
    try {
      return loadScript(file, setup().KSR);
    } finally {
      rmSync(file);
    }
  };
  const failure = (text: string): ScriptError => {
    try {
      load(text);
    } catch (e) {
      if (e instanceof ScriptError) return e;
      throw e;
    }
    throw new Error('the script loaded');
  };

  it('names the line of a KSR call viaduct lacks, module or core, and ignores comments', () => {
    let e = failure('function ksr_request_route() {\n  /* KSR.nope.x() */\n  KSR.sl.sl_send_reply(200, "ok");\n  KSR.registrar.save("location", 0);\n}\n');
    expect([e.line, e.reason]).toEqual([4, 'KSR.registrar.save is not available']);
    e = failure('function ksr_request_route() {\n  KSR.sl.no_such_reply(200, "ok");\n}\n');
    expect([e.line, e.reason]).toEqual([2, 'KSR.sl.no_such_reply is not available']);
    e = failure('function ksr_request_route() { KSR\n  .no_such_core(); }\n');
    expect([e.line, e.reason]).toEqual([1, 'KSR.no_such_core is not available']);
  });

  it('refuses a script without ksr_request_route, and loads one with it', () => {
    expect(failure('function ksr_reply_route() {}\n').reason).toMatch(/no ksr_request_route\(\) function/);
    const s = load('// KSR.registrar.save() is mentioned in a comment only\nfunction ksr_request_route() { KSR.x.exit(); }\n');
    expect(typeof s.fn('ksr_request_route')).toBe('function');
  });
});
