/**
 * Is a request from this machine? `/demo.json` (the demo's host token) answers only such requests:
 * the socket's peer is a loopback address, no proxy forwarded the request (a proxy on this machine
 * would make every client look local), and the `Host` names this machine (a page on another site
 * whose name resolves to 127.0.0.1 — DNS rebinding — gets nothing).
 *
 * @module
 */

import { AddressSet } from "./client-address.ts";

/** The loopback blocks, through the same parser as TRUSTED_PROXIES (IPv4-mapped IPv6 included). */
const LOOPBACK = new AddressSet(["127.0.0.0/8", "::1"]);

/** Whether `address` (an IP address as text, brackets allowed) is a loopback address. */
export function isLoopbackAddress(address: string): boolean {
  return LOOPBACK.has(address.trim().replace(/^\[|\]$/g, ""));
}

/** Whether the `Host` header value names this machine by a loopback name or address. */
export function isLoopbackHostHeader(host: string | null): boolean {
  if (host === null) return false;
  const m = /^(\[[^\]]+\]|[^:]+)(?::\d+)?$/.exec(host.trim());
  if (!m) return false;
  const name = m[1].toLowerCase();
  return name === "localhost" || name.endsWith(".localhost") || isLoopbackAddress(name);
}

/** Headers a proxy adds; their presence means the socket's peer is not the client. */
const FORWARDING = ["forwarded", "x-forwarded-for", "x-real-ip"];

/**
 * Whether a request with socket peer `socketAddress` and `headers` comes from this machine, and
 * if not, why (a sentence for the problem details).
 */
export function localClientProblem(
  socketAddress: string | undefined,
  headers: Headers,
): string | undefined {
  if (socketAddress === undefined || !isLoopbackAddress(socketAddress)) {
    return "the demo tokens are given only to a browser on the server's own machine";
  }
  if (FORWARDING.some((name) => headers.has(name))) {
    return "the demo tokens are not given through a proxy";
  }
  if (!isLoopbackHostHeader(headers.get("host"))) {
    return "the demo tokens are given only to pages opened as localhost or 127.0.0.1";
  }
  return undefined;
}
