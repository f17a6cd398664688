/**
 * The initialisation vectors of SRTP and SRTCP, written into a reused buffer. Both are the salt
 * XOR the SSRC and a 48-bit packet index, given here as its high 32 and low 16 bits: for SRTP
 * the rollover counter and the sequence number, for SRTCP the SRTCP index split the same way.
 *
 * @module
 */

/** AES-GCM (RFC 7714 §8.1, §9.1): 00 00 | SSRC | index (48 bits), XOR the 12-byte salt. */
export function gcmIv(
  iv: Uint8Array,
  salt: Uint8Array,
  ssrc: number,
  high: number,
  low: number,
): void {
  write(iv, salt, 12, 2, ssrc, high, low);
}

/**
 * AES-CM (RFC 3711 §4.1.1): salt·2^16 XOR SSRC·2^64 XOR index·2^16, the block counter in the last
 * two bytes (16-byte IV, 14-byte salt).
 */
export function ctrIv(
  iv: Uint8Array,
  salt: Uint8Array,
  ssrc: number,
  high: number,
  low: number,
): void {
  write(iv, salt, 14, 4, ssrc, high, low);
  iv[14] = 0;
  iv[15] = 0;
}

/** `salt[0, length)` with SSRC ‖ high ‖ low XORed in from byte `at`. */
function write(
  iv: Uint8Array,
  salt: Uint8Array,
  length: number,
  at: number,
  ssrc: number,
  high: number,
  low: number,
): void {
  for (let i = 0; i < length; i++) iv[i] = salt[i];
  iv[at] ^= ssrc >>> 24;
  iv[at + 1] ^= (ssrc >>> 16) & 0xff;
  iv[at + 2] ^= (ssrc >>> 8) & 0xff;
  iv[at + 3] ^= ssrc & 0xff;
  iv[at + 4] ^= high >>> 24;
  iv[at + 5] ^= (high >>> 16) & 0xff;
  iv[at + 6] ^= (high >>> 8) & 0xff;
  iv[at + 7] ^= high & 0xff;
  iv[at + 8] ^= low >>> 8;
  iv[at + 9] ^= low & 0xff;
}
