/**
 * A periodic task that never overlaps itself: the next run is armed when the previous one ends,
 * `trigger()` runs it now (or right after the current run), and `stop()` waits for a run in
 * progress. The task's failures are its own to report: a rejection here is swallowed.
 *
 * @module
 */

/** A self-rearming timer around one async task. */
export class Loop {
  readonly #everyMs: number;
  readonly #task: () => Promise<void>;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = true;

  /** @param everyMs the pause between two runs; @param task what runs. */
  constructor(everyMs: number, task: () => Promise<void>) {
    this.#everyMs = everyMs;
    this.#task = task;
  }

  /** Arms the first run after one period. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#arm();
  }

  /** Runs the task now, or once more right after the run in progress; resolves when it ran. */
  trigger(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    clearTimeout(this.#timer);
    this.#running = this.#run();
    return this.#running;
  }

  /** Stops the timer; resolves once a run in progress has ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  async #run(): Promise<void> {
    do {
      this.#again = false;
      try {
        await this.#task();
      } catch {
        // the task reports its own failures
      }
    } while (this.#again && !this.#stopped);
    this.#running = undefined;
    this.#arm();
  }

  #arm(): void {
    clearTimeout(this.#timer);
    if (this.#stopped) return;
    this.#timer = setTimeout(() => this.trigger(), this.#everyMs);
  }
}
