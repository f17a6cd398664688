/**
 * The Deno flags and entry point of `deno task start`, for the programs that start servers
 * themselves (`deno task cluster`, the benchmarks): the task's command substitution
 * `$(deno run … src/permissions.ts)` is replaced by the flags it prints for the server's
 * environment, so they run with exactly the permissions of the start task.
 *
 * @module
 */
import { permissionFlags } from "../permissions.ts";

/** The start task's flags for `env` and its entry point (`src/main.ts`). */
export function startTaskFlags(
  repo: string,
  env: Record<string, string> = {},
): { flags: string[]; entry: string } {
  const config = JSON.parse(Deno.readTextFileSync(`${repo}/deno.json`));
  const task = String(config.tasks.start).replace(/\$\(([^)]*)\)/g, (all, inner: string) => {
    if (!/\bsrc\/permissions\.ts\b/.test(inner)) {
      throw new Error(`deno.json tasks.start: unknown command substitution ${all}`);
    }
    return permissionFlags((name) => env[name]).flags.join(" ");
  });
  const words = task.trim().split(/\s+/);
  if (words[0] !== "deno" || words[1] !== "run") {
    throw new Error(`deno.json tasks.start is not "deno run …": ${config.tasks.start}`);
  }
  return { flags: words.slice(2, -1), entry: words[words.length - 1] };
}
