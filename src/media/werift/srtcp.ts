/**
 * werift's SRTCP on OpenSSL (../native/srtcp-protect.ts): the `encryptRTCP` / `decryptRTCP` of
 * werift's two SRTP cipher classes (AES-CM and AES-GCM) are replaced, for the whole process, by
 * ones that keep an OpenSSL context per cipher instance and produce the same bytes
 * (tests/unit/srtcp_protect_test.ts). Installed by the media plane when the native path is on;
 * werift's own code stays in place where libcrypto cannot be opened.
 *
 * @module
 */
import { SrtcpSession, SrtpAuthenticationError } from "werift";
import { Buffer } from "node:buffer";
import { openNative } from "../native/libs.ts";
import { SrtcpCipher } from "../native/srtcp-protect.ts";

/** werift's own SRTCP methods, kept on the prototype when replaced (the tests compare with them). */
export interface WeriftSrtcp {
  encryptRTCP(rtcp: Uint8Array, index: number): Uint8Array;
  decryptRTCP(srtcp: Uint8Array): [Uint8Array, unknown];
}

interface WeriftCipher extends WeriftSrtcp {
  srtcpSessionKey: Uint8Array;
  srtcpSessionSalt: Uint8Array;
  srtcpSessionAuthTag?: Uint8Array;
  __weriftSrtcp?: WeriftSrtcp;
}

/** Frees a cipher's OpenSSL contexts once werift's cipher object is collected. */
const contexts = new FinalizationRegistry<SrtcpCipher>((cipher) => cipher.close());

/**
 * Whether the prototypes were replaced: a prototype patch is process-wide by nature, so this
 * once-flag is too (set by the first egress scheduler, never reset).
 */
let installed: boolean | undefined;

/**
 * Puts werift's SRTCP on OpenSSL once per process; false when libcrypto or FFI is not there
 * (werift's own SRTCP then stays).
 */
export function useNativeSrtcp(): boolean {
  if (installed !== undefined) return installed;
  const native = openNative();
  installed = native.ok;
  if (!native.ok) return false;
  const crypto = native.crypto;
  for (const profile of [0x0001, 0x0007]) {
    const proto = cipherPrototype(profile);
    // a renamed method is named by the start-up check (check.ts); it is not replaced blindly
    if (typeof proto.encryptRTCP !== "function" || typeof proto.decryptRTCP !== "function") {
      continue;
    }
    const gcm = profile === 0x0007;
    const ciphers = new WeakMap<object, SrtcpCipher>();
    const cipherOf = (c: WeriftCipher) => {
      let cipher = ciphers.get(c);
      if (!cipher) {
        cipher = SrtcpCipher.create(crypto, {
          gcm,
          key: c.srtcpSessionKey,
          salt: c.srtcpSessionSalt,
          authKey: c.srtcpSessionAuthTag,
        });
        if (!cipher) throw new Error("SRTCP keys of an unexpected size");
        ciphers.set(c, cipher);
        contexts.register(c, cipher);
      }
      return cipher;
    };
    proto.__weriftSrtcp = { encryptRTCP: proto.encryptRTCP, decryptRTCP: proto.decryptRTCP };
    proto.encryptRTCP = function (this: WeriftCipher, rtcp: Uint8Array, index: number) {
      return cipherOf(this).protect(rtcp, index);
    };
    proto.decryptRTCP = function (this: WeriftCipher, srtcp: Uint8Array) {
      try {
        return [cipherOf(this).unprotect(srtcp), undefined];
      } catch (error) {
        // werift drops a packet on this error and rethrows any other: a forged or cut packet
        // must only be dropped
        throw new SrtpAuthenticationError((error as Error).message);
      }
    };
  }
  return true;
}

/** The prototype of werift's cipher class for an SRTP protection profile. */
export function cipherPrototype(profile: number): WeriftCipher {
  const key = Buffer.alloc(16);
  const salt = Buffer.alloc(14);
  const session = new SrtcpSession({
    keys: {
      localMasterKey: key,
      localMasterSalt: salt,
      remoteMasterKey: key,
      remoteMasterSalt: salt,
    },
    profile: profile as 1 | 7,
  }) as unknown as { localContext: { cipher: WeriftCipher } };
  return Object.getPrototypeOf(session.localContext.cipher);
}
