/**
 * Capacity: the server's, each room's and each identity's session limits, counting sessions
 * still negotiating, and the participant slots of rooms. A POST reserves its share before the
 * negotiation's `await`, so concurrent POSTs cannot overshoot the limits.
 *
 * @module
 */
import { DomainError } from "../errors.ts";
import { isOwner, type Principal } from "../auth/rights.ts";
import type { SessionStore } from "../sessions/session.ts";
import type { Room } from "./room.ts";

/** The limits {@link Capacity} enforces. */
export interface CapacityLimits {
  /** Most live sessions on the server. */
  maxSessions: number;
  /** Most sessions in one room. */
  maxRoomSessions: number;
  /** Most sessions of one host or participant identity in a room. Unset: no cap. */
  maxIdentitySessions?: number;
  /** The event loop's lag (ms) while the server is overloaded, else undefined. */
  overloaded?: () => number | undefined;
  /** How long {@link Capacity.admit} waits for an overload to pass before it refuses, ms. */
  overloadWaitMs?: number;
}

/** How often {@link Capacity.admit} looks again whether an overload has passed, ms. */
export const ADMIT_POLL_MS = 50;

/** Sessions admitted and still negotiating, checked with the live ones against the limits. */
export class Capacity {
  /** Sessions admitted and still negotiating, per capacity key. */
  #held = new Map<string, number>();
  /** Participant identities admitted and still negotiating, per room. */
  #arriving = new Map<string, Map<string, number>>();
  #limits: CapacityLimits;
  #sessions: SessionStore;

  /** Limits over the live `sessions`. */
  constructor(limits: CapacityLimits, sessions: SessionStore) {
    this.#limits = limits;
    this.#sessions = sessions;
  }

  /** Sessions admitted and still negotiating, on the whole server (for tests and metrics). */
  get negotiating(): number {
    return this.#held.get("server") ?? 0;
  }

  /**
   * Throws 503 with `Retry-After` when the server (or `room`) has no room for one more session,
   * counting the sessions still negotiating.
   */
  check(room?: Room): void {
    const held = (key: string) => this.#held.get(key) ?? 0;
    const { maxRoomSessions, maxSessions } = this.#limits;
    if (room && room.sessionCount + held(`room\0${room.name}`) >= maxRoomSessions) {
      throw new DomainError(
        "unavailable",
        `the room "${room.name}" is at its limit of ${maxRoomSessions} sessions`,
        { retryAfter: 10 },
      );
    }
    if (this.#sessions.size + held("server") >= maxSessions) {
      throw new DomainError(
        "unavailable",
        `the server is at its limit of ${maxSessions} sessions`,
        { retryAfter: 10 },
      );
    }
  }

  /**
   * {@link check}, after waiting while the server is overloaded: new sessions are paced by how
   * the event loop keeps time, so that joining ones cannot take the media of the live ones. An
   * overload that lasts longer than `overloadWaitMs` is a 503 with `Retry-After`.
   */
  async admit(): Promise<void> {
    const waitMs = this.#limits.overloadWaitMs ?? 0;
    const until = performance.now() + waitMs;
    for (let lagMs = this.#limits.overloaded?.(); lagMs !== undefined;) {
      if (performance.now() >= until) {
        throw new DomainError(
          "unavailable",
          `the server is overloaded (its event loop runs ${Math.round(lagMs)} ms late): ` +
            "its live sessions keep their media, new ones wait",
          { retryAfter: 5 },
        );
      }
      await new Promise((r) => setTimeout(r, ADMIT_POLL_MS));
      lagMs = this.#limits.overloaded?.();
    }
    this.check();
  }

  /**
   * Admits `who` to `room` and reserves one session of capacity (server, room, identity, and a
   * participant slot); synchronous, so call it before the negotiation's `await`. Disposing of
   * the result (`using`) releases it: the session is registered by then (and counted as a
   * session), or it was refused.
   */
  reserve(who: Principal, room: Room): Disposable {
    this.check(room);
    const identityKey = `identity\0${room.name}\0${who.role}\0${who.sub}`;
    const cap = this.#limits.maxIdentitySessions;
    if (who.role !== "viewer" && cap !== undefined) {
      const live = room.sessions().filter((s) => isOwner(who, s)).length;
      if (live + (this.#held.get(identityKey) ?? 0) >= cap) {
        throw new DomainError(
          "too-many-requests",
          `${who.sub} already holds ${cap} sessions in the room "${room.name}"; end some first`,
          { retryAfter: 10 },
        );
      }
    }
    const arriving = this.#arriving.get(room.name) ?? new Map<string, number>();
    room.admit(who.sub, who.role, new Set(arriving.keys()));
    const keys = ["server", `room\0${room.name}`, identityKey];
    for (const key of keys) count(this.#held, key, 1);
    const participant = who.role === "participant";
    if (participant) {
      count(arriving, who.sub, 1);
      this.#arriving.set(room.name, arriving);
    }
    let released = false;
    return {
      [Symbol.dispose]: () => {
        if (released) return;
        released = true;
        for (const key of keys) count(this.#held, key, -1);
        if (participant) {
          count(arriving, who.sub, -1);
          if (arriving.size === 0 && this.#arriving.get(room.name) === arriving) {
            this.#arriving.delete(room.name);
          }
        }
      },
    };
  }
}

/** Adds `by` to `map[key]`, deleting the key at zero. */
function count(map: Map<string, number>, key: string, by: number): void {
  const n = (map.get(key) ?? 0) + by;
  if (n > 0) map.set(key, n);
  else map.delete(key);
}
