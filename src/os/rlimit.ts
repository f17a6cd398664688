/**
 * The process's descriptor limit (`RLIMIT_NOFILE`): read it, and raise the soft limit to the
 * hard one at start (systemd and most shells start services at a soft 1024 with a hard limit far
 * above; Deno itself raises it on Unix at start, so this mostly reads it). Through libc's
 * `getrlimit` / `setrlimit` with FFI (Linux, `--allow-ffi`); without FFI nothing is raised and the
 * limit is unknown, so callers assume a conservative one.
 *
 * @module
 */

/** `RLIMIT_NOFILE` on Linux (asm-generic/resource.h). */
const RLIMIT_NOFILE = 7;

/** The descriptor limits, or why they are unknown. */
export type NofileLimit =
  | { known: true; soft: number; hard: number; raisedFrom?: number }
  | { known: false; reason: string };

/**
 * Raises the soft descriptor limit to the hard limit (when `raise`), then reports both. Never
 * throws: every failure is a `{ known: false, reason }`.
 */
export function nofileLimit(raise = true): NofileLimit {
  if (Deno.build.os !== "linux") return { known: false, reason: `not Linux (${Deno.build.os})` };
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    return { known: false, reason: "no --allow-ffi" };
  }
  let lib;
  try {
    lib = Deno.dlopen(
      "libc.so.6",
      {
        getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
        setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
      } as const,
    );
  } catch (error) {
    return { known: false, reason: `libc.so.6: ${(error as Error).message}` };
  }
  try {
    // struct rlimit { rlim_t rlim_cur; rlim_t rlim_max; }: two unsigned 64-bit integers.
    const buf = new BigUint64Array(2);
    if (lib.symbols.getrlimit(RLIMIT_NOFILE, buf) !== 0) {
      return { known: false, reason: "getrlimit failed" };
    }
    const cap = (v: bigint) =>
      v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
    const soft = cap(buf[0]);
    const hard = cap(buf[1]);
    if (!raise || soft >= hard) return { known: true, soft, hard };
    const wanted = new BigUint64Array([buf[1], buf[1]]);
    if (lib.symbols.setrlimit(RLIMIT_NOFILE, wanted) !== 0) return { known: true, soft, hard };
    return { known: true, soft: hard, hard, raisedFrom: soft };
  } finally {
    lib.close();
  }
}
