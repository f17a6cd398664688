/**
 * Bounds offer negotiation (WHIP and WHEP POSTs: SDP parsing, a werift PeerConnection, ICE
 * gathering, DTLS set-up) so that a burst of valid-looking offers cannot stall live media: at most
 * `server` negotiations run at once on the server and `perClient` per client address and per
 * token; the rest wait in line, first come first served. The line is bounded too: a client with
 * {@link QUEUE_PER_CLIENT} offers already waiting gets 429, a full server line or a wait longer
 * than {@link MAX_WAIT_MS} gets 503, both with `Retry-After`.
 *
 * Hand-written (a counting semaphore with keys): the npm semaphores (p-limit, async-sema) limit
 * one pool, not one pool per key plus a shared one.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { decodeJwt } from "jose";
import { DomainError } from "../errors.ts";
import { limitKey } from "./client-address.ts";

/** Offers one client may have waiting in line. */
export const QUEUE_PER_CLIENT = 64;
/** Offers the server keeps waiting in line. */
export const QUEUE_SERVER = 512;
/** Longest wait in line, ms. */
export const MAX_WAIT_MS = 15_000;

/** Caps of a {@link NegotiationGate}. */
export interface NegotiationCaps {
  /** Negotiations at once on the server. */
  server: number;
  /** Negotiations at once per key (client address, token). */
  perClient: number;
}

interface Waiter {
  keys: string[];
  start: () => void;
}

/** A semaphore with one shared pool and one pool per key. */
export class NegotiationGate {
  #running = 0;
  #byKey = new Map<string, number>();
  #waiting: Waiter[] = [];
  #waitingByKey = new Map<string, number>();

  /** @param caps the limits. */
  constructor(readonly caps: NegotiationCaps) {}

  /** Negotiations running now. */
  get running(): number {
    return this.#running;
  }

  /** Offers waiting in line now. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Runs `work` once a slot is free for the server and every key; refuses when the line is full. */
  async run<T>(keys: string[], work: () => Promise<T>): Promise<T> {
    if (!this.#fits(keys) || this.#waiting.length > 0) await this.#wait(keys);
    else this.#take(keys);
    try {
      return await work();
    } finally {
      this.#give(keys);
      this.#wake();
    }
  }

  #fits(keys: string[]): boolean {
    return this.#running < this.caps.server &&
      keys.every((k) => (this.#byKey.get(k) ?? 0) < this.caps.perClient);
  }

  #take(keys: string[]): void {
    this.#running++;
    for (const k of keys) add(this.#byKey, k, 1);
  }

  #give(keys: string[]): void {
    this.#running--;
    for (const k of keys) add(this.#byKey, k, -1);
  }

  #wait(keys: string[]): Promise<void> {
    if (keys.some((k) => (this.#waitingByKey.get(k) ?? 0) >= QUEUE_PER_CLIENT)) {
      throw new DomainError(
        "too-many-requests",
        `${QUEUE_PER_CLIENT} offers of this client are already waiting to be negotiated`,
        { retryAfter: 2 },
      );
    }
    if (this.#waiting.length >= QUEUE_SERVER) {
      throw new DomainError("unavailable", "the server is negotiating too many offers", {
        retryAfter: 2,
      });
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        keys,
        start: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.#leave(waiter);
        reject(
          new DomainError("unavailable", "the offer waited too long to be negotiated", {
            retryAfter: 5,
          }),
        );
      }, MAX_WAIT_MS);
      this.#waiting.push(waiter);
      for (const k of keys) add(this.#waitingByKey, k, 1);
    });
  }

  #leave(waiter: Waiter): void {
    const i = this.#waiting.indexOf(waiter);
    if (i < 0) return;
    this.#waiting.splice(i, 1);
    for (const k of waiter.keys) add(this.#waitingByKey, k, -1);
  }

  /** Starts every waiter that fits now, in order (a waiter that does not fit does not block others). */
  #wake(): void {
    for (const waiter of [...this.#waiting]) {
      if (this.#running >= this.caps.server) return;
      if (!this.#fits(waiter.keys)) continue;
      this.#leave(waiter);
      this.#take(waiter.keys);
      waiter.start();
    }
  }
}

function add(map: Map<string, number>, key: string, by: number): void {
  const next = (map.get(key) ?? 0) + by;
  if (next <= 0) map.delete(key);
  else map.set(key, next);
}

/**
 * The keys an offer counts under: its client address (IPv6: its /64) and its bearer token, except
 * a viewer's (shared by crowds; the claim is read unverified, so a forged one only drops the token
 * key — the address key still holds).
 */
export function negotiationKeys(c: Context): string[] {
  const keys = [`address ${limitKey(c.get("clientAddress") ?? "unknown")}`];
  const token = /^Bearer\s+(\S+)$/i.exec(c.req.header("Authorization") ?? "")?.[1];
  if (token !== undefined) {
    let role: unknown;
    try {
      role = decodeJwt(token).role;
    } catch {
      role = undefined;
    }
    if (role !== "viewer") keys.push(`token ${token}`);
  }
  return keys;
}

/** Middleware: POSTs (offers) pass through `gate`. */
export function negotiationLimit(gate: NegotiationGate): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.method !== "POST") return await next();
    await gate.run(negotiationKeys(c), () => next());
  };
}
