/**
 * A load process driven by the ramp: spawned (optionally under `taskset` and `nice`), sent JSON
 * commands on stdin, read `@@ {json}` lines from stdout. Other output is kept (the last lines)
 * for error messages. Killing is by process id only.
 *
 * @module
 */
import { LINE_PREFIX } from "./common.ts";

/** How to start one child. */
export interface ChildSpec {
  /** A name for messages. */
  name: string;
  /** Deno script (path) and its arguments. */
  script: string;
  args: string[];
  /** Deno flags before the script (default `-A`). */
  denoFlags?: string[];
  /** Pin to these CPUs with `taskset -c` (e.g. "1"). */
  cpus?: string;
  /** `nice -n` value (negative needs root). */
  nice?: number;
  /** Environment additions. */
  env?: Record<string, string>;
  /** Working directory. */
  cwd?: string;
  /** Start from an empty environment (plus `env`). */
  clearEnv?: boolean;
}

type Message = Record<string, unknown> & { ev: string; tag?: unknown };

/** A running child process with a line protocol. */
export class Child {
  readonly name: string;
  readonly process: Deno.ChildProcess;
  readonly pid: number;
  /** The last lines of non-protocol output (stdout and stderr). */
  readonly tail: string[] = [];
  #waiters: { match: (m: Message) => boolean; resolve: (m: Message) => void }[] = [];
  #queue: Message[] = [];
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #exited = false;
  readonly status: Promise<Deno.CommandStatus>;

  constructor(spec: ChildSpec) {
    this.name = spec.name;
    const deno = [Deno.execPath(), "run", ...(spec.denoFlags ?? ["-A"]), spec.script, ...spec.args];
    let argv = deno;
    if (spec.cpus !== undefined) argv = ["taskset", "-c", spec.cpus, ...argv];
    if (spec.nice !== undefined && spec.nice !== 0) {
      argv = ["nice", "-n", String(spec.nice), ...argv];
    }
    this.process = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      cwd: spec.cwd,
      env: spec.env,
      clearEnv: spec.clearEnv,
    }).spawn();
    this.pid = this.process.pid;
    this.#writer = this.process.stdin.getWriter();
    this.status = this.process.status.then((s) => {
      this.#exited = true;
      return s;
    });
    this.#read(this.process.stdout, true);
    this.#read(this.process.stderr, false);
  }

  /** True once the process has exited. */
  get exited(): boolean {
    return this.#exited;
  }

  async #read(stream: ReadableStream<Uint8Array>, protocol: boolean): Promise<void> {
    const decoder = new TextDecoder();
    let buffered = "";
    try {
      for await (const chunk of stream) {
        buffered += decoder.decode(chunk, { stream: true });
        let nl;
        while ((nl = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (protocol && line.startsWith(LINE_PREFIX)) this.#deliver(JSON.parse(line.slice(3)));
          else this.#keep(line);
        }
      }
    } catch {
      // the process went away
    }
    if (buffered) this.#keep(buffered);
  }

  #keep(line: string): void {
    const log = Deno.env.get("BENCH_SERVER_LOG");
    if (log && this.name === "server") Deno.writeTextFileSync(log, line + "\n", { append: true });
    // deno-lint-ignore no-control-regex
    this.tail.push(`${this.name}: ${line.replace(/\x1b\[[0-9;]*m/g, "")}`);
    if (this.tail.length > 40) this.tail.shift();
  }

  #deliver(message: Message): void {
    const i = this.#waiters.findIndex((w) => w.match(message));
    if (i >= 0) {
      const [w] = this.#waiters.splice(i, 1);
      w.resolve(message);
    } else {
      this.#queue.push(message);
      if (this.#queue.length > 100) this.#queue.shift();
    }
  }

  /** Sends one command. */
  async send(command: Record<string, unknown>): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify(command) + "\n"));
  }

  /** Waits for a message `ev` (with `tag` when given), or rejects after `ms` or at exit. */
  next(ev: string | string[], ms: number, tag?: unknown): Promise<Message> {
    const evs = Array.isArray(ev) ? ev : [ev];
    const match = (m: Message) => evs.includes(m.ev) && (tag === undefined || m.tag === tag);
    const queued = this.#queue.findIndex(match);
    if (queued >= 0) return Promise.resolve(this.#queue.splice(queued, 1)[0]);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (m: Message) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`${this.name}: no ${evs.join("/")} in ${ms} ms\n${this.tail.join("\n")}`));
      }, ms);
      this.#waiters.push(waiter);
      this.status.then(() => {
        if (!this.#waiters.includes(waiter)) return;
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        clearTimeout(timer);
        reject(new Error(`${this.name} exited\n${this.tail.join("\n")}`));
      });
    });
  }

  /** Sends a command and waits for its answer. */
  async request(command: Record<string, unknown>, ev: string, ms: number): Promise<Message> {
    const tag = command.tag ?? crypto.randomUUID();
    const answer = this.next(ev, ms, tag);
    await this.send({ ...command, tag });
    return answer;
  }

  /**
   * Asks the child to stop (`stop`, then end of stdin), waits up to `graceMs`, then kills it
   * by pid (SIGKILL). Safe to call twice.
   */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.#exited) {
      await this.send({ cmd: "stop" }).catch(() => {});
      await this.#writer.close().catch(() => {});
    }
    await this.#waitOrKill(graceMs);
  }

  /** Sends `signal`, waits up to `graceMs`, then SIGKILL. */
  async terminate(signal: Deno.Signal = "SIGTERM", graceMs = 10_000): Promise<void> {
    if (!this.#exited) {
      try {
        this.process.kill(signal);
      } catch {
        // gone
      }
    }
    await this.#waitOrKill(graceMs);
  }

  async #waitOrKill(graceMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exited = await Promise.race([
      this.status.then(() => true),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), graceMs))),
    ]);
    clearTimeout(timer);
    if (!exited) {
      try {
        this.process.kill("SIGKILL");
      } catch {
        // gone
      }
      await this.status.catch(() => {});
    }
  }

  /** Kills at once (SIGKILL), without waiting; for signal handlers. */
  killNow(): void {
    if (this.#exited) return;
    try {
      this.process.kill("SIGKILL");
    } catch {
      // gone
    }
  }
}
