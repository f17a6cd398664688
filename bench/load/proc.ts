/**
 * What Linux says about a process and the cores: CPU time (`/proc/PID/stat` utime + stime,
 * which covers every thread of the process), resident memory (`/proc/PID/status` VmRSS),
 * per-core busy time (`/proc/stat`), the CPU affinity of every thread, and `taskset` pinning.
 *
 * @module
 */

/** Clock ticks per second of `/proc` CPU times (`getconf CLK_TCK`; 100 on Linux x86-64). */
export const CLK_TCK = 100;

/** CPU seconds (user + system, all threads) a process has used, or undefined if it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // the command name may contain spaces: fields restart after its closing parenthesis
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime, stime (fields 14, 15)
  } catch {
    return undefined;
  }
}

/**
 * The process id of kernel thread `ksoftirqd/<core>`, or undefined. Network receive work
 * (loopback's included) runs in a softirq at the end of the sending system call and is charged
 * to the sender, until there is more than one pass takes: then this thread takes it over, and
 * its CPU time is the sender's work no longer counted in the sender's process.
 */
export function ksoftirqdPid(core: number): number | undefined {
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      if (Deno.readTextFileSync(`/proc/${entry.name}/comm`).trim() === `ksoftirqd/${core}`) {
        return Number(entry.name);
      }
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/** Resident set size, bytes, or undefined. */
export function rssBytes(pid: number): number | undefined {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/** Jiffies of one core: busy, total, and the softirq part of busy (network receive work). */
export interface CoreTime {
  busy: number;
  total: number;
  softirq: number;
}

/** Busy and total jiffies of each core (`cpu0`, `cpu1`, …) from `/proc/stat`. */
export function coreTimes(): Map<string, CoreTime> {
  const out = new Map<string, CoreTime>();
  for (const line of Deno.readTextFileSync("/proc/stat").split("\n")) {
    const m = /^(cpu\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const v = m[2].trim().split(/\s+/).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    out.set(m[1], { busy: total - idle, total, softirq: v[6] ?? 0 });
  }
  return out;
}

/** Busy and softirq shares (0..1) of each core between two {@link coreTimes} readings. */
export function coreBusy(
  from: Map<string, CoreTime>,
  to: Map<string, CoreTime>,
): Record<string, { busy: number; softirq: number }> {
  const out: Record<string, { busy: number; softirq: number }> = {};
  for (const [core, t] of to) {
    const f = from.get(core);
    if (!f || t.total === f.total) continue;
    const total = t.total - f.total;
    out[core] = { busy: (t.busy - f.busy) / total, softirq: (t.softirq - f.softirq) / total };
  }
  return out;
}

/** Seconds since boot from `/proc/uptime` (10 ms resolution): V8's profile clock on Linux. */
export function uptimeSeconds(): number {
  return Number(Deno.readTextFileSync("/proc/uptime").split(" ")[0]);
}

/** Pins every thread of `pid` to `cpus` with `taskset -a -p -c`. */
export async function pinAllThreads(pid: number, cpus: string): Promise<void> {
  const out = await new Deno.Command("taskset", {
    args: ["-a", "-p", "-c", cpus, String(pid)],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`taskset -a -p -c ${cpus} ${pid}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** The distinct `Cpus_allowed_list` values of the threads of `pid`. */
export function threadAffinity(pid: number): string[] {
  const seen = new Set<string>();
  try {
    for (const entry of Deno.readDirSync(`/proc/${pid}/task`)) {
      try {
        const status = Deno.readTextFileSync(`/proc/${pid}/task/${entry.name}/status`);
        const list = /^Cpus_allowed_list:\s+(\S+)/m.exec(status)?.[1];
        if (list) seen.add(list);
      } catch {
        // thread ended
      }
    }
  } catch {
    // process ended
  }
  return [...seen];
}

/** Number of threads of `pid`. */
export function threadCount(pid: number): number | undefined {
  try {
    return [...Deno.readDirSync(`/proc/${pid}/task`)].length;
  } catch {
    return undefined;
  }
}

/** True when a command is on the PATH. */
export async function hasCommand(name: string): Promise<boolean> {
  try {
    const out = await new Deno.Command("sh", {
      args: ["-c", `command -v ${name}`],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

/** The machine, for result files. */
export function machine(): Record<string, unknown> {
  let cpuModel = "unknown";
  try {
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(Deno.readTextFileSync("/proc/cpuinfo"))?.[1]
      ?.trim() ?? cpuModel;
  } catch {
    // not Linux
  }
  return {
    os: `${Deno.build.os} ${Deno.osRelease()} (${Deno.build.arch})`,
    cpus: navigator.hardwareConcurrency,
    cpuModel,
    memoryGiB: Math.round(Deno.systemMemoryInfo().total / 2 ** 30),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
  };
}
