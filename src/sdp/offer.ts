/**
 * Strict-enough parsing of SDP offers and answers from real clients (browsers, OBS, GStreamer,
 * Pion, libdatachannel): validates what the SFU relies on before the SDP reaches werift, and
 * extracts each media section's codecs, ICE credentials, candidates, RIDs and header extensions.
 *
 * @module
 */

import { SdpError } from "../errors.ts";
import { checkedCandidate, clip, M_LINE, splitLines } from "./sdpfrag.ts";
import { checkCount, SDP_LIMITS } from "./limits.ts";

/** One payload type of an m-line, with its `a=rtpmap`, `a=fmtp` and `a=rtcp-fb` lines. */
export interface Codec {
  /** RTP payload type, 0 to 127. */
  payloadType: number;
  /** Encoding name as written, e.g. `opus`, `OPUS`, `H264`, `rtx`. */
  name: string;
  /** RTP clock rate in Hz. */
  clockRate: number;
  /** Audio channel count, when the rtpmap gives one. */
  channels?: number;
  /** `a=fmtp` parameters as key/value pairs; keys lower-cased, values trimmed. */
  fmtp: Record<string, string>;
  /** The raw `a=fmtp` parameter string, e.g. `minptime=10;useinbandfec=1`. */
  fmtpLine?: string;
  /** Deduplicated `a=rtcp-fb` entries for this payload type (including `*` ones). */
  rtcpFeedback: { type: string; parameter?: string }[];
}

/** The direction attribute of a media section. */
export type Direction = "sendrecv" | "sendonly" | "recvonly" | "inactive";

/** One m-line and its attributes. */
export interface MediaSection {
  /** Position of the m-line in the SDP, from 0. */
  index: number;
  /** Media type: `audio`, `video`, `application`... */
  kind: string;
  /** The m-line port; 0 means rejected unless `bundleOnly`. */
  port: number;
  /** Transport protocol, e.g. `UDP/TLS/RTP/SAVPF`. */
  protocol: string;
  /** `a=mid`, if any. */
  mid?: string;
  /** Effective direction: media level, else session level, else `sendrecv`. */
  direction: Direction;
  /** The codecs in m-line order (empty for non-RTP sections). */
  codecs: Codec[];
  /** Effective `a=ice-ufrag` (media level, else session level). */
  iceUfrag?: string;
  /** Effective `a=ice-pwd` (media level, else session level). */
  icePwd?: string;
  /** Candidate attribute values without `a=` (`candidate:...`). */
  candidates: string[];
  /** Whether the section carries `a=bundle-only`. */
  bundleOnly: boolean;
  /** `a=rid` lines: id and `send` / `recv`. */
  rids: { id: string; direction: string }[];
  /** The raw `a=simulcast` value, if any. */
  simulcast?: string;
  /** `a=extmap` lines: id and URI. */
  extmaps: { id: number; uri: string }[];
}

/** A parsed SDP offer or answer. */
export interface ParsedSdp {
  /** The media sections in m-line order. */
  media: MediaSection[];
  /** The mids of the first `a=group:BUNDLE`, or `[]`. */
  bundle: string[];
  /** Session-level `a=ice-ufrag`, if any. */
  iceUfrag?: string;
  /** Session-level `a=ice-pwd`, if any. */
  icePwd?: string;
  /** The session-level `a=fingerprint`, else the first media-level one (`sha-256 AB:CD:...`). */
  fingerprint?: string;
}

interface Level {
  iceUfrag?: string;
  icePwd?: string;
  fingerprint?: string;
  direction?: Direction;
}

interface Draft extends Level {
  section: MediaSection;
  fmts: string[];
  rtpmap: Map<number, { name: string; clockRate: number; channels?: number }>;
  fmtp: Map<number, string>;
  feedback: { pt: number | "*"; type: string; parameter?: string }[];
}

const DIRECTIONS: readonly string[] = ["sendrecv", "sendonly", "recvonly", "inactive"];
const STATIC_PT: Record<number, string> = { 0: "PCMU", 8: "PCMA", 9: "G722", 13: "CN" };
const FINGERPRINT = /^[A-Za-z0-9-]+ [0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})+$/;
const RTPMAP = /^(\d{1,3}) ([A-Za-z0-9_.+-]+)\/(\d+)(?:\/(\d+))?$/;
const FMTP = /^(\d{1,3})(?:\s+(.*))?$/;
const RTCP_FB = /^(\d{1,3}|\*)\s+(\S+)(?:\s+(.+))?$/;
const RID = /^([A-Za-z0-9_-]+) (send|recv)(?: .*)?$/;
const EXTMAP = /^(\d{1,3})(?:\/[a-z]+)? (\S+)(?: .*)?$/;

function sectionName(s: MediaSection): string {
  return `m-line ${s.index} (${s.kind}${s.mid === undefined ? "" : `, mid ${s.mid}`})`;
}

function newDraft(line: string, where: string, index: number): Draft {
  const m = M_LINE.exec(line);
  if (!m || Number(m[2]) > 65535) {
    throw new SdpError(`${where} is a malformed m-line: "${clip(line)}"`);
  }
  const section: MediaSection = {
    index,
    kind: m[1],
    port: Number(m[2]),
    protocol: m[3],
    direction: "sendrecv",
    codecs: [],
    candidates: [],
    bundleOnly: false,
    rids: [],
    extmaps: [],
  };
  const fmts = m[4].trim().split(" ");
  checkCount(fmts.length, SDP_LIMITS.payloadTypesPerSection, `payload types on ${where}'s m-line`);
  return {
    section,
    fmts,
    rtpmap: new Map(),
    fmtp: new Map(),
    feedback: [],
  };
}

/** Handles one attribute; `draft` is undefined at session level. */
function attribute(level: Level, draft: Draft | undefined, value: string, where: string): void {
  const colon = value.indexOf(":");
  const name = colon < 0 ? value : value.slice(0, colon);
  const arg = colon < 0 ? "" : value.slice(colon + 1).trim();
  const bad = (what: string) =>
    new SdpError(`${where}: malformed a=${name} (${what}): "${clip(value)}"`);
  const need = () => {
    if (arg === "") throw bad("empty value");
    return arg;
  };
  if (DIRECTIONS.includes(name)) level.direction = name as Direction;
  else if (name === "ice-ufrag") level.iceUfrag = need();
  else if (name === "ice-pwd") level.icePwd = need();
  else if (name === "fingerprint") {
    if (!FINGERPRINT.test(need())) throw bad("expected a hash name and hex bytes");
    level.fingerprint ??= arg;
  }
  if (!draft) return;
  const s = draft.section;
  switch (name) {
    case "mid":
      s.mid = need();
      break;
    case "bundle-only":
      s.bundleOnly = true;
      break;
    case "candidate":
      checkCount(s.candidates.length + 1, SDP_LIMITS.candidatesPerSection, "candidates per m-line");
      s.candidates.push(checkedCandidate(value, where));
      break;
    case "simulcast":
      s.simulcast = need();
      break;
    case "rid": {
      const m = RID.exec(arg);
      if (!m) throw bad("expected <id> send|recv");
      checkCount(
        s.rids.length + 1,
        SDP_LIMITS.ridsPerSection,
        "simulcast layers (a=rid) per m-line",
      );
      s.rids.push({ id: m[1], direction: m[2] });
      break;
    }
    case "extmap": {
      const m = EXTMAP.exec(arg);
      if (!m || Number(m[1]) < 1 || Number(m[1]) > 255) throw bad("expected <1-255> <uri>");
      checkCount(s.extmaps.length + 1, SDP_LIMITS.extmapsPerSection, "a=extmap lines per m-line");
      s.extmaps.push({ id: Number(m[1]), uri: m[2] });
      break;
    }
    case "rtpmap": {
      const m = RTPMAP.exec(arg);
      if (!m || Number(m[1]) > 127 || Number(m[3]) === 0 || m[4] === "0") {
        throw bad("expected <payload type> <name>/<clock rate>[/<channels>]");
      }
      const pt = Number(m[1]);
      if (draft.rtpmap.has(pt)) throw bad(`second a=rtpmap for payload type ${pt}`);
      const map = { name: m[2], clockRate: Number(m[3]) };
      draft.rtpmap.set(pt, m[4] === undefined ? map : { ...map, channels: Number(m[4]) });
      break;
    }
    case "fmtp": {
      const m = FMTP.exec(arg);
      if (!m) throw bad("expected <payload type> <parameters>");
      draft.fmtp.set(Number(m[1]), m[2] ?? "");
      break;
    }
    case "rtcp-fb": {
      const m = RTCP_FB.exec(arg);
      if (!m) throw bad("expected <payload type>|* <type> [<parameter>]");
      const pt = m[1] === "*" ? "*" : Number(m[1]);
      draft.feedback.push(
        m[3] === undefined ? { pt, type: m[2] } : { pt, type: m[2], parameter: m[3] },
      );
      break;
    }
  }
}

/** Parses `a=fmtp` parameters (`k=v;k=v`): keys lower-cased, entries without `=` skipped. */
function parseFmtp(params: string | undefined): Record<string, string> {
  const entries = (params ?? "").split(";").flatMap((part): [string, string][] => {
    const eq = part.indexOf("=");
    return eq <= 0 ? [] : [[part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim()]];
  });
  return Object.fromEntries(entries);
}

function buildCodecs(draft: Draft): Codec[] {
  const codecs: Codec[] = [];
  for (const fmt of new Set(draft.fmts)) {
    if (!/^\d{1,3}$/.test(fmt) || Number(fmt) > 127) {
      throw new SdpError(`${sectionName(draft.section)}: "${fmt}" is not an RTP payload type`);
    }
    const pt = Number(fmt);
    const map = draft.rtpmap.get(pt) ??
      (STATIC_PT[pt] === undefined ? undefined : { name: STATIC_PT[pt], clockRate: 8000 });
    if (!map) {
      if (pt < 35) continue; // a static payload type we do not know: harmless, not forwardable
      throw new SdpError(`${sectionName(draft.section)}: payload type ${pt} has no a=rtpmap`);
    }
    const seen = new Set<string>();
    const rtcpFeedback: Codec["rtcpFeedback"] = [];
    for (const { pt: fbPt, type, parameter } of draft.feedback) {
      const key = `${type} ${parameter ?? ""}`;
      if ((fbPt !== pt && fbPt !== "*") || seen.has(key)) continue;
      seen.add(key);
      rtcpFeedback.push(parameter === undefined ? { type } : { type, parameter });
    }
    const fmtpLine = draft.fmtp.get(pt);
    const codec: Codec = { payloadType: pt, ...map, fmtp: parseFmtp(fmtpLine), rtcpFeedback };
    if (fmtpLine !== undefined) codec.fmtpLine = fmtpLine;
    codecs.push(codec);
  }
  return codecs;
}

/** True when a section takes part in the session: a non-zero port, or `a=bundle-only`. */
export function inUse(section: MediaSection): boolean {
  return section.port !== 0 || section.bundleOnly;
}

/**
 * Parses and validates an SDP offer or answer (CRLF or LF line endings).
 *
 * @throws {SdpError} when the SDP is empty or does not start with `v=0`; a line is not of the
 * `x=value` form; there is no m-line or an m-line is malformed; an audio/video section is not RTP;
 * no section is an audio or video section still in use; an `a=rtpmap`, `a=fmtp`, `a=rtcp-fb`,
 * `a=rid`, `a=extmap`, `a=fingerprint` or `a=candidate` line is malformed; a dynamic payload type
 * has no `a=rtpmap`; a section in use (port != 0 or `a=bundle-only`) has no ICE credentials at
 * media or session level; there is no `a=fingerprint` anywhere; mids repeat; or the BUNDLE group
 * names an unknown mid.
 * @throws {SdpLimitError} (422) when the SDP is over a cap of `SDP_LIMITS`: lines, m-lines,
 * audio or video m-lines in use (one each), candidates, payload types, rids or extmaps per m-line.
 */
export function parseSdp(sdp: string): ParsedSdp {
  const lines = splitLines(sdp);
  if (lines.length === 0) throw new SdpError("the SDP is empty");
  checkCount(lines.length, SDP_LIMITS.lines, "lines");
  if (lines[0] !== "v=0") {
    throw new SdpError(`the SDP must start with "v=0", not "${clip(lines[0])}"`);
  }
  const session: Level = {};
  let bundle: string[] | undefined;
  const drafts: Draft[] = [];
  lines.forEach((line, i) => {
    const where = `line ${i + 1}`;
    const m = /^([a-z])=(.*)$/.exec(line);
    if (!m) throw new SdpError(`${where} is not of the form x=value: "${clip(line)}"`);
    if (m[1] === "m") {
      checkCount(
        drafts.length + 1,
        SDP_LIMITS.mediaSections,
        "m-lines (WHIP and WHEP carry one audio and one video track)",
      );
      drafts.push(newDraft(line, where, drafts.length));
    }
    if (m[1] !== "a") return;
    const draft = drafts.at(-1);
    const group = /^group:BUNDLE(?:\s+(.*))?$/.exec(m[2]);
    if (!draft && group) bundle ??= (group[1] ?? "").split(/\s+/).filter((x) => x !== "");
    attribute(draft ?? session, draft, m[2], where);
  });
  if (drafts.length === 0) throw new SdpError("the SDP has no m= line");

  const media = drafts.map((d) => {
    const s = d.section;
    const iceUfrag = d.iceUfrag ?? session.iceUfrag;
    const icePwd = d.icePwd ?? session.icePwd;
    if (iceUfrag !== undefined) s.iceUfrag = iceUfrag;
    if (icePwd !== undefined) s.icePwd = icePwd;
    s.direction = d.direction ?? session.direction ?? "sendrecv";
    if (inUse(s) && (iceUfrag === undefined || icePwd === undefined)) {
      throw new SdpError(`${sectionName(s)} has no a=ice-ufrag and a=ice-pwd`);
    }
    const isRtp = s.protocol.includes("RTP");
    if ((s.kind === "audio" || s.kind === "video") && !isRtp) {
      throw new SdpError(`${sectionName(s)} uses ${s.protocol}; audio and video must use RTP`);
    }
    if (isRtp) s.codecs = buildCodecs(d);
    return s;
  });

  const fingerprint = session.fingerprint ?? drafts.find((d) => d.fingerprint)?.fingerprint;
  if (fingerprint === undefined) {
    throw new SdpError("the SDP has no a=fingerprint (DTLS is required)");
  }
  if (
    !media.some((s) => (s.kind === "audio" || s.kind === "video") && (s.port !== 0 || s.bundleOnly))
  ) {
    throw new SdpError(
      "the SDP has no audio or video section in use; only media sessions are supported",
    );
  }
  checkCount(
    media.reduce((n, s) => n + s.candidates.length, 0),
    SDP_LIMITS.candidates,
    "candidates",
  );
  for (const kind of ["audio", "video"] as const) {
    checkCount(
      media.filter((s) => s.kind === kind && inUse(s)).length,
      SDP_LIMITS[kind],
      `${kind} m-lines in use (WHIP and WHEP carry at most one audio and one video track)`,
    );
  }
  const mids = media.flatMap((s) => s.mid === undefined ? [] : [s.mid]);
  const dup = mids.find((mid, i) => mids.indexOf(mid) !== i);
  if (dup !== undefined) throw new SdpError(`mid "${dup}" is used by two m-lines`);
  const stray = (bundle ?? []).find((mid) => !mids.includes(mid));
  if (stray !== undefined) {
    throw new SdpError(`a=group:BUNDLE names mid "${stray}", which no m-line has`);
  }

  const parsed: ParsedSdp = { media, bundle: bundle ?? [], fingerprint };
  if (session.iceUfrag !== undefined) parsed.iceUfrag = session.iceUfrag;
  if (session.icePwd !== undefined) parsed.icePwd = session.icePwd;
  return parsed;
}
