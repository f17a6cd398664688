/**
 * A tiny typed event emitter for the domain (rooms, sessions): listeners get a disposer back,
 * and a throwing listener never stops the others.
 *
 * @module
 */

/** Emits values of type `T` to its listeners. */
export class Emitter<T> {
  #listeners = new Set<(value: T) => void>();

  /** Adds a listener; returns the function that removes it. */
  on(listener: (value: T) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Calls every listener with `value`. */
  emit(value: T): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(value);
      } catch (e) {
        console.error(
          JSON.stringify({ level: "error", msg: "event listener failed", error: String(e) }),
        );
      }
    }
  }

  /** Number of listeners. */
  get size(): number {
    return this.#listeners.size;
  }

  /** Removes every listener. */
  clear(): void {
    this.#listeners.clear();
  }
}
