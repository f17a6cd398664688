/**
 * What glibc's allocator holds for this process, for the leak tests: the bytes of live
 * `malloc` blocks (`mallinfo2`: arena blocks in use plus `mmap`ed ones) and a `malloc_trim`
 * that returns freed pages, so that RSS read after it is not the allocator's retention.
 *
 * Deno's ArrayBuffers, OpenSSL's contexts and the runtime's own native objects are all
 * allocated with glibc's `malloc`, so a native leak anywhere in the process grows the live
 * figure, while the RSS that glibc keeps after frees (seen swinging by ±100 MiB with no
 * growth) does not.
 */
const SIZE_T = "usize" as const;
let libc:
  | Deno.DynamicLibrary<{
    mallinfo2: { parameters: []; result: { struct: (typeof SIZE_T)[] } };
    malloc_trim: { parameters: ["usize"]; result: "i32" };
  }>
  | undefined;

function open() {
  libc ??= Deno.dlopen("libc.so.6", {
    // struct mallinfo2: ten size_t fields (arena, ordblks, smblks, hblks, hblkhd, usmblks,
    // fsmblks, uordblks, fordblks, keepcost).
    mallinfo2: { parameters: [], result: { struct: new Array(10).fill(SIZE_T) } },
    malloc_trim: { parameters: ["usize"], result: "i32" },
  });
  return libc.symbols;
}

/** MiB in live `malloc` blocks of every arena, `mmap`ed blocks included (glibc ≥ 2.33). */
export function mallocLiveMiB(): number {
  const raw = open().mallinfo2() as Uint8Array;
  const f = new BigUint64Array(raw.buffer, raw.byteOffset, 10);
  return Math.round(Number(f[7] + f[4]) / 1024 / 1024);
}

/** Returns the allocator's free pages to the system (`malloc_trim(0)`). */
export function mallocTrim(): void {
  open().malloc_trim(0n);
}
