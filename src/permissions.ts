/**
 * The file permissions `deno task start` grants the server, computed from the configuration:
 * the pages (`static`), `deno.json`, and the files the environment names — `JWT_JWKS_FILE`
 * today; `TLS_CERT_FILE`, `TLS_KEY_FILE` (read) and `RECORDINGS_DIR` (read and write) when set.
 * Nothing else.
 *
 * The start task runs it inside a command substitution and passes what it prints to `deno run`:
 *
 * ```sh
 * deno run $(deno run --allow-env=JWT_JWKS_FILE,… src/permissions.ts) … src/main.ts
 * ```
 *
 * It runs with read access to those variables and nothing else. Words are split on spaces there,
 * so a path with a space (or a comma, which separates Deno's permission lists) is not granted:
 * it is reported on stderr and the server then says it cannot read it.
 *
 * @module
 */

/** Variables naming files the server reads. */
export const READ_VARIABLES: readonly string[] = ["JWT_JWKS_FILE", "TLS_CERT_FILE", "TLS_KEY_FILE"];
/** Variables naming directories the server reads and writes. */
export const WRITE_VARIABLES: readonly string[] = ["RECORDINGS_DIR"];
/** What the server always reads: the pages and its configuration file. */
export const ALWAYS_READ: readonly string[] = ["static", "deno.json"];

/** The flags for `deno run`, and a sentence per path that cannot be granted. */
export function permissionFlags(
  env: (name: string) => string | undefined,
): { flags: string[]; problems: string[] } {
  const read = [...ALWAYS_READ];
  const write: string[] = [];
  const problems: string[] = [];
  const take = (name: string, lists: string[][]) => {
    const path = env(name);
    if (path === undefined || path === "") return;
    if (/[\s,]/.test(path)) {
      problems.push(
        `${name}: "${path}" has a space or a comma, which deno task start cannot pass to ` +
          `--allow-read; move or link it to a path without one.`,
      );
      return;
    }
    for (const list of lists) if (!list.includes(path)) list.push(path);
  };
  for (const name of READ_VARIABLES) take(name, [read]);
  for (const name of WRITE_VARIABLES) take(name, [read, write]);
  const flags = [`--allow-read=${read.join(",")}`];
  if (write.length > 0) flags.push(`--allow-write=${write.join(",")}`);
  return { flags, problems };
}

if (import.meta.main) {
  const { flags, problems } = permissionFlags((name) => Deno.env.get(name));
  for (const problem of problems) console.error(problem);
  console.log(flags.join(" "));
}
