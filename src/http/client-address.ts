/**
 * The client's address, for the per-address limits: the socket's peer, or — only when that peer
 * is a trusted proxy (`TRUSTED_PROXIES`) — the right-most hop of `Forwarded` (RFC 7239) or
 * `X-Forwarded-For` that is not itself a trusted proxy. A client can write anything into those
 * headers, but the hops to the right of it were appended by proxies we trust, so the right-most
 * untrusted hop is the address our own proxies saw.
 *
 * IPv4 and IPv6 (IPv4-mapped IPv6 counts as IPv4). The limits key an IPv6 client by its /64
 * ({@link limitKey}): one host is normally given a whole /64, so per-address limits on single
 * IPv6 addresses would be no limits at all.
 *
 * @module
 */

import type {} from "hono";

declare module "hono" {
  interface ContextVariableMap {
    /** The client's address as {@link clientAddress} found it (set by the app's middleware). */
    clientAddress: string;
  }
}

/** 4 bytes (IPv4) or 16 bytes (IPv6). */
type IpBytes = Uint8Array;

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseIpv4(text: string): IpBytes | undefined {
  const m = IPV4.exec(text);
  if (!m) return undefined;
  const bytes = m.slice(1).map(Number);
  if (bytes.some((b, i) => b > 255 || (m[i + 1].length > 1 && m[i + 1][0] === "0"))) {
    return undefined;
  }
  return new Uint8Array(bytes);
}

function parseIpv6(text: string): IpBytes | undefined {
  let s = text;
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  if (!/^[0-9a-fA-F:.]+$/.test(s) || s.length > 45) return undefined;
  if (s.includes(".")) { // embedded IPv4 in the last 32 bits: rewrite it as two groups
    const lastColon = s.lastIndexOf(":");
    const v4 = parseIpv4(s.slice(lastColon + 1));
    if (!v4) return undefined;
    const hex = (a: number, b: number) => ((a << 8) | b).toString(16);
    s = `${s.slice(0, lastColon + 1)}${hex(v4[0], v4[1])}:${hex(v4[2], v4[3])}`;
  }
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const parse = (part: string) =>
    part === ""
      ? []
      : part.split(":").map((g) => /^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16) : NaN);
  const head = parse(halves[0]);
  const rest = halves.length === 2 ? parse(halves[1]) : [];
  if (halves.length === 2 && head.length + rest.length > 7) return undefined;
  const groups = halves.length === 2
    ? [...head, ...new Array(8 - head.length - rest.length).fill(0), ...rest]
    : head;
  if (groups.length !== 8 || groups.some((g) => Number.isNaN(g))) return undefined;
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

/** Parses an IPv4 or IPv6 address (IPv4-mapped IPv6 becomes IPv4); `undefined` if it is none. */
export function parseIp(text: string): IpBytes | undefined {
  const v4 = parseIpv4(text);
  if (v4) return v4;
  const v6 = parseIpv6(text);
  if (!v6) return undefined;
  const mapped = v6.slice(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff;
  return mapped ? v6.slice(12) : v6;
}

/** The canonical text of an address (RFC 5952 for IPv6: lower case, longest zero run as `::`). */
export function formatIp(bytes: IpBytes): string {
  if (bytes.length === 4) return bytes.join(".");
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  let best = -1, bestLength = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLength).join(":")}`;
}

/** The canonical text of `text` if it is an address, else `undefined`. */
export function normalizeIp(text: string): string | undefined {
  const bytes = parseIp(text.trim());
  return bytes && formatIp(bytes);
}

/**
 * The key the per-address limits count under: an IPv4 address itself, an IPv6 address's /64
 * (written `prefix::/64`), anything else (not an address) as given.
 */
export function limitKey(address: string): string {
  const bytes = parseIp(address);
  if (!bytes) return address;
  if (bytes.length === 4) return formatIp(bytes);
  const prefix = new Uint8Array(16);
  prefix.set(bytes.subarray(0, 8));
  return `${formatIp(prefix)}/64`;
}

/** A set of addresses and CIDR blocks (the trusted proxies). */
export class AddressSet {
  #blocks: { bytes: IpBytes; bits: number }[] = [];

  /**
   * @param entries addresses (`10.0.0.1`, `::1`) and blocks (`10.0.0.0/8`, `fd00::/8`); throws an
   * `Error` naming a malformed entry (configuration validates them first).
   */
  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const [address, length, extra] = entry.trim().split("/");
      const bytes = parseIp(address);
      const max = bytes?.length === 4 ? 32 : 128;
      let bits = length === undefined ? max : Number(length);
      // "::ffff:10.0.0.0/104" is an IPv4 block written as IPv6.
      if (bytes?.length === 4 && address.includes(":") && length !== undefined) bits -= 96;
      if (!bytes || extra !== undefined || !Number.isInteger(bits) || bits < 0 || bits > max) {
        throw new Error(`"${entry}" is not an IP address or CIDR block`);
      }
      this.#blocks.push({ bytes, bits });
    }
  }

  /** True when no entry was given. */
  get empty(): boolean {
    return this.#blocks.length === 0;
  }

  /** Whether `address` (text) is in one of the blocks. */
  has(address: string): boolean {
    const bytes = parseIp(address);
    if (!bytes) return false;
    return this.#blocks.some((block) => {
      if (block.bytes.length !== bytes.length) return false;
      let bits = block.bits;
      for (let i = 0; bits > 0; i++, bits -= 8) {
        const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
        if ((block.bytes[i] & mask) !== (bytes[i] & mask)) return false;
      }
      return true;
    });
  }
}

/** Splits a header value on commas outside quoted strings. */
function splitOutsideQuotes(value: string, separator: string): string[] {
  const parts: string[] = [];
  let current = "";
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch === '"') quoted = !quoted;
    else if (ch === "\\" && quoted && i + 1 < value.length) {
      current += ch + value[++i];
      continue;
    }
    if (ch === separator && !quoted) {
      parts.push(current);
      current = "";
    } else current += ch;
  }
  parts.push(current);
  return parts;
}

/** A node of `Forwarded` / `X-Forwarded-For` without its port and brackets. */
function nodeAddress(node: string): string {
  let s = node.trim();
  if (s.startsWith('"') && s.endsWith('"') && s.length >= 2) {
    s = s.slice(1, -1).replace(/\\(.)/g, "$1");
  }
  if (s.startsWith("[")) {
    const end = s.indexOf("]");
    return end > 0 ? s.slice(1, end) : s;
  }
  const colons = s.split(":").length - 1;
  if (colons === 1) return s.slice(0, s.indexOf(":")); // IPv4 (or a name) with a port
  return s;
}

/**
 * The hops a request passed, left (the original client, as claimed) to right (the proxy nearest
 * to us), from `Forwarded` (`for=` of each element) or, without it, `X-Forwarded-For`.
 */
export function forwardedHops(headers: Headers): string[] {
  const forwarded = headers.get("Forwarded");
  if (forwarded !== null) {
    return splitOutsideQuotes(forwarded, ",").map((element) => {
      for (const pair of splitOutsideQuotes(element, ";")) {
        const eq = pair.indexOf("=");
        if (eq > 0 && pair.slice(0, eq).trim().toLowerCase() === "for") {
          return nodeAddress(pair.slice(eq + 1));
        }
      }
      return "unknown";
    });
  }
  const xff = headers.get("X-Forwarded-For");
  if (xff === null) return [];
  return xff.split(",").map(nodeAddress);
}

/**
 * The client's address: the socket's peer `socket`, unless it is in `trusted`; then the
 * right-most hop of the forwarding headers that is not in `trusted`. A hop that is not an address
 * (`unknown`, an obfuscated `_name`, garbage) stops the walk: the trusted proxy that wrote it is
 * the best we know. When every hop is trusted, the left-most one.
 */
export function clientAddress(socket: string, headers: Headers, trusted: AddressSet): string {
  const peer = normalizeIp(socket) ?? socket;
  if (trusted.empty || !trusted.has(peer)) return peer;
  let nearest = peer;
  const hops = forwardedHops(headers);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeIp(hops[i]);
    if (hop === undefined) return nearest;
    if (!trusted.has(hop)) return hop;
    nearest = hop;
  }
  return nearest;
}
