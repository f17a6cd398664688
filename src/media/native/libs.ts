/**
 * The native libraries of the fast egress path, opened once through `Deno.dlopen`: libc (`sendmsg`
 * and `sendmmsg` on the descriptor of a media socket, `getsockname` to find it, `ioctl(FIONREAD)`
 * to see whether a publisher's socket has more datagrams waiting, `setsockopt` for the kernel
 * buffers of the shared media port, `recvmmsg` to drain it) and OpenSSL's libcrypto (AES-GCM,
 * AES-CTR and HMAC-SHA1 contexts kept per SRTP stream). Both ship with every Debian / Ubuntu
 * (`libc6`, `libssl3`). When they cannot be opened — not Linux, no `--allow-ffi`, no
 * `libcrypto.so.3` — {@link openNative} says why and the server keeps werift's own path.
 *
 * @module
 */

const LIBC = {
  sendmsg: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  sendmmsg: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "i32"], result: "i32" },
  recvmmsg: { parameters: ["i32", "buffer", "u32", "i32", "pointer"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
} as const;

const CRYPTO = {
  EVP_CIPHER_CTX_new: { parameters: [], result: "pointer" },
  EVP_CIPHER_CTX_free: { parameters: ["pointer"], result: "void" },
  EVP_aes_128_gcm: { parameters: [], result: "pointer" },
  EVP_aes_128_ctr: { parameters: [], result: "pointer" },
  EVP_EncryptInit_ex: {
    parameters: ["pointer", "pointer", "pointer", "buffer", "buffer"],
    result: "i32",
  },
  EVP_EncryptUpdate: {
    parameters: ["pointer", "buffer", "buffer", "buffer", "i32"],
    result: "i32",
  },
  EVP_EncryptFinal_ex: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  // The per-packet calls of srtp-protect.ts again, with the arguments that are fixed per
  // context (IV, length out, no output for the AAD) as pointers made once: a `buffer` argument
  // costs the call a typed-array check and a null one more (≈ 0.1 µs per packet in all).
  EVP_EncryptInit_iv: {
    name: "EVP_EncryptInit_ex",
    parameters: ["pointer", "pointer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  EVP_EncryptUpdate_aad: {
    name: "EVP_EncryptUpdate",
    parameters: ["pointer", "pointer", "pointer", "buffer", "i32"],
    result: "i32",
  },
  EVP_EncryptUpdate_to: {
    name: "EVP_EncryptUpdate",
    parameters: ["pointer", "buffer", "pointer", "buffer", "i32"],
    result: "i32",
  },
  EVP_EncryptFinal_to: {
    name: "EVP_EncryptFinal_ex",
    parameters: ["pointer", "buffer", "pointer"],
    result: "i32",
  },
  EVP_DecryptInit_ex: {
    parameters: ["pointer", "pointer", "pointer", "buffer", "buffer"],
    result: "i32",
  },
  EVP_DecryptUpdate: {
    parameters: ["pointer", "buffer", "buffer", "buffer", "i32"],
    result: "i32",
  },
  EVP_DecryptFinal_ex: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  EVP_CIPHER_CTX_ctrl: { parameters: ["pointer", "i32", "i32", "buffer"], result: "i32" },
  EVP_sha1: { parameters: [], result: "pointer" },
  HMAC_CTX_new: { parameters: [], result: "pointer" },
  HMAC_CTX_free: { parameters: ["pointer"], result: "void" },
  HMAC_Init_ex: { parameters: ["pointer", "buffer", "i32", "pointer", "pointer"], result: "i32" },
  HMAC_Update: { parameters: ["pointer", "buffer", "usize"], result: "i32" },
  HMAC_Final: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
} as const;

/** libc's symbols used by the fast path. */
export type Libc = Deno.DynamicLibrary<typeof LIBC>["symbols"];
/** libcrypto's symbols used by the fast path. */
export type Libcrypto = Deno.DynamicLibrary<typeof CRYPTO>["symbols"];

/** The opened libraries, or why they are not there. */
export type Native =
  | { ok: true; libc: Libc; crypto: Libcrypto }
  | { ok: false; reason: string };

/**
 * The one process-wide value of this module: the libraries opened on first use, read-only after
 * (a handle to code mapped into the process; nothing in it changes afterwards).
 */
let opened: Native | undefined;

/** Opens libc and libcrypto once (later calls return the same result). */
export function openNative(): Native {
  opened ??= open();
  return opened;
}

function open(): Native {
  if (Deno.build.os !== "linux") return { ok: false, reason: `not Linux (${Deno.build.os})` };
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    return { ok: false, reason: "no --allow-ffi" };
  }
  let libc: Deno.DynamicLibrary<typeof LIBC>;
  try {
    libc = Deno.dlopen("libc.so.6", LIBC);
  } catch (error) {
    return { ok: false, reason: `libc.so.6: ${(error as Error).message}` };
  }
  try {
    const crypto = Deno.dlopen("libcrypto.so.3", CRYPTO);
    return { ok: true, libc: libc.symbols, crypto: crypto.symbols };
  } catch (error) {
    libc.close();
    return { ok: false, reason: `libcrypto.so.3: ${(error as Error).message}` };
  }
}
