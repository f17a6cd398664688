/**
 * The sessions of a shared port by local ICE ufrag, for routing a Binding request (RFC 8445
 * §7.3) to the session it authenticates for. werift draws a local ufrag of 4 hex characters,
 * 16 bits: among 300 live sessions two share one with a probability of about 1 in 2, among 600
 * about 19 in 20. Sessions are told apart by their passwords (88 bits each): a request goes to
 * the session of its ufrag whose password its MESSAGE-INTEGRITY verifies, so a clash costs one
 * more HMAC for those two sessions and nothing else. (The ramp found players that never
 * connected where the table kept only the first session of a ufrag.)
 *
 * @module
 */
import { hasIntegrity } from "./stun.ts";

/** One session's credentials. */
interface Entry<E> {
  endpoint: E;
  password: string;
}

/** Endpoints by local ufrag, several per ufrag. */
export class UfragTable<E> {
  readonly #byUfrag = new Map<string, Entry<E>[]>();
  #size = 0;

  /** Entries held (one per endpoint and ufrag). */
  get size(): number {
    return this.#size;
  }

  /** Routes Binding requests for `ufrag` that `password` authenticates to `endpoint`. */
  register(endpoint: E, ufrag: string, password: string): void {
    const entries = this.#byUfrag.get(ufrag);
    if (!entries) {
      this.#byUfrag.set(ufrag, [{ endpoint, password }]);
      this.#size++;
      return;
    }
    const own = entries.find((e) => e.endpoint === endpoint);
    if (own) {
      own.password = password;
      return;
    }
    entries.push({ endpoint, password });
    this.#size++;
  }

  /** Removes every ufrag of `endpoint`. */
  forget(endpoint: E): void {
    for (const [ufrag, entries] of this.#byUfrag) {
      const kept = entries.filter((e) => e.endpoint !== endpoint);
      this.#size -= entries.length - kept.length;
      if (kept.length === 0) this.#byUfrag.delete(ufrag);
      else if (kept.length !== entries.length) this.#byUfrag.set(ufrag, kept);
    }
  }

  /**
   * The endpoint that Binding request `data` (whose USERNAME starts with local ufrag `ufrag`)
   * authenticates for, or undefined (unknown ufrag, no password verifies its integrity).
   */
  match(ufrag: string, data: Uint8Array): E | undefined {
    const entries = this.#byUfrag.get(ufrag);
    if (!entries) return undefined;
    for (const entry of entries) if (hasIntegrity(data, entry.password)) return entry.endpoint;
    return undefined;
  }
}
