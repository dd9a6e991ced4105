// Named slot layouts: a region of shared (or plain) memory described once, as a list of named
// fields, from which plain numeric constants come out. Hot paths index a typed array with those
// constants (`ctl[RING.head]`, or a module const copied from it): no getter, no lookup by name.
//
// Each field's constant is its index in a typed array of its own element type laid over the
// start of the region: an 'i32' field's index in an Int32Array, an 'f64' field's in a
// Float64Array, a 'u8' field's byte offset. Fields are placed in the order written, each aligned
// to its element size; `BYTES` is the whole region, rounded up to `align`.
//
//   const RING = defineLayout({ head: 'i32', tail: 'i32', drops: 'i32' }, { align: 64 });
//   RING.head === 0, RING.tail === 1, RING.drops === 2, RING.BYTES === 64

export type SlotType = 'i32' | 'f64' | 'u8';
/** One slot of a type, or `[type, count]` for a run of them (its constant is the first index). */
export type FieldSpec = SlotType | readonly [SlotType, number];

export type Layout<F extends Record<string, FieldSpec>> = { readonly [K in keyof F]: number } & {
  /** Bytes of the region, a multiple of the `align` option. */
  readonly BYTES: number;
};

const SIZE: Record<SlotType, number> = { i32: 4, f64: 8, u8: 1 };

/** Lays out `fields` in order; throws on a bad count or a name that collides with BYTES. */
export function defineLayout<F extends Record<string, FieldSpec>>(fields: F, opts: { align?: number } = {}): Layout<F> {
  const align = opts.align ?? 8;
  if (!Number.isInteger(align) || align < 1 || (align & (align - 1)) !== 0) throw new RangeError(`align must be a power of two: ${align}`);
  const out: Record<string, number> = {};
  let at = 0;
  for (const [name, spec] of Object.entries(fields)) {
    if (name === 'BYTES') throw new Error('a layout field cannot be called BYTES');
    const [type, count] = typeof spec === 'string' ? [spec, 1] : spec;
    const size = SIZE[type];
    if (size === undefined) throw new Error(`field ${name}: unknown slot type ${String(type)}`);
    if (!Number.isInteger(count) || count < 0) throw new RangeError(`field ${name}: bad count ${count}`);
    at = Math.ceil(at / size) * size;
    out[name] = at / size;
    at += size * count;
  }
  out.BYTES = Math.ceil(at / align) * align;
  // Object.fromEntries keeps fast properties (see counters.ts): `L.x` stays a plain field load
  return Object.freeze(Object.fromEntries(Object.entries(out))) as Layout<F>;
}

/** `n` rounded up to a multiple of 8 (where a Float64 run may start). */
export function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}
