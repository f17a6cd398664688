/**
 * SRTCP protection and unprotection (RFC 3711 §3.4 AES-CM-HMAC-SHA1-80, RFC 7714 §9
 * AEAD-AES-128-GCM) with OpenSSL contexts kept per session, byte-identical to werift's own
 * (tests/unit/srtcp_protect_test.ts). werift builds a `node:crypto` cipher, an HMAC and several
 * buffers for every RTCP packet — about 6.5 KiB of garbage and 7–15 µs each here — and every
 * player sends and receives a few RTCP packets a second, so at a few hundred players that
 * garbage set the pace of the young-generation collections whose pauses land on keyframe
 * fan-outs. The caller keeps werift's SRTCP index; packets are Buffers, as werift expects.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Libcrypto } from "./libs.ts";
import { ctrIv, gcmIv } from "./srtp-iv.ts";

const EVP_CTRL_GCM_GET_TAG = 0x10;
const EVP_CTRL_GCM_SET_TAG = 0x11;

/** One direction's SRTCP session keys, as werift's cipher holds them. */
export interface SrtcpKeys {
  /** AEAD-AES-128-GCM (else AES-CM-HMAC-SHA1-80). */
  gcm: boolean;
  /** Session encryption key (16 bytes). */
  key: Uint8Array;
  /** Session salt (14 bytes; GCM uses 12). */
  salt: Uint8Array;
  /** Session authentication key (20 bytes, AES-CM only). */
  authKey?: Uint8Array;
}

/** The SRTCP cipher of one direction of one session. */
export class SrtcpCipher {
  readonly #c: Libcrypto;
  readonly #gcm: boolean;
  readonly #salt: Uint8Array;
  readonly #iv = new Uint8Array(16);
  readonly #outl = new Uint8Array(4);
  readonly #mac = new Uint8Array(32);
  readonly #aad = new Uint8Array(12);
  #encrypt: Deno.PointerValue = null;
  #decrypt: Deno.PointerValue = null;
  #hmac: Deno.PointerValue = null;

  private constructor(c: Libcrypto, keys: SrtcpKeys) {
    this.#c = c;
    this.#gcm = keys.gcm;
    this.#salt = keys.salt.slice(0, keys.gcm ? 12 : 14);
    const algorithm = keys.gcm ? c.EVP_aes_128_gcm() : c.EVP_aes_128_ctr();
    this.#encrypt = c.EVP_CIPHER_CTX_new();
    if (
      !this.#encrypt || c.EVP_EncryptInit_ex(this.#encrypt, algorithm, null, keys.key, null) !== 1
    ) {
      throw new Error("EVP_EncryptInit_ex failed");
    }
    if (keys.gcm) {
      this.#decrypt = c.EVP_CIPHER_CTX_new();
      if (
        !this.#decrypt || c.EVP_DecryptInit_ex(this.#decrypt, algorithm, null, keys.key, null) !== 1
      ) {
        throw new Error("EVP_DecryptInit_ex failed");
      }
    } else {
      const key = keys.authKey!;
      this.#hmac = c.HMAC_CTX_new();
      if (!this.#hmac || c.HMAC_Init_ex(this.#hmac, key, key.length, c.EVP_sha1(), null) !== 1) {
        throw new Error("HMAC_Init_ex failed");
      }
    }
  }

  /** A cipher for `keys`, or undefined when they are not usable (wrong sizes). */
  static create(c: Libcrypto, keys: SrtcpKeys): SrtcpCipher | undefined {
    if (keys.key.length !== 16 || keys.salt.length < (keys.gcm ? 12 : 14)) return undefined;
    if (!keys.gcm && keys.authKey?.length !== 20) return undefined;
    return new SrtcpCipher(c, keys);
  }

  /** Protects the compound RTCP packet `rtcp` with SRTCP index `index` (E flag set). */
  protect(rtcp: Uint8Array, index: number): Buffer {
    const c = this.#c;
    const n = rtcp.length;
    const ssrc = u32(rtcp, 4);
    if (this.#gcm) {
      // header ‖ ciphertext ‖ tag (16) ‖ E|index (RFC 7714 §9.3)
      const out = Buffer.allocUnsafe(n + 20);
      out.set(rtcp.subarray(0, 8));
      const aad = this.#aad;
      aad.set(rtcp.subarray(0, 8));
      be32(aad, 8, (index | 0x8000_0000) >>> 0);
      this.#gcmIv(ssrc, index);
      const ctx = this.#encrypt;
      const ok = c.EVP_EncryptInit_ex(ctx, null, null, null, this.#iv) === 1 &&
        c.EVP_EncryptUpdate(ctx, null, this.#outl, aad, 12) === 1 &&
        c.EVP_EncryptUpdate(ctx, out.subarray(8), this.#outl, rtcp.subarray(8), n - 8) === 1 &&
        c.EVP_EncryptFinal_ex(ctx, this.#mac, this.#outl) === 1 &&
        c.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, this.#mac) === 1;
      if (!ok) throw new Error("SRTCP encryption failed");
      out.set(this.#mac.subarray(0, 16), n);
      out.set(aad.subarray(8, 12), n + 16);
      return out;
    }
    // header ‖ ciphertext ‖ E|index ‖ tag (10) (RFC 3711 §3.4)
    const out = Buffer.allocUnsafe(n + 14);
    out.set(rtcp.subarray(0, 8));
    this.#ctrIv(ssrc, index);
    const ctx = this.#encrypt;
    if (
      c.EVP_EncryptInit_ex(ctx, null, null, null, this.#iv) !== 1 ||
      c.EVP_EncryptUpdate(ctx, out.subarray(8), this.#outl, rtcp.subarray(8), n - 8) !== 1
    ) {
      throw new Error("SRTCP encryption failed");
    }
    be32(out, n, (index | 0x8000_0000) >>> 0);
    this.#authenticate(out.subarray(0, n + 4));
    out.set(this.#mac.subarray(0, 10), n + 4);
    return out;
  }

  /** Authenticates and decrypts an SRTCP packet; throws when authentication fails. */
  unprotect(srtcp: Uint8Array): Buffer {
    const c = this.#c;
    const n = srtcp.length;
    if (this.#gcm) {
      if (n < 8 + 16 + 4) throw new Error("SRTCP packet too short");
      const tagAt = n - 20;
      const encoded = u32(srtcp, n - 4);
      const encrypted = encoded >>> 31 === 1;
      this.#gcmIv(u32(srtcp, 4), encoded & 0x7fff_ffff);
      const out = Buffer.allocUnsafe(tagAt);
      out.set(srtcp.subarray(0, encrypted ? 8 : tagAt));
      const ctx = this.#decrypt;
      const aadHead = srtcp.subarray(0, encrypted ? 8 : tagAt);
      const ok = c.EVP_DecryptInit_ex(ctx, null, null, null, this.#iv) === 1 &&
        c.EVP_DecryptUpdate(ctx, null, this.#outl, aadHead, aadHead.length) === 1 &&
        c.EVP_DecryptUpdate(ctx, null, this.#outl, srtcp.subarray(n - 4), 4) === 1 &&
        (!encrypted ||
          c.EVP_DecryptUpdate(
              ctx,
              out.subarray(8),
              this.#outl,
              srtcp.subarray(8, tagAt),
              tagAt - 8,
            ) ===
            1) &&
        c.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, srtcp.slice(tagAt, tagAt + 16)) ===
          1 &&
        c.EVP_DecryptFinal_ex(ctx, this.#mac, this.#outl) === 1;
      if (!ok) throw new Error("Failed to authenticate SRTCP packet");
      return out;
    }
    if (n < 8 + 4 + 10) throw new Error("SRTCP packet too short");
    this.#authenticate(srtcp.subarray(0, n - 10));
    let same = 0;
    for (let i = 0; i < 10; i++) same |= this.#mac[i] ^ srtcp[n - 10 + i];
    if (same !== 0) throw new Error("Failed to authenticate SRTCP packet");
    const tail = n - 14;
    const out = Buffer.from(srtcp.subarray(0, tail));
    if (srtcp[tail] >>> 7 === 0) return out;
    this.#ctrIv(u32(srtcp, 4), u32(srtcp, tail) & 0x7fff_ffff);
    const ctx = this.#encrypt;
    const body = out.subarray(8);
    if (
      c.EVP_EncryptInit_ex(ctx, null, null, null, this.#iv) !== 1 ||
      c.EVP_EncryptUpdate(ctx, body, this.#outl, body, body.length) !== 1
    ) {
      throw new Error("SRTCP decryption failed");
    }
    return out;
  }

  /** Frees the OpenSSL contexts. */
  close(): void {
    const c = this.#c;
    if (this.#encrypt) c.EVP_CIPHER_CTX_free(this.#encrypt);
    if (this.#decrypt) c.EVP_CIPHER_CTX_free(this.#decrypt);
    if (this.#hmac) c.HMAC_CTX_free(this.#hmac);
    this.#encrypt = this.#decrypt = this.#hmac = null;
  }

  /** RFC 7714 §9.1: 00 00 | SSRC | 00 00 | index, XOR the salt. */
  #gcmIv(ssrc: number, index: number): void {
    gcmIv(this.#iv, this.#salt, ssrc, index >>> 16, index & 0xffff);
  }

  /** RFC 3711 §4.1.1, with the SRTCP index as the packet index. */
  #ctrIv(ssrc: number, index: number): void {
    ctrIv(this.#iv, this.#salt, ssrc, index >>> 16, index & 0xffff);
  }

  /** HMAC-SHA1 of `data` into the first 20 bytes of the MAC scratch. */
  #authenticate(data: Uint8Array): void {
    const c = this.#c;
    const mac = this.#hmac;
    if (
      c.HMAC_Init_ex(mac, null, 0, null, null) !== 1 ||
      c.HMAC_Update(mac, data, data.length as unknown as bigint) !== 1 ||
      c.HMAC_Final(mac, this.#mac, this.#outl) !== 1
    ) {
      throw new Error("HMAC-SHA1 failed");
    }
  }
}

function u32(b: Uint8Array, at: number): number {
  return ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
}

function be32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}
