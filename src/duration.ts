/**
 * Durations as people write them in settings and on the command line: `45s`, `30m`, `1h`, `2d`
 * or a bare number of seconds. The one parser of the configuration and the token CLI.
 *
 * @module
 */

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Options of {@link parseDuration}. */
export interface DurationOptions {
  /** Accept `0` (a tolerance may be zero; a lifetime may not). Default false. */
  allowZero?: boolean;
}

/**
 * Parses a duration into whole seconds: `45s`, `30m`, `1h`, `2d` (any case), or a bare number
 * of seconds (`3600`). Throws an `Error` naming the accepted forms otherwise.
 */
export function parseDuration(text: string, options: DurationOptions = {}): number {
  const match = /^(\d+)([smhd]?)$/i.exec(String(text).trim());
  const seconds = match === null ? NaN : Number(match[1]) * UNITS[match[2].toLowerCase() || "s"];
  const least = options.allowZero ? 0 : 1;
  if (!Number.isSafeInteger(seconds) || seconds < least) {
    throw new Error(
      `invalid duration ${JSON.stringify(text)}: expected a ${
        options.allowZero ? "" : "positive "
      }whole number of seconds or a number followed by s, m, h or d (e.g. 3600, 45s, 30m, 1h, 2d)`,
    );
  }
  return seconds;
}
