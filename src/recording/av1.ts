/**
 * AV1 in WebM: the av1C CodecPrivate (the AV1 Codec Configuration Record, with the sequence header
 * OBU as its configOBUs) and the picture size, both read from a keyframe's sequence header OBU
 * (AV1 spec §5.5). Blocks keep werift's low-overhead bitstream form: every OBU sized but the last,
 * which the Matroska AV1 mapping allows.
 *
 * @module
 */
import { concat } from "./ebml.ts";

/** OBU type of a sequence header. */
const OBU_SEQUENCE_HEADER = 1;

/** A most-significant-bit-first reader. */
class Bits {
  #pos = 0;
  constructor(readonly bytes: Uint8Array) {}
  f(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) {
      const byte = this.bytes[this.#pos >> 3];
      if (byte === undefined) throw new RangeError("past the end");
      v = v * 2 + ((byte >> (7 - (this.#pos++ & 7))) & 1);
    }
    return v;
  }
  uvlc(): number {
    let zeros = 0;
    while (this.f(1) === 0) if (++zeros >= 32) return 2 ** 32 - 1;
    return this.f(zeros) + 2 ** zeros - 1;
  }
}

/** The sequence header OBU of `frame` (a temporal unit's OBUs), whole (header included). */
export function sequenceHeaderObu(frame: Uint8Array): Uint8Array | undefined {
  for (let at = 0; at < frame.length;) {
    const header = frame[at];
    const type = (header >> 3) & 0x0f;
    const extension = (header >> 2) & 1;
    const sized = (header >> 1) & 1;
    let p = at + 1 + extension;
    let size = frame.length - p;
    if (sized) {
      size = 0;
      for (let i = 0; i < 8; i++) {
        const b = frame[p++];
        if (b === undefined) return undefined;
        size += (b & 0x7f) * 2 ** (7 * i);
        if (!(b & 0x80)) break;
      }
    }
    if (p + size > frame.length) return undefined;
    if (type === OBU_SEQUENCE_HEADER) {
      const obu = frame.slice(at, p + size);
      if (!sized) { // configOBUs need the size field
        return concat([
          Uint8Array.of(header | 0x02),
          frame.slice(at + 1, at + 1 + extension),
          leb128(size),
          frame.slice(p, p + size),
        ]);
      }
      return obu;
    }
    at = p + size;
  }
  return undefined;
}

function leb128(n: number): Uint8Array {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Uint8Array.from(out);
}

/** What av1C and the track need from a sequence header. */
export interface Av1Config {
  /** The av1C record. */
  codecPrivate: Uint8Array;
  /** The largest picture size of the sequence. */
  width: number;
  /** The largest picture size of the sequence. */
  height: number;
}

/** av1C and picture size from a keyframe's sequence header, or undefined without one. */
export function av1Config(frame: Uint8Array): Av1Config | undefined {
  const obu = sequenceHeaderObu(frame);
  if (!obu) return undefined;
  try {
    let p = 1 + ((obu[0] >> 2) & 1);
    while (obu[p++] & 0x80); // leb128 size
    const b = new Bits(obu.subarray(p));
    const profile = b.f(3);
    b.f(1); // still_picture
    const reduced = b.f(1);
    let level = 0, tier = 0, decoderModel = 0, delayLength = 0;
    if (reduced) level = b.f(5);
    else {
      if (b.f(1)) { // timing_info
        b.f(32);
        b.f(32);
        if (b.f(1)) b.uvlc();
        decoderModel = b.f(1);
        if (decoderModel) {
          delayLength = b.f(5) + 1;
          b.f(32);
          b.f(5);
          b.f(5);
        }
      }
      const initialDelay = b.f(1);
      const points = b.f(5) + 1;
      for (let i = 0; i < points; i++) {
        b.f(12);
        const idx = b.f(5);
        const t = idx > 7 ? b.f(1) : 0;
        if (i === 0) [level, tier] = [idx, t];
        if (decoderModel && b.f(1)) {
          b.f(delayLength);
          b.f(delayLength);
          b.f(1);
        }
        if (initialDelay && b.f(1)) b.f(4);
      }
    }
    const widthBits = b.f(4) + 1;
    const heightBits = b.f(4) + 1;
    const width = b.f(widthBits) + 1;
    const height = b.f(heightBits) + 1;
    let orderHint = 0;
    if (!reduced && b.f(1)) b.f(7); // frame id lengths
    b.f(3); // 128x128 superblock, filter intra, intra edge filter
    if (!reduced) {
      b.f(4); // interintra, masked compound, warped motion, dual filter
      orderHint = b.f(1);
      if (orderHint) b.f(2); // jnt comp, ref frame mvs
      const screenTools = b.f(1) ? 2 : b.f(1);
      if (screenTools > 0 && !b.f(1)) b.f(1); // integer mv
      if (orderHint) b.f(3);
    }
    b.f(3); // superres, cdef, restoration
    const highBitdepth = b.f(1);
    const twelveBit = profile === 2 && highBitdepth ? b.f(1) : 0;
    const mono = profile === 1 ? 0 : b.f(1);
    let [cp, tc, mc] = [2, 2, 2];
    if (b.f(1)) [cp, tc, mc] = [b.f(8), b.f(8), b.f(8)];
    let [sx, sy, position] = [1, 1, 0];
    if (!mono) {
      if (cp === 1 && tc === 13 && mc === 0) [sx, sy] = [0, 0];
      else {
        b.f(1); // color_range
        if (profile === 0) [sx, sy] = [1, 1];
        else if (profile === 1) [sx, sy] = [0, 0];
        else if (twelveBit) {
          sx = b.f(1);
          sy = sx ? b.f(1) : 0;
        } else [sx, sy] = [1, 0];
        if (sx && sy) position = b.f(2);
      }
    }
    const record = Uint8Array.of(
      0x81,
      (profile << 5) | level,
      (tier << 7) | (highBitdepth << 6) | (twelveBit << 5) | (mono << 4) | (sx << 3) | (sy << 2) |
        position,
      0,
    );
    return { codecPrivate: concat([record, obu]), width, height };
  } catch {
    return undefined;
  }
}
