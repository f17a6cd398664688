/**
 * OpenSSL's cost per ~1,200-byte RTP packet through the send path's SRTP binding
 * (src/media/native/srtp-protect.ts), for both profiles werift offers (AEAD_AES_128_GCM first,
 * the one negotiated between werift peers, then AES128_CM_HMAC_SHA1_80), timed in thread CPU (the median of 9 slices).
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
export function measureSrtp(crypto: Libcrypto, packet = 1200, ms = 2000): CryptoCost[] {
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
    // the median of 9 slices (a shared machine's other tenants disturb some of them)
    const slices: number[] = [];
    for (let k = 0; k < 9; k++) {
      const c0 = threadCpu();
      const end = performance.now() + ms / 9;
      let n = 0;
      while (performance.now() < end) {
        for (let i = 0; i < 1000; i++, n++) {
          p.protect(header, 24, payload, ciphertext, tag, 1, 0, n & 0xffff);
        }
      }
      const c1 = threadCpu();
      slices.push((c1.user + c1.system - c0.user - c0.system) / n);
    }
    p.close();
    out.push({ profile: name, us: slices.sort((a, b) => a - b)[4] });
  }
  return out;
}
