/**
 * A {@link WebmSink} over a file: appends and patches are queued and written in order by one
 * asynchronous loop, so the media path never waits on the disk. The first failure (a full disk,
 * a folder that became unwritable, a backlog past {@link MAX_BACKLOG_BYTES}) stops the writing
 * and is reported once; nothing is thrown at the caller.
 *
 * @module
 */
import type { WebmSink } from "./webm.ts";

/** Bytes waiting for the disk beyond which the recording gives up (the disk does not keep up). */
export const MAX_BACKLOG_BYTES = 64 * 1024 * 1024;

type Op = { at?: number; bytes: Uint8Array };

/** What the sink needs of a file (a `Deno.FsFile`). */
export type SinkFile = Pick<Deno.FsFile, "write" | "seek" | "close">;
/** Creates the file at a path (a new file: an existing one is an error). */
export type SinkOpen = (path: string) => Promise<SinkFile>;

const createNew: SinkOpen = (path) => Deno.open(path, { write: true, createNew: true });

/** A file written in the background. */
export class FileSink implements WebmSink {
  /** The first write error, once there was one. */
  error?: Error;
  #path: string;
  #file?: SinkFile;
  #open: SinkOpen;
  #ops: Op[] = [];
  #backlog = 0;
  #running?: Promise<void>;
  #onError: (error: Error) => void;
  #closed = false;

  /**
   * A sink that creates the file at `path` (a new file: an existing one is an error) at its
   * first write; `onError` is called once, at the first failure. `open` creates the file (tests
   * give one whose writes they complete themselves).
   */
  constructor(path: string, onError: (error: Error) => void, open: SinkOpen = createNew) {
    this.#path = path;
    this.#onError = onError;
    this.#open = open;
  }

  /** True once the file was created. */
  get opened(): boolean {
    return this.#file !== undefined;
  }

  /** Queues bytes to append. */
  append(bytes: Uint8Array): void {
    this.#queue({ bytes });
  }

  /** Queues bytes to write at `offset`. */
  patch(offset: number, bytes: Uint8Array): void {
    this.#queue({ at: offset, bytes });
  }

  /** Writes what is queued, then closes the file (idempotent). */
  async close(): Promise<void> {
    while (this.#running) await this.#running;
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#file?.close();
    } catch {
      // already closed
    }
  }

  #queue(op: Op): void {
    if (this.error || this.#closed) return;
    this.#ops.push(op);
    this.#backlog += op.bytes.length;
    if (this.#backlog > MAX_BACKLOG_BYTES) {
      this.#fail(new Error(`more than ${MAX_BACKLOG_BYTES} bytes wait for the disk`));
      return;
    }
    this.#kick();
  }

  /**
   * Starts the writing loop unless it runs; when it ends, starts it again for what was queued
   * after its last look (between its end and its `finally`, which a `??=` on the running promise
   * missed: a recording's closing bytes, Duration and Cues, then never reached the file).
   */
  #kick(): void {
    if (this.#running || this.#ops.length === 0 || this.error) return;
    this.#running = this.#drain().finally(() => {
      this.#running = undefined;
      this.#kick();
    });
  }

  async #drain(): Promise<void> {
    while (this.#ops.length > 0 && !this.error) {
      const op = this.#ops.shift()!;
      try {
        this.#file ??= await this.#open(this.#path);
        const file = this.#file;
        if (op.at !== undefined) await file.seek(op.at, Deno.SeekMode.Start);
        let done = 0;
        while (done < op.bytes.length) done += await file.write(op.bytes.subarray(done));
        if (op.at !== undefined) await file.seek(0, Deno.SeekMode.End);
        this.#backlog -= op.bytes.length;
      } catch (e) {
        this.#fail(e instanceof Error ? e : new Error(String(e)));
      }
    }
  }

  #fail(error: Error): void {
    if (this.error) return;
    this.error = error;
    this.#ops = [];
    this.#backlog = 0;
    this.#onError(error);
  }
}
