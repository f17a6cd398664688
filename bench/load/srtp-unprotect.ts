/**
 * SRTP unprotection for the load players' delay samples (RFC 3711 AES-CM-HMAC-SHA1-80 and
 * RFC 7714 AEAD-AES-128-GCM), with OpenSSL's libcrypto through FFI and one cipher context per
 * player: a sampled packet is authenticated and decrypted here (≈ 1 µs) instead of going up
 * werift's receive path, whose `node:crypto` decrypt took most of a load core at 250 players.
 * The keys are werift's own (its SRTP context derives them from the DTLS exporter). A packet
 * that fails authentication is reported, never measured.
 *
 * @module
 */
import { type Libcrypto, openNative } from "../../src/media/native/libs.ts";
import { ctrIv, gcmIv } from "../../src/media/native/srtp-iv.ts";

type Crypto = Libcrypto;

const GCM = 0x0007;
const CM_HMAC_SHA1_80 = 0x0001;
const EVP_CTRL_GCM_SET_TAG = 0x11;

/** libcrypto (the server's own bindings), or null where it cannot be opened. */
function crypto(): Crypto | null {
  const native = openNative();
  return native.ok ? native.crypto : null;
}

/** The receive keys of one SRTP session, as werift's context holds them. */
export interface RemoteKeys {
  profile: number;
  key: Uint8Array;
  salt: Uint8Array;
  authKey: Uint8Array;
}

/** Decrypts and authenticates the SRTP packets of one session. */
export class SrtpUnprotector {
  readonly #c: Crypto;
  readonly #gcm: boolean;
  readonly #salt: Uint8Array;
  readonly #authKey: Uint8Array;
  readonly #ctx: Deno.PointerValue;
  readonly #hmac: Deno.PointerValue = null;
  readonly #iv = new Uint8Array(16);
  readonly #outl = new Uint8Array(4);
  readonly #mac = new Uint8Array(20);
  readonly #macLength = new Uint8Array(4);
  #authed = new Uint8Array(2048);

  private constructor(c: Crypto, keys: RemoteKeys) {
    this.#c = c;
    this.#gcm = keys.profile === GCM;
    this.#salt = keys.salt.slice(0, this.#gcm ? 12 : 14);
    this.#authKey = keys.authKey.slice();
    this.#ctx = c.EVP_CIPHER_CTX_new();
    const algorithm = this.#gcm ? c.EVP_aes_128_gcm() : c.EVP_aes_128_ctr();
    if (!this.#ctx || c.EVP_DecryptInit_ex(this.#ctx, algorithm, null, keys.key, null) !== 1) {
      throw new Error("EVP_DecryptInit_ex failed");
    }
    if (!this.#gcm) {
      this.#hmac = c.HMAC_CTX_new();
      const key = this.#authKey;
      if (!this.#hmac || c.HMAC_Init_ex(this.#hmac, key, key.length, c.EVP_sha1(), null) !== 1) {
        throw new Error("HMAC_Init_ex failed");
      }
    }
  }

  /** An unprotector for `keys`, or undefined (no libcrypto, another profile). */
  static create(keys: RemoteKeys): SrtpUnprotector | undefined {
    const c = crypto();
    if (!c || (keys.profile !== GCM && keys.profile !== CM_HMAC_SHA1_80)) return undefined;
    return new SrtpUnprotector(c, keys);
  }

  /**
   * Authenticates `packet` (rollover counter `roc`) and decrypts its payload into `out`;
   * returns the payload's length, or -1 when authentication fails or the packet is malformed.
   */
  unprotect(packet: Uint8Array, roc: number, out: Uint8Array): number {
    const headerLength = rtpHeaderLength(packet);
    const tagLength = this.#gcm ? 16 : 10;
    const payloadLength = packet.length - headerLength - tagLength;
    if (headerLength < 0 || payloadLength < 0 || payloadLength > out.length) return -1;
    const ssrc = ((packet[8] << 24) | (packet[9] << 16) | (packet[10] << 8) | packet[11]) >>> 0;
    const seq = (packet[2] << 8) | packet[3];
    const c = this.#c;
    const iv = this.#iv;
    const s = this.#salt;
    const header = packet.subarray(0, headerLength);
    const body = packet.subarray(headerLength, headerLength + payloadLength);
    const tag = packet.subarray(headerLength + payloadLength);
    if (this.#gcm) {
      // RFC 7714 §8.1: 00 00 | SSRC | ROC | SEQ, XOR the salt
      gcmIv(iv, s, ssrc, roc, seq);
      const ok = c.EVP_DecryptInit_ex(this.#ctx, null, null, null, iv) === 1 &&
        c.EVP_DecryptUpdate(this.#ctx, null, this.#outl, header, headerLength) === 1 &&
        c.EVP_DecryptUpdate(this.#ctx, out, this.#outl, body, payloadLength) === 1 &&
        c.EVP_CIPHER_CTX_ctrl(this.#ctx, EVP_CTRL_GCM_SET_TAG, 16, tag.slice()) === 1 &&
        c.EVP_DecryptFinal_ex(this.#ctx, this.#mac, this.#outl) === 1;
      return ok ? payloadLength : -1;
    }
    // RFC 3711 §4.2: HMAC-SHA1 over header ‖ ciphertext ‖ ROC, 80 bits
    const authedLength = headerLength + payloadLength + 4;
    if (this.#authed.length < authedLength) this.#authed = new Uint8Array(authedLength);
    this.#authed.set(packet.subarray(0, headerLength + payloadLength));
    this.#authed.set(be32(roc), headerLength + payloadLength);
    if (
      c.HMAC_Init_ex(this.#hmac, null, 0, null, null) !== 1 ||
      c.HMAC_Update(this.#hmac, this.#authed, authedLength as unknown as bigint) !== 1 ||
      c.HMAC_Final(this.#hmac, this.#mac, this.#macLength) !== 1
    ) {
      return -1;
    }
    for (let i = 0; i < 10; i++) if (this.#mac[i] !== tag[i]) return -1;
    // RFC 3711 §4.1.1: salt·2^16 XOR SSRC·2^64 XOR index·2^16
    ctrIv(iv, s, ssrc, roc, seq);
    const ok = c.EVP_DecryptInit_ex(this.#ctx, null, null, null, iv) === 1 &&
      c.EVP_DecryptUpdate(this.#ctx, out, this.#outl, body, payloadLength) === 1;
    return ok ? payloadLength : -1;
  }
}

/** The RTP header's length (fixed part, CSRCs, extension), or -1 when the packet is too short. */
function rtpHeaderLength(p: Uint8Array): number {
  if (p.length < 12) return -1;
  let n = 12 + 4 * (p[0] & 0x0f);
  if (p[0] & 0x10) {
    if (p.length < n + 4) return -1;
    n += 4 + 4 * ((p[n + 2] << 8) | p[n + 3]);
  }
  return n <= p.length ? n : -1;
}

function be32(x: number): number[] {
  return [x >>> 24, (x >>> 16) & 0xff, (x >>> 8) & 0xff, x & 0xff];
}
