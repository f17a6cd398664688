/**
 * The EBML encoding WebM files are made of (RFC 8794): element IDs, variable-size integers, and
 * elements of unsigned integers, floats, strings, bytes and children.
 *
 * @module
 */

/** A one-byte VINT that means "size unknown" is ambiguous; this is the 8-byte form (RFC 8794 §6.2). */
export const UNKNOWN_SIZE: Uint8Array = Uint8Array.of(
  0x01,
  0xff,
  0xff,
  0xff,
  0xff,
  0xff,
  0xff,
  0xff,
);

/** Concatenates byte arrays. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** An element ID's bytes (the ID already carries its length marker). */
export function idBytes(id: number): Uint8Array {
  const n = id >= 0x1000000 ? 4 : id >= 0x10000 ? 3 : id >= 0x100 ? 2 : 1;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (id >>> (8 * (n - 1 - i))) & 0xff;
  return out;
}

/** `n` as a VINT of exactly `width` bytes (1 to 8). */
export function vintOf(n: number, width: number): Uint8Array {
  if (n >= 2 ** (7 * width) - 1) throw new RangeError(`${n} does not fit a ${width}-byte VINT`);
  const out = new Uint8Array(width);
  let v = n;
  for (let i = width - 1; i >= 0; i--) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
  out[0] |= 0x80 >> (width - 1);
  return out;
}

/** `n` as the shortest VINT. */
export function vint(n: number): Uint8Array {
  let width = 1;
  while (n >= 2 ** (7 * width) - 1) width++;
  return vintOf(n, width);
}

/** An element: ID, size, payload. */
export function element(id: number, payload: Uint8Array): Uint8Array {
  return concat([idBytes(id), vint(payload.length), payload]);
}

/** A master element of `children`. */
export function master(id: number, children: readonly Uint8Array[]): Uint8Array {
  return element(id, concat(children));
}

/** An unsigned integer element, in as few bytes as it needs (or exactly `width`). */
export function uint(id: number, n: number, width?: number): Uint8Array {
  let w = width ?? 1;
  if (width === undefined) { while (n >= 2 ** (8 * w)) w++; }
  const out = new Uint8Array(w);
  let v = n;
  for (let i = w - 1; i >= 0; i--) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
  return element(id, out);
}

/** A signed 16-bit big-endian integer's bytes. */
export function int16(n: number): Uint8Array {
  return Uint8Array.of((n >> 8) & 0xff, n & 0xff);
}

/** A 64-bit float element. */
export function float(id: number, n: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setFloat64(0, n);
  return element(id, out);
}

/** A UTF-8 string element. */
export function string(id: number, s: string): Uint8Array {
  return element(id, new TextEncoder().encode(s));
}

/** A Void element (ID 0xEC) of exactly `total` bytes (at least 2), a placeholder to overwrite. */
export function voidOf(total: number): Uint8Array {
  const width = total - 1 > 127 ? 8 : 1;
  const out = new Uint8Array(total);
  out[0] = 0xec;
  out.set(vintOf(total - 1 - width, width), 1);
  return out;
}
