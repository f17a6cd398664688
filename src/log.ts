/**
 * Structured JSON logs, one line per event, on stderr.
 *
 * @module
 */

/** Severity, lowest first. */
export type Level = "debug" | "info" | "warn" | "error" | "silent";

const ORDER: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3, silent: 4 };

/** A structured logger. */
export interface Logger {
  /** Routine events (requests, sessions). */
  info(msg: string, fields?: Record<string, unknown>): void;
  /** Something a client did wrong, or that may need attention. */
  warn(msg: string, fields?: Record<string, unknown>): void;
  /** A fault of the server. */
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** A logger writing JSON lines at or above `level`. */
export function createLogger(level: Level): Logger {
  const write = (at: Level) => (msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[at] < ORDER[level]) return;
    console.error(JSON.stringify({ time: new Date().toISOString(), level: at, msg, ...fields }));
  };
  return { info: write("info"), warn: write("warn"), error: write("error") };
}
