/**
 * RFC 8840 `application/trickle-ice-sdpfrag` bodies, as WHIP (RFC 9725 §4.3) and WHEP send them in
 * PATCH requests: parsing, serialization, and the RFC 8839 `candidate` attribute grammar.
 *
 * @module
 */

import { SdpError } from "../errors.ts";

/** One media section of an sdpfrag: the candidates trickled for one m-line. */
export interface SdpFragMedia {
  /** The `a=mid` of the section, which names the m-line of the session it belongs to. */
  mid?: string;
  /** Position of this m-line among the m-lines of the frag, from 0. */
  mLineIndex: number;
  /** Attribute values without `a=`, e.g. `candidate:1 1 udp 2113937151 192.0.2.1 5000 typ host`. */
  candidates: string[];
  /** Whether the section carries `a=end-of-candidates`. */
  endOfCandidates: boolean;
  /** Media-level `a=ice-ufrag`, if any. */
  iceUfrag?: string;
  /** Media-level `a=ice-pwd`, if any. */
  icePwd?: string;
}

/** A parsed sdpfrag. */
export interface SdpFrag {
  /** Session-level `a=ice-ufrag`, if any. */
  iceUfrag?: string;
  /** Session-level `a=ice-pwd`, if any. */
  icePwd?: string;
  /** Tokens of the session-level `a=ice-options`, e.g. `["trickle", "ice2"]`. */
  iceOptions?: string[];
  /** Whether `a=end-of-candidates` appears at session level (it then applies to every section). */
  endOfCandidates: boolean;
  /** The media sections, in order. */
  media: SdpFragMedia[];
}

/** The fields of an RFC 8839 `candidate` attribute. */
export interface Candidate {
  /** 1 to 32 ice-chars. */
  foundation: string;
  /** 1 for RTP; 2 for RTCP when not multiplexed. */
  component: number;
  /** Lower-cased transport, `udp` or `tcp` in practice. */
  transport: string;
  /** The candidate priority. */
  priority: number;
  /** IPv4, IPv6 or FQDN (mDNS `.local` names included). */
  address: string;
  /** The port, 0 to 65535. */
  port: number;
  /** Lower-cased type: `host`, `srflx`, `prflx`, `relay`, or an extension token. */
  type: string;
  /** `raddr`, if present. */
  relatedAddress?: string;
  /** `rport`, if present. */
  relatedPort?: number;
  /** The remaining `name value` extension pairs, e.g. `{ generation: "0", tcptype: "active" }`. */
  extensions: Record<string, string>;
}

const ICE_CHARS = /^[A-Za-z0-9+/]{1,32}$/;
const TOKEN = /^[A-Za-z0-9!#$%&'*+\-.^_`{|}~]+$/;
const ADDRESS = /^[A-Za-z0-9.:%_-]+$/;
/** `m=<media> <port>[/<count>] <proto> <fmt> ...`, shared with the offer parser. */
export const M_LINE = /^m=([a-z]+) (\d{1,5})(?:\/\d+)? ([A-Za-z0-9/_.-]+)((?: [^ ]+)+)$/;

function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}

/**
 * Parses one candidate attribute value (`candidate:...`, with or without a leading `a=`) per the
 * RFC 8839 grammar: foundation component transport priority address port `typ` type
 * [`raddr` address] [`rport` port] *(name value).
 *
 * @throws {SdpError} when the value does not follow the grammar.
 */
export function parseCandidate(value: string): Candidate {
  const text = value.trim().replace(/^a=/, "");
  const fail = (why: string) => new SdpError(`malformed candidate (${why}): "${clip(text)}"`);
  if (!text.startsWith("candidate:")) throw fail("it does not start with candidate:");
  const f = text.slice("candidate:".length).split(/\s+/);
  if (f.length < 8) throw fail("fewer than 8 fields");
  const [foundation, component, transport, priority, address, port, typ, type] = f;
  if (!ICE_CHARS.test(foundation)) throw fail("bad foundation");
  if (!/^\d{1,3}$/.test(component) || Number(component) < 1 || Number(component) > 256) {
    throw fail("bad component id");
  }
  if (!TOKEN.test(transport)) throw fail("bad transport");
  if (!/^\d{1,10}$/.test(priority)) throw fail("bad priority");
  if (!ADDRESS.test(address)) throw fail("bad connection address");
  const portNumber = parsePort(port);
  if (portNumber === undefined) throw fail("bad port");
  if (typ !== "typ") throw fail('"typ" expected after the port');
  if (!TOKEN.test(type)) throw fail("bad candidate type");
  const candidate: Candidate = {
    foundation,
    component: Number(component),
    transport: transport.toLowerCase(),
    priority: Number(priority),
    address,
    port: portNumber,
    type: type.toLowerCase(),
    extensions: {},
  };
  let i = 8;
  if (f[i] === "raddr") {
    if (f[i + 1] === undefined || !ADDRESS.test(f[i + 1])) throw fail("bad raddr");
    candidate.relatedAddress = f[i + 1];
    i += 2;
  }
  if (f[i] === "rport") {
    candidate.relatedPort = parsePort(f[i + 1] ?? "");
    if (candidate.relatedPort === undefined) throw fail("bad rport");
    i += 2;
  }
  for (; i < f.length; i += 2) {
    const [name, ext] = [f[i], f[i + 1]];
    if (ext === undefined || !TOKEN.test(name)) throw fail(`extension "${name}" without a value`);
    candidate.extensions[name] = ext;
  }
  return candidate;
}

/** Whether `text` is a dotted-quad IPv4 address. */
function isIPv4(text: string): boolean {
  const parts = text.split(".");
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

/** Whether `text` is an IPv6 address: hex groups, at most one `::`, optionally ending in IPv4. */
function isIPv6(text: string): boolean {
  const lastColon = text.lastIndexOf(":");
  if (lastColon < 0) return false;
  let head = text;
  let max = 8;
  const tail = text.slice(lastColon + 1);
  if (tail.includes(".")) {
    if (!isIPv4(tail)) return false;
    head = text.slice(0, lastColon + 1);
    if (!head.endsWith("::")) head = head.slice(0, -1);
    max = 6;
  }
  const halves = head.split("::");
  if (halves.length > 2) return false;
  const groups = halves.flatMap((h) => h === "" ? [] : h.split(":"));
  if (!groups.every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g))) return false;
  return halves.length === 2 ? groups.length < max : groups.length === max;
}

/**
 * Whether the server can use this candidate. RFC 9725 §4.3.1: a server silently discards what it
 * cannot use. Usable means: parseable, UDP, component 1 (media is RTCP-multiplexed and bundled),
 * type host/srflx/prflx/relay, a literal IPv4 or IPv6 address (no mDNS `.local` or other name)
 * and a non-zero port.
 */
export function isUsableCandidate(candidate: string): boolean {
  let c: Candidate;
  try {
    c = parseCandidate(candidate);
  } catch {
    return false;
  }
  return c.transport === "udp" && c.component === 1 && c.port !== 0 &&
    ["host", "srflx", "prflx", "relay"].includes(c.type) &&
    (isIPv4(c.address) || isIPv6(c.address));
}

/** Shortens a line quoted in an error detail to 80 characters. */
export function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Splits a body into lines (CRLF or LF), trimming trailing blanks and dropping blank last lines. */
export function splitLines(text: string): string[] {
  const lines = text.split(/\r?\n/).map((l) => l.trimEnd());
  while (lines.length > 0 && lines[lines.length - 1].trim() === "") lines.pop();
  return lines;
}

/**
 * Parses an `application/trickle-ice-sdpfrag` body (RFC 8840 §9, CRLF or LF line endings).
 * Unknown attributes (e.g. `a=group:BUNDLE`, `a=ice-pacing`) and `c=` lines are ignored.
 *
 * @throws {SdpError} on an empty body, a full SDP (`v=`/`o=`/`s=`/`t=` lines), a line not of the
 * `x=value` form, a malformed m-line, a candidate outside a media section or not following the
 * RFC 8839 grammar, or an empty ICE credential.
 */
export function parseSdpFrag(text: string): SdpFrag {
  const lines = splitLines(text);
  if (lines.every((l) => l.trim() === "")) throw new SdpError("the sdpfrag body is empty");
  const frag: SdpFrag = { endOfCandidates: false, media: [] };
  let current: SdpFragMedia | undefined;
  lines.forEach((line, i) => {
    const where = `sdpfrag line ${i + 1}`;
    const m = /^([a-z])=(.*)$/.exec(line);
    if (!m) throw new SdpError(`${where} is not of the form x=value: "${clip(line)}"`);
    const [, type, value] = m;
    if ("vost".includes(type)) {
      throw new SdpError(`${where} is "${type}=": a full SDP is not a trickle-ice-sdpfrag`);
    }
    if (type === "c") return;
    if (type === "m") {
      if (!M_LINE.test(line)) throw new SdpError(`${where} is a malformed m-line: "${clip(line)}"`);
      current = { mLineIndex: frag.media.length, candidates: [], endOfCandidates: false };
      frag.media.push(current);
      return;
    }
    if (type !== "a") throw new SdpError(`${where}: "${type}=" lines do not belong in an sdpfrag`);
    const colon = value.indexOf(":");
    const name = colon < 0 ? value : value.slice(0, colon);
    const arg = colon < 0 ? "" : value.slice(colon + 1).trim();
    const need = () => {
      if (arg === "") throw new SdpError(`${where}: a=${name} has an empty value`);
      return arg;
    };
    const target = current ?? frag;
    switch (name) {
      case "ice-ufrag":
        target.iceUfrag = need();
        break;
      case "ice-pwd":
        target.icePwd = need();
        break;
      case "ice-options":
        frag.iceOptions = need().split(/\s+/);
        break;
      case "end-of-candidates":
        target.endOfCandidates = true;
        break;
      case "mid":
        if (!current) throw new SdpError(`${where}: a=mid before any m-line`);
        current.mid = need();
        break;
      case "candidate":
        if (!current) throw new SdpError(`${where}: a=candidate before any m-line`);
        current.candidates.push(checkedCandidate(value, where));
        break;
    }
  });
  return frag;
}

/** Validates a candidate attribute value and returns it trimmed, naming the line on failure. */
export function checkedCandidate(value: string, where: string): string {
  try {
    parseCandidate(value);
  } catch (e) {
    throw new SdpError(`${where}: ${(e as Error).message}`);
  }
  return value.trim();
}

/**
 * Serializes an sdpfrag with CRLF line endings: session-level `a=ice-options`, `a=ice-ufrag`,
 * `a=ice-pwd` and `a=end-of-candidates`, then for each media section the dummy m-line
 * `m=audio 9 RTP/AVP 0` (RFC 8840 §9), `a=mid`, media-level credentials, the candidates and
 * `a=end-of-candidates`.
 */
export function serializeSdpFrag(frag: SdpFrag): string {
  const out: string[] = [];
  if (frag.iceOptions?.length) out.push(`a=ice-options:${frag.iceOptions.join(" ")}`);
  if (frag.iceUfrag !== undefined) out.push(`a=ice-ufrag:${frag.iceUfrag}`);
  if (frag.icePwd !== undefined) out.push(`a=ice-pwd:${frag.icePwd}`);
  if (frag.endOfCandidates) out.push("a=end-of-candidates");
  for (const media of frag.media) {
    out.push("m=audio 9 RTP/AVP 0");
    if (media.mid !== undefined) out.push(`a=mid:${media.mid}`);
    if (media.iceUfrag !== undefined) out.push(`a=ice-ufrag:${media.iceUfrag}`);
    if (media.icePwd !== undefined) out.push(`a=ice-pwd:${media.icePwd}`);
    for (const c of media.candidates) out.push(`a=${c}`);
    if (media.endOfCandidates) out.push("a=end-of-candidates");
  }
  return out.map((l) => `${l}\r\n`).join("");
}
