/**
 * The one Redis connection of a cluster node (`REDIS_URL`), built to be lost: it connects in the
 * background with a bounded connect timeout, reconnects by itself with exponential backoff
 * (capped at 2 s), never lets an error of the client escape as an unhandled one, and turns every
 * failed, refused (offline) or slow (over 1 s) command into a {@link DirectoryUnavailable}, which
 * the HTTP layer answers with 503 and `Retry-After`. Counters and latencies feed `/metrics`.
 *
 * @module
 */
import { createClient } from "redis";
import { z } from "zod";
import { DomainError } from "../errors.ts";
import { Emitter } from "../events.ts";
import type { Logger } from "../log.ts";
import { LatencyRecorder, type LatencySnapshot } from "./latency.ts";

/** Seconds a client is told to wait (`Retry-After`) when the directory is unavailable. */
export const DIRECTORY_RETRY_AFTER = 2;

/** Redis could not be reached, refused the command, or did not answer in time. */
export class DirectoryUnavailable extends DomainError {
  /** @param detail what failed; @param cause the client's error, when there is one. */
  constructor(detail: string, cause?: unknown) {
    super("unavailable", detail, { retryAfter: DIRECTORY_RETRY_AFTER, cause });
    this.name = "DirectoryUnavailable";
  }
}

/**
 * `REDIS_URL`: `redis://host:port[/db]` (also `rediss://` for TLS); an optional user and password
 * before the host. For config.ts to validate the variable with the rest of the environment.
 */
export const redisUrlSchema = z.string().trim().refine((raw) => {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return false;
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") return false;
  if (url.hostname === "" || url.search !== "" || url.hash !== "") return false;
  const port = url.port === "" ? 6379 : Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return false;
  return url.pathname === "" || url.pathname === "/" || /^\/(0|[1-9]\d{0,4})$/.test(url.pathname);
}, { message: "expected redis://host:port[/db] (or rediss://)" });

/** How the connection behaves. */
export interface RedisOptions {
  /** `redis://host:port[/db]`. */
  url: string;
  /** Longest wait for one TCP connect and handshake, ms (default 2000). */
  connectTimeoutMs?: number;
  /** Longest wait for one command's reply, ms (default 1000). */
  commandTimeoutMs?: number;
  /** Longest pause between two reconnection attempts, ms (default 2000). */
  maxBackoffMs?: number;
  /** Where the connection's state changes are logged (lost, back), once per change. */
  log?: Logger;
}

/** Counters for `/metrics`. */
export interface RedisStats {
  /** True while commands can be sent. */
  available: boolean;
  /** Commands sent (or refused at once because the connection was down). */
  commands: number;
  /** Commands that failed: refused, errored or timed out. */
  errors: number;
  /** Of `errors`, those that had no reply within the command timeout. */
  timeouts: number;
  /** Times the connection was lost after being ready. */
  disconnects: number;
  /** Latency of the commands that got a reply. */
  latency: LatencySnapshot;
}

/** The client type of the npm `redis` package, with its default modules. */
export type RedisClient = ReturnType<typeof createClient>;

/** A Redis connection that survives Redis going away; see the module documentation. */
export class RedisLink {
  /** Emits once each time the connection becomes ready (the first time and after each loss). */
  readonly ready: Emitter<void> = new Emitter<void>();
  readonly #client: RedisClient | undefined;
  readonly #timeoutMs: number;
  readonly #log?: Logger;
  readonly #latency = new LatencyRecorder();
  #available = false;
  #closed = false;
  #commands = 0;
  #errors = 0;
  #timeouts = 0;
  #disconnects = 0;
  #lastError = "";

  /** Creates the connection and starts connecting in the background; never throws on a bad link. */
  constructor(options: RedisOptions) {
    const maxBackoff = options.maxBackoffMs ?? 2000;
    this.#timeoutMs = options.commandTimeoutMs ?? 1000;
    this.#log = options.log;
    let client: RedisClient | undefined;
    try {
      client = createClient({
        url: options.url,
        // a command while the connection is down fails at once instead of waiting in a queue
        disableOfflineQueue: true,
        socket: {
          connectTimeout: options.connectTimeoutMs ?? 2000,
          keepAlive: true,
          // 50, 100, 200 … ms, capped, with jitter so that a restarted Redis is not met by every
          // node at the same instant; `false` once closed, which ends the retry loop
          reconnectStrategy: (retries) =>
            this.#closed ? false : Math.min(maxBackoff, 50 * 2 ** Math.min(retries, 10)) *
              (0.8 + 0.2 * Math.random()),
        },
      });
      client.on("error", (error: unknown) => this.#onError(error));
      client.on("ready", () => this.#onReady());
      client.on("end", () => this.#available = false);
      client.connect().catch((error: unknown) => this.#onError(error));
    } catch (error) {
      // a URL the client cannot use: every command fails (config.ts validates REDIS_URL first)
      client = undefined;
      this.#onError(error);
    }
    this.#client = client;
  }

  /** A link to `url` with the default timeouts; shorthand for `new RedisLink({ url, ... })`. */
  static connect(url: string, options: Omit<RedisOptions, "url"> = {}): RedisLink {
    return new RedisLink({ ...options, url });
  }

  /** True while the connection is ready for commands. */
  get available(): boolean {
    return this.#available && !this.#closed;
  }

  /**
   * Resolves true as soon as the connection is ready, false after `timeoutMs` or once closed.
   * For start-up and tests; commands do not need it.
   */
  whenReady(timeoutMs: number): Promise<boolean> {
    if (this.available) return Promise.resolve(true);
    if (this.#closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        off();
        resolve(false);
      }, timeoutMs);
      const off = this.ready.on(() => {
        clearTimeout(timer);
        off();
        resolve(true);
      });
    });
  }

  /**
   * Runs one command through the client: rejects with {@link DirectoryUnavailable} when the
   * connection is down or closed, when Redis answers with an error, or when no reply comes within
   * the command timeout. Never throws synchronously.
   */
  run<T>(name: string, command: (client: RedisClient) => Promise<T>): Promise<T> {
    this.#commands++;
    if (this.#closed) return this.#fail(name, "the connection is closed");
    if (!this.#available || !this.#client) return this.#fail(name, "Redis is not connected");
    const started = performance.now();
    let pending: Promise<T>;
    try {
      pending = command(this.#client);
    } catch (error) {
      return this.#fail(name, "the client refused it", error);
    }
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        this.#timeouts++;
        this.#fail(name, `no reply within ${this.#timeoutMs} ms`).catch(reject);
      }, this.#timeoutMs);
      pending.then((value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#latency.record(performance.now() - started);
        resolve(value);
      }, (error: unknown) => {
        if (settled) return; // a late failure after the timeout: already counted, nobody waits
        settled = true;
        clearTimeout(timer);
        this.#fail(name, "it failed", error).catch(reject);
      });
    });
  }

  /** Counters and latencies since the start. */
  get stats(): RedisStats {
    return {
      available: this.available,
      commands: this.#commands,
      errors: this.#errors,
      timeouts: this.#timeouts,
      disconnects: this.#disconnects,
      latency: this.#latency.snapshot(),
    };
  }

  /** Closes the connection: pending commands fail, no reconnection follows. Idempotent. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#available = false;
    try {
      this.#client?.destroy();
    } catch {
      // already closed by the client itself (its reconnect strategy gave up)
    }
    this.ready.clear();
    return Promise.resolve();
  }

  #fail<T>(name: string, why: string, cause?: unknown): Promise<T> {
    this.#errors++;
    const message = cause instanceof Error ? `: ${cause.message}` : "";
    return Promise.reject(
      new DirectoryUnavailable(`Redis command ${name} failed (${why}${message})`, cause),
    );
  }

  #onReady(): void {
    if (this.#closed) return;
    this.#available = true;
    this.#lastError = "";
    this.#log?.info("redis connected");
    this.ready.emit();
  }

  #onError(error: unknown): void {
    const wasAvailable = this.#available;
    this.#available = false;
    if (this.#closed) return;
    if (wasAvailable) this.#disconnects++;
    const text = error instanceof Error ? error.message : String(error);
    // one line per change of state or of cause, not one per reconnection attempt
    if (wasAvailable || text !== this.#lastError) {
      this.#log?.warn("redis unavailable", { error: text });
    }
    this.#lastError = text;
  }
}
