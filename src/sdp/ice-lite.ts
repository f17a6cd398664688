/**
 * `a=ice-lite` where browsers read it. werift writes it in each media section, but it is a
 * session-level attribute (RFC 8839 §5.3) and Chromium only reads it there: a browser that
 * answers the server's offer would not learn that the server is lite, both sides would stay
 * controlled and nobody would nominate a pair.
 *
 * @module
 */

/** Moves every `a=ice-lite` line of `sdp` to one line at session level (after `t=`). */
export function liftIceLite(sdp: string): string {
  const lines = sdp.split("\r\n");
  if (!lines.some((l) => l === "a=ice-lite")) return sdp;
  const rest = lines.filter((l) => l !== "a=ice-lite");
  const t = rest.findIndex((l) => l.startsWith("t="));
  rest.splice(t < 0 ? 1 : t + 1, 0, "a=ice-lite");
  return rest.join("\r\n");
}
