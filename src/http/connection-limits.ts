/**
 * How many HTTP connections the server accepts: the configured cap, lowered so that a reserve of
 * descriptors always stays for media sockets (each session's UDP sockets), files and the runtime.
 * HTTP connections are what an anonymous client can open by the thousand; they must never be
 * what takes the descriptor a new session's socket needs.
 *
 * @module
 */
import type { NofileLimit } from "../os/rlimit.ts";

/** The limit assumed when it cannot be read (no FFI): the usual soft default. */
export const ASSUMED_NOFILE = 1024;

/** The computed cap and what it came from. */
export interface ConnectionBudget {
  /** Most open HTTP connections. */
  maxConnections: number;
  /** Descriptors kept for everything else. */
  reserve: number;
  /** The descriptor limit used (soft `RLIMIT_NOFILE`, or {@link ASSUMED_NOFILE}). */
  nofile: number;
  /** False when the limit could not be read and {@link ASSUMED_NOFILE} was assumed. */
  known: boolean;
}

/**
 * `min(configured, limit − reserve)`, at least 16; the reserve is `reserve` when configured,
 * else half the limit and at least 256.
 */
export function connectionBudget(
  limit: NofileLimit,
  configured: number,
  reserve?: number,
): ConnectionBudget {
  const nofile = limit.known ? limit.soft : ASSUMED_NOFILE;
  const kept = reserve ?? Math.max(256, Math.floor(nofile / 2));
  return {
    maxConnections: Math.max(16, Math.min(configured, nofile - kept)),
    reserve: kept,
    nofile,
    known: limit.known,
  };
}
