/**
 * SRTP protection of RTP packets (RFC 3711, RFC 7714) with OpenSSL contexts that live as long
 * as the SRTP stream: the key schedule is done once, each packet only sets its IV. werift
 * builds a new `node:crypto` cipher for every packet (≈ 12 µs here); this costs ≈ 0.7 µs.
 *
 * The caller keeps the rollover counter and lays the packet out in three parts — header (the
 * authenticated data), ciphertext, tag — which the kernel gathers on send, so nothing is copied.
 * Session keys are werift's (derived from the DTLS exporter by its SRTP context), so a packet
 * protected here is exactly what werift would have produced (tests/unit/srtp_protect_test.ts).
 *
 * @module
 */
import type { Libcrypto } from "./libs.ts";
import { ctrIv, gcmIv } from "./srtp-iv.ts";

/** werift's SRTP protection profile numbers (RFC 5764 §4.1.2, RFC 7714 §14.2). */
export const SRTP_AES128_CM_HMAC_SHA1_80 = 0x0001;
/** AEAD_AES_128_GCM. */
export const SRTP_AEAD_AES_128_GCM = 0x0007;

const EVP_CTRL_GCM_GET_TAG = 0x10;

/** Session keys of one direction, as werift's SRTP context derives them. */
export interface SessionKeys {
  /** Protection profile (one of the constants above). */
  profile: number;
  /** Session encryption key (16 bytes). */
  key: Uint8Array;
  /** Session salt (14 bytes for AES-CM, the first 12 are used for GCM). */
  salt: Uint8Array;
  /** Session authentication key (20 bytes, AES-CM only). */
  authKey?: Uint8Array;
}

/** One outgoing SRTP session's cipher (every SSRC of it shares the keys). */
export class SrtpProtector {
  /** Bytes of authentication tag after the ciphertext (16 for GCM, 10 for AES-CM). */
  readonly tagLength: number;
  readonly #crypto: Libcrypto;
  readonly #gcm: boolean;
  readonly #salt: Uint8Array;
  readonly #iv = new Uint8Array(16);
  readonly #outl = new Uint8Array(4);
  /** {@link #iv} and {@link #outl} as pointers, made once (the per-packet calls take them). */
  readonly #ivAt = Deno.UnsafePointer.of(this.#iv);
  readonly #outlAt = Deno.UnsafePointer.of(this.#outl);
  readonly #roc = new Uint8Array(4);
  #cipher: Deno.PointerValue;
  #hmac: Deno.PointerValue = null;

  private constructor(crypto: Libcrypto, keys: SessionKeys) {
    this.#crypto = crypto;
    this.#gcm = keys.profile === SRTP_AEAD_AES_128_GCM;
    this.tagLength = this.#gcm ? 16 : 10;
    this.#salt = keys.salt.slice(0, this.#gcm ? 12 : 14);
    this.#cipher = crypto.EVP_CIPHER_CTX_new();
    const algorithm = this.#gcm ? crypto.EVP_aes_128_gcm() : crypto.EVP_aes_128_ctr();
    if (
      !this.#cipher ||
      crypto.EVP_EncryptInit_ex(this.#cipher, algorithm, null, keys.key, null) !== 1
    ) {
      this.close();
      throw new Error("EVP_EncryptInit_ex failed");
    }
    if (!this.#gcm) {
      this.#hmac = crypto.HMAC_CTX_new();
      const key = keys.authKey!;
      if (
        !this.#hmac ||
        crypto.HMAC_Init_ex(this.#hmac, key, key.length, crypto.EVP_sha1(), null) !== 1
      ) {
        this.close();
        throw new Error("HMAC_Init_ex failed");
      }
    }
  }

  /** A protector for `keys`, or undefined when the profile is not one of the two above. */
  static create(crypto: Libcrypto, keys: SessionKeys): SrtpProtector | undefined {
    if (keys.profile !== SRTP_AEAD_AES_128_GCM && keys.profile !== SRTP_AES128_CM_HMAC_SHA1_80) {
      return undefined;
    }
    if (keys.profile === SRTP_AES128_CM_HMAC_SHA1_80 && keys.authKey?.length !== 20) {
      return undefined;
    }
    return new SrtpProtector(crypto, keys);
  }

  /**
   * Protects one packet: `payload[0, length)` (all of it by default) is encrypted into
   * `ciphertext` (from 0; `payload` may be `ciphertext` itself: in place) and the tag written to
   * `tag` (which needs 20 bytes of room); `header[0, headerLength)` is the clear,
   * authenticated RTP header. Returns false if OpenSSL refused.
   */
  protect(
    header: Uint8Array,
    headerLength: number,
    payload: Uint8Array,
    ciphertext: Uint8Array,
    tag: Uint8Array,
    ssrc: number,
    roc: number,
    seq: number,
    length: number = payload.length,
  ): boolean {
    const c = this.#crypto;
    const iv = this.#iv;
    const salt = this.#salt;
    if (this.#gcm) {
      gcmIv(iv, salt, ssrc, roc, seq); // RFC 7714 §8.1
      const ctx = this.#cipher;
      const outl = this.#outlAt;
      return c.EVP_EncryptInit_iv(ctx, null, null, null, this.#ivAt) === 1 &&
        c.EVP_EncryptUpdate_aad(ctx, null, outl, header, headerLength) === 1 &&
        c.EVP_EncryptUpdate_to(ctx, ciphertext, outl, payload, length) === 1 &&
        c.EVP_EncryptFinal_to(ctx, tag, outl) === 1 &&
        c.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) === 1;
    }
    ctrIv(iv, salt, ssrc, roc, seq); // RFC 3711 §4.1.1
    const r = this.#roc;
    r[0] = roc >>> 24;
    r[1] = (roc >>> 16) & 0xff;
    r[2] = (roc >>> 8) & 0xff;
    r[3] = roc & 0xff;
    const ctx = this.#cipher;
    const mac = this.#hmac;
    return c.EVP_EncryptInit_iv(ctx, null, null, null, this.#ivAt) === 1 &&
      c.EVP_EncryptUpdate_to(ctx, ciphertext, this.#outlAt, payload, length) === 1 &&
      c.HMAC_Init_ex(mac, null, 0, null, null) === 1 &&
      c.HMAC_Update(mac, header, size(headerLength)) === 1 &&
      c.HMAC_Update(mac, ciphertext, size(length)) === 1 &&
      c.HMAC_Update(mac, r, size(4)) === 1 &&
      c.HMAC_Final(mac, tag, this.#outl) === 1;
  }

  /** Frees the OpenSSL contexts. */
  close(): void {
    if (this.#cipher) this.#crypto.EVP_CIPHER_CTX_free(this.#cipher);
    if (this.#hmac) this.#crypto.HMAC_CTX_free(this.#hmac);
    this.#cipher = null;
    this.#hmac = null;
  }
}

/**
 * A `size_t` argument. Deno's FFI takes a number for a 64-bit parameter at run time (its fast
 * call converts it without a BigInt); the type declarations only admit bigint.
 */
function size(n: number): bigint {
  return n as unknown as bigint;
}
