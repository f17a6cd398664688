/**
 * The scheduling group of this session (Linux autogroup), raised for the run and put back.
 *
 * @module
 */

/** The autogroup line of this session before the bench changed its nice value. */
let autogroupBefore: string | undefined;

/**
 * With `kernel.sched_autogroup_enabled`, the CPU is shared between sessions first and the nice
 * values of tasks only count inside their session: a server at nice −10 still gets no more than
 * a busy loop started from another shell. So the nice value of this session's group is raised
 * for the run (root only) and put back at the end.
 */
export function raiseAutogroup(value: number): void {
  try {
    if (Deno.readTextFileSync("/proc/sys/kernel/sched_autogroup_enabled").trim() !== "1") return;
    autogroupBefore = Deno.readTextFileSync("/proc/self/autogroup").trim();
    Deno.writeTextFileSync("/proc/self/autogroup", String(value));
    console.log(`session scheduling group: ${autogroupBefore} → nice ${value}`);
  } catch {
    autogroupBefore = undefined; // not Linux, no autogroup, or not root
  }
}

/** Puts the session's group back to the nice value it had before {@link raiseAutogroup}. */
export function restoreAutogroup(): void {
  const nice = autogroupBefore && /nice (-?\d+)/.exec(autogroupBefore)?.[1];
  if (nice === undefined || nice === "") return;
  try {
    Deno.writeTextFileSync("/proc/self/autogroup", nice);
  } catch {
    // leave it
  }
  autogroupBefore = undefined;
}
