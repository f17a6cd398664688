/**
 * H.264 over RTP (RFC 6184, packetization mode 1), read from the NAL unit headers alone: which
 * NAL unit types a packet carries (single NAL unit, STAP-A, FU-A), the parameter sets it holds,
 * and the few packets the keyframe cache writes itself (a STAP-A of parameter sets).
 *
 * Hand-written because werift's depacketizer parses and copies the whole payload; this runs for
 * every video packet of an H.264 publication (once per packet and layer, not per player) and
 * reads one byte per NAL unit header, allocating nothing.
 *
 * @module
 */

/** NAL unit types (ITU-T H.264 Table 7-1, RFC 6184 Table 3). */
export const NAL = {
  /** Coded slice of an IDR picture. */
  IDR: 5,
  /** Supplemental enhancement information. */
  SEI: 6,
  /** Sequence parameter set. */
  SPS: 7,
  /** Picture parameter set. */
  PPS: 8,
  /** Access unit delimiter. */
  AUD: 9,
  /** Single-time aggregation packet. */
  STAP_A: 24,
  /** Fragmentation unit. */
  FU_A: 28,
} as const;

/** Bit `1 << type` of each NAL unit type a packet carries. */
export type NalMask = number;

/**
 * The NAL unit types in an RTP payload, as a bit mask (`1 << type`): the unit of a single NAL
 * unit packet, every unit aggregated in a STAP-A, or the fragmented unit's type for the first
 * fragment of a FU-A only (a later fragment carries no header of its own: 0).
 */
export function nalTypes(p: Uint8Array): NalMask {
  if (p.length < 1) return 0;
  const type = p[0] & 0x1f;
  if (type >= 1 && type <= 23) return 1 << type;
  if (type === NAL.STAP_A) {
    let mask = 0;
    let i = 1;
    while (i + 2 < p.length) {
      const size = (p[i] << 8) | p[i + 1];
      if (size === 0 || i + 2 + size > p.length) break;
      mask |= 1 << (p[i + 2] & 0x1f);
      i += 2 + size;
    }
    return mask;
  }
  if (type === NAL.FU_A && p.length > 1 && (p[1] & 0x80) !== 0) return 1 << (p[1] & 0x1f);
  return 0;
}

/**
 * Calls `each` with every SPS and PPS NAL unit in a single NAL unit packet or a STAP-A (views
 * into `p`, not copies). Parameter sets are never fragmented in practice (a few dozen bytes).
 */
export function forEachParameterSet(p: Uint8Array, each: (nal: Uint8Array) => void): void {
  if (p.length < 1) return;
  const type = p[0] & 0x1f;
  if (type === NAL.SPS || type === NAL.PPS) {
    each(p);
    return;
  }
  if (type !== NAL.STAP_A) return;
  let i = 1;
  while (i + 2 < p.length) {
    const size = (p[i] << 8) | p[i + 1];
    if (size === 0 || i + 2 + size > p.length) return;
    const nal = p[i + 2] & 0x1f;
    if (nal === NAL.SPS || nal === NAL.PPS) each(p.subarray(i + 2, i + 2 + size));
    i += 2 + size;
  }
}

/** A STAP-A (RFC 6184 §5.7.1) aggregating `nals`; its NRI is the highest of theirs. */
export function stapA(nals: readonly Uint8Array[]): Uint8Array {
  let length = 1;
  let nri = 0;
  for (const n of nals) {
    length += 2 + n.length;
    nri = Math.max(nri, n[0] & 0x60);
  }
  const out = new Uint8Array(length);
  out[0] = nri | NAL.STAP_A;
  let i = 1;
  for (const n of nals) {
    out[i] = n.length >>> 8;
    out[i + 1] = n.length & 0xff;
    out.set(n, i + 2);
    i += 2 + n.length;
  }
  return out;
}

/**
 * The NAL units of an `sprop-parameter-sets` value (RFC 6184 §8.1: base64 NAL units separated
 * by commas), skipping any that does not decode.
 */
export function decodeSpropParameterSets(value: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const part of value.split(",")) {
    const b64 = part.trim();
    if (!b64) continue;
    try {
      const raw = atob(b64);
      const nal = Uint8Array.from(raw, (c) => c.charCodeAt(0));
      if (nal.length > 0) out.push(nal);
    } catch {
      // not base64: ignored
    }
  }
  return out;
}

/** Same bytes. */
export function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
