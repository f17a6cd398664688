/**
 * The configuration checks that involve two variables (one setting needs another, two exclude
 * each other), run on the raw values so that they are listed with the other problems.
 *
 * @module
 */

/** One sentence per problem, each starting with the variable to change. */
export function crossChecks(raw: Record<string, string>): string[] {
  const problems: string[] = [];
  const min = raw.UDP_PORT_MIN;
  const max = raw.UDP_PORT_MAX;
  if ((min === undefined) !== (max === undefined)) {
    problems.push(
      `UDP_PORT_MIN: UDP_PORT_MIN and UDP_PORT_MAX go together (got "${min ?? max}" alone)`,
    );
  } else if (min !== undefined && Number(min) >= Number(max)) {
    problems.push(`UDP_PORT_MIN: must be lower than UDP_PORT_MAX (got "${min}" and "${max}")`);
  }
  if (min !== undefined && raw.UDP_PORT !== undefined) {
    problems.push(
      "UDP_PORT: set UDP_PORT (one port for every session) or UDP_PORT_MIN/UDP_PORT_MAX " +
        "(a port per session), not both",
    );
  }
  if ((raw.TLS_CERT_FILE === undefined) !== (raw.TLS_KEY_FILE === undefined)) {
    const given = raw.TLS_CERT_FILE === undefined ? "TLS_KEY_FILE" : "TLS_CERT_FILE";
    problems.push(`${given}: TLS_CERT_FILE and TLS_KEY_FILE go together (got ${given} alone)`);
  }
  if (raw.REDIS_URL !== undefined && raw.PUBLIC_URL === undefined) {
    problems.push(
      "PUBLIC_URL: cluster mode (REDIS_URL) needs the URL other nodes and clients reach this " +
        "node at, e.g. PUBLIC_URL=http://10.0.0.5:8080",
    );
  }
  if (raw.REDIS_URL !== undefined && raw.JWT_SECRET === undefined) {
    problems.push(
      "JWT_SECRET: cluster mode (REDIS_URL) needs the secret shared by every node (it signs " +
        "the nodes' service tokens)",
    );
  }
  if (raw.JWT_SECRET !== undefined && raw.JWT_JWKS_FILE !== undefined) {
    problems.push("JWT_SECRET: set JWT_SECRET or JWT_JWKS_FILE, not both");
  }
  return problems;
}
