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
  iv[0] = salt[0];
  iv[1] = salt[1];
  iv[2] = salt[2] ^ (ssrc >>> 24);
  iv[3] = salt[3] ^ ((ssrc >>> 16) & 0xff);
  iv[4] = salt[4] ^ ((ssrc >>> 8) & 0xff);
  iv[5] = salt[5] ^ (ssrc & 0xff);
  iv[6] = salt[6] ^ (high >>> 24);
  iv[7] = salt[7] ^ ((high >>> 16) & 0xff);
  iv[8] = salt[8] ^ ((high >>> 8) & 0xff);
  iv[9] = salt[9] ^ (high & 0xff);
  iv[10] = salt[10] ^ (low >>> 8);
  iv[11] = salt[11] ^ (low & 0xff);
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
  iv[0] = salt[0];
  iv[1] = salt[1];
  iv[2] = salt[2];
  iv[3] = salt[3];
  iv[4] = salt[4] ^ (ssrc >>> 24);
  iv[5] = salt[5] ^ ((ssrc >>> 16) & 0xff);
  iv[6] = salt[6] ^ ((ssrc >>> 8) & 0xff);
  iv[7] = salt[7] ^ (ssrc & 0xff);
  iv[8] = salt[8] ^ (high >>> 24);
  iv[9] = salt[9] ^ ((high >>> 16) & 0xff);
  iv[10] = salt[10] ^ ((high >>> 8) & 0xff);
  iv[11] = salt[11] ^ (high & 0xff);
  iv[12] = salt[12] ^ (low >>> 8);
  iv[13] = salt[13] ^ (low & 0xff);
  iv[14] = 0;
  iv[15] = 0;
}
