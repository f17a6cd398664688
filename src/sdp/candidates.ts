/**
 * SDP candidate edits that werift does not do itself: NAT 1:1 address announcement
 * (Pion's `SetNAT1To1IPs`) and extracting the ICE parameters of a local description.
 *
 * @module
 */

/** ICE parameters of one side: credentials and candidate attribute values. */
export interface IceParameters {
  /** `ice-ufrag`. */
  ufrag: string;
  /** `ice-pwd`. */
  pwd: string;
  /** `candidate:…` attribute values (without `a=`), of the first media section. */
  candidates: string[];
}

/**
 * Replaces the address of every host candidate with each announced address (one candidate per
 * announced address and local socket), keeping the port. Non-host candidates are kept as they are.
 */
export function announceAddresses(sdp: string, announced: readonly string[]): string {
  if (announced.length === 0) return sdp;
  const eol = sdp.includes("\r\n") ? "\r\n" : "\n";
  const out: string[] = [];
  const seen = new Set<string>();
  let section = 0;
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith("m=")) section++;
    const m = /^a=candidate:(\S+) (\d+) (\S+) (\d+) (\S+) (\d+) typ host(.*)$/i.exec(line);
    if (!m) {
      out.push(line);
      continue;
    }
    const [, foundation, component, transport, priority, , port, rest] = m;
    announced.forEach((address, i) => {
      const key = `${section} ${address} ${port} ${transport}`;
      if (seen.has(key)) return;
      seen.add(key);
      out.push(
        `a=candidate:${foundation}${i} ${component} ${transport} ${
          Number(priority) - i
        } ${address} ${port} typ host${rest}`,
      );
    });
  }
  return out.join(eol);
}

/** Reads the ICE credentials and first-section candidates of a (local) description. */
export function iceParametersOf(sdp: string): IceParameters {
  let ufrag = "";
  let pwd = "";
  const candidates: string[] = [];
  let section = 0;
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith("m=")) section++;
    if (line.startsWith("a=ice-ufrag:") && !ufrag) ufrag = line.slice(12);
    else if (line.startsWith("a=ice-pwd:") && !pwd) pwd = line.slice(10);
    else if (line.startsWith("a=candidate:") && section <= 1) candidates.push(line.slice(2));
  }
  return { ufrag, pwd, candidates };
}

/** Returns `sdp` with every `a=ice-ufrag` / `a=ice-pwd` line set to the given credentials. */
export function replaceIceCredentials(sdp: string, ufrag: string, pwd: string): string {
  return sdp
    .replace(/^a=ice-ufrag:.*$/gm, `a=ice-ufrag:${ufrag}`)
    .replace(/^a=ice-pwd:.*$/gm, `a=ice-pwd:${pwd}`);
}

/** Removes repeated identical `a=candidate` lines within each media section. */
export function dedupeCandidates(sdp: string): string {
  const eol = sdp.includes("\r\n") ? "\r\n" : "\n";
  let seen = new Set<string>();
  return sdp.split(/\r?\n/).filter((line) => {
    if (line.startsWith("m=")) seen = new Set();
    if (!line.startsWith("a=candidate:")) return true;
    if (seen.has(line)) return false;
    seen.add(line);
    return true;
  }).join(eol);
}

/** A shared socket's address as a STUN server sees it (its server-reflexive address). */
export interface Reflexive {
  /** The local address of the socket. */
  local: string;
  /** The address and port the STUN server saw. */
  mapped: [string, number];
}

/** RFC 8445 §5.1.2.1 priority of a server-reflexive candidate (type preference 100). */
const SRFLX_PRIORITY = (100 << 24) + (65535 << 8) + 255;

/**
 * Adds a server-reflexive UDP candidate per entry of `reflexive` whose mapped address differs
 * from its local one (a machine behind NAT) to every media section that has candidates, after
 * its last one; `port` is the shared UDP port (the related port).
 */
export function addReflexive(sdp: string, reflexive: readonly Reflexive[], port: number): string {
  const extra = reflexive.filter((r) => r.mapped[0] !== r.local).map((r, i) =>
    `a=candidate:srflx${i} 1 udp ${SRFLX_PRIORITY - i} ${r.mapped[0]} ${r.mapped[1]} typ srflx ` +
    `raddr ${r.local} rport ${port}`
  );
  if (extra.length === 0) return sdp;
  const eol = sdp.includes("\r\n") ? "\r\n" : "\n";
  const lines = sdp.split(/\r?\n/);
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    out.push(lines[i]);
    const next = lines[i + 1] ?? "";
    if (lines[i].startsWith("a=candidate:") && !next.startsWith("a=candidate:")) out.push(...extra);
  }
  return out.join(eol);
}
