/**
 * OpenSSL's cost per ~1,200-byte RTP packet through the send path's SRTP binding
 * (src/media/native/srtp-protect.ts), for both profiles werift offers (AEAD_AES_128_GCM first,
 * the one negotiated between werift peers, then AES128_CM_HMAC_SHA1_80), timed in thread CPU.
 *
 * @module
 */
import type { Libcrypto } from "../../src/media/native/libs.ts";
import {
  SRTP_AEAD_AES_128_GCM,
  SRTP_AES128_CM_HMAC_SHA1_80,
  SrtpProtector,
} from "../../src/media/native/srtp-protect.ts";
import { threadCpu } from "./sockets.ts";

/** µs of thread CPU per protected packet, by profile name. */
export interface CryptoCost {
  /** Profile name. */
  profile: string;
  /** µs of CPU per packet. */
  us: number;
}

/** Protects `packets`-size packets (24-byte header, the rest payload) for `ms` per profile. */
export function measureSrtp(crypto: Libcrypto, packet = 1200, ms = 1000): CryptoCost[] {
  const out: CryptoCost[] = [];
  const profiles = [
    ["AEAD_AES_128_GCM", SRTP_AEAD_AES_128_GCM, 16],
    ["AES128_CM_HMAC_SHA1_80", SRTP_AES128_CM_HMAC_SHA1_80, 10],
  ] as const;
  for (const [name, profile, tagLength] of profiles) {
    const p = SrtpProtector.create(crypto, {
      profile,
      key: new Uint8Array(16).fill(1),
      salt: new Uint8Array(14).fill(2),
      authKey: new Uint8Array(20).fill(3),
    })!;
    const header = new Uint8Array(24).fill(0x80);
    const payload = new Uint8Array(packet - 24 - tagLength).fill(7);
    const ciphertext = new Uint8Array(payload.length);
    const tag = new Uint8Array(32);
    for (let i = 0; i < 2000; i++) p.protect(header, 24, payload, ciphertext, tag, 1, 0, i);
    const c0 = threadCpu();
    const end = performance.now() + ms;
    let n = 0;
    while (performance.now() < end) {
      for (let i = 0; i < 1000; i++, n++) {
        p.protect(header, 24, payload, ciphertext, tag, 1, 0, n & 0xffff);
      }
    }
    const c1 = threadCpu();
    p.close();
    out.push({ profile: name, us: (c1.user + c1.system - c0.user - c0.system) / n });
  }
  return out;
}
