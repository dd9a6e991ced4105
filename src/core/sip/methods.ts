// SIP request methods as Kamailio's method bit values (parser/msg_parser.h, METHOD_*),
// so that scripts and modules can test `methodId & (METHOD_INVITE | METHOD_BYE)`.

export const METHOD_UNDEF = 0;
export const METHOD_INVITE = 1;
export const METHOD_CANCEL = 2;
export const METHOD_ACK = 4;
export const METHOD_BYE = 8;
export const METHOD_INFO = 16;
export const METHOD_REGISTER = 32;
export const METHOD_SUBSCRIBE = 64;
export const METHOD_NOTIFY = 128;
export const METHOD_MESSAGE = 256;
export const METHOD_OPTIONS = 512;
export const METHOD_PRACK = 1024;
export const METHOD_UPDATE = 2048;
export const METHOD_REFER = 4096;
export const METHOD_PUBLISH = 8192;
export const METHOD_KDMQ = 16384;
export const METHOD_GET = 32768;
export const METHOD_POST = 65536;
export const METHOD_PUT = 131072;
export const METHOD_DELETE = 262144;
export const METHOD_OTHER = 524288;

/** Canonical name of every known method id (METHOD_OTHER and METHOD_UNDEF have none). */
export const METHOD_NAMES: Record<number, string> = {
  [METHOD_INVITE]: 'INVITE',
  [METHOD_CANCEL]: 'CANCEL',
  [METHOD_ACK]: 'ACK',
  [METHOD_BYE]: 'BYE',
  [METHOD_INFO]: 'INFO',
  [METHOD_REGISTER]: 'REGISTER',
  [METHOD_SUBSCRIBE]: 'SUBSCRIBE',
  [METHOD_NOTIFY]: 'NOTIFY',
  [METHOD_MESSAGE]: 'MESSAGE',
  [METHOD_OPTIONS]: 'OPTIONS',
  [METHOD_PRACK]: 'PRACK',
  [METHOD_UPDATE]: 'UPDATE',
  [METHOD_REFER]: 'REFER',
  [METHOD_PUBLISH]: 'PUBLISH',
  [METHOD_KDMQ]: 'KDMQ',
  [METHOD_GET]: 'GET',
  [METHOD_POST]: 'POST',
  [METHOD_PUT]: 'PUT',
  [METHOD_DELETE]: 'DELETE',
};

// METHOD_NAMES by bit position: the ids go up to 2**19, so METHOD_NAMES itself has sparse
// (dictionary) elements, and indexing it is a hash lookup.
const nameByBit: string[] = Array.from({ length: 32 }, () => '');
for (const [id, name] of Object.entries(METHOD_NAMES)) nameByBit[31 - Math.clz32(Number(id))] = name;

/** METHOD_NAMES[id] for a known method id (one bit set). */
export function methodName(id: number): string {
  return nameByBit[31 - Math.clz32(id)];
}

const byName = new Map<string, number>();
// Method names grouped by byte length, so a lookup from bytes compares at most a few
// candidates of the right length and never builds a string.
const byLength: { bytes: Uint8Array; id: number }[][] = [];
for (const [idStr, name] of Object.entries(METHOD_NAMES)) {
  const id = Number(idStr);
  byName.set(name, id);
  (byLength[name.length] ??= []).push({ bytes: Buffer.from(name, 'latin1'), id });
}

/** Method id of a method name. Methods are case-sensitive (RFC 3261 7.1): "invite" is METHOD_OTHER. */
export function methodIdOf(name: string): number {
  if (name.length === 0) return METHOD_UNDEF;
  return byName.get(name) ?? METHOD_OTHER;
}

/** Method id of the method name in buf[start, end), without decoding it. */
export function methodIdFromBytes(buf: Uint8Array, start: number, end: number): number {
  const len = end - start;
  if (len <= 0) return METHOD_UNDEF;
  const candidates = byLength[len];
  if (candidates === undefined) return METHOD_OTHER;
  for (let c = 0; c < candidates.length; c++) {
    const bytes = candidates[c].bytes;
    let i = 0;
    while (i < len && buf[start + i] === bytes[i]) i++;
    if (i === len) return candidates[c].id;
  }
  return METHOD_OTHER;
}
