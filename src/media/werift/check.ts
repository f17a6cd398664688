/**
 * The start-up check of werift: its version is the one the patches (patches.ts, srtcp.ts) and
 * the typed view of its internals (internals.ts) were written against, and every member they
 * patch, override or read is there. A mismatch stops the start with one sentence naming it
 * ({@link assertWerift}; exit status 2 through main.ts), never a silent return to werift's own
 * behaviour (e.g. the public STUN fallback an unapplied patch would bring back).
 *
 * @module
 */
import {
  Connection,
  DtlsClient,
  RTCDtlsTransport,
  RTCRtpSender,
  SrtpSession,
  StunProtocol,
  TcpPassiveProtocol,
  UdpTransport,
} from "werift";
import project from "../../../deno.json" with { type: "json" };
import { ConfigError } from "../../config.ts";
import { SENDER_MEMBERS } from "./internals.ts";
import { cipherPrototype } from "./srtcp.ts";
import "./patches.ts";

/** The werift version the patches and internals are written for. */
export const WERIFT_VERSION = "0.25.2";

/** Prototype methods patched or called by name, per class. */
const PROTOTYPE_METHODS: [string, object, string[]][] = [
  ["Connection", Connection.prototype, [
    "getCandidatePromises", // patches.ts: bounded gathering
    "applyStunTurnServersFromOptions", // patches.ts: no default STUN server
    "ensureProtocol", // shared-transport.ts: a shared port's protocol joins the connection
    "pairLocalProtocol",
  ]],
  ["StunProtocol", StunProtocol.prototype, ["datagramReceived"]], // fed by the UDP mux
  ["TcpPassiveProtocol", TcpPassiveProtocol.prototype, ["registerSocket"]], // fed by the TCP mux
  ["UdpTransport", UdpTransport.prototype, ["init"]], // patches.ts: small receive buffers
  ["RTCDtlsTransport", RTCDtlsTransport.prototype, ["start", "sendRtp"]], // repeated flight 4
  ["DtlsClient", DtlsClient.prototype, ["connect"]], // patches.ts: flight 1 at once
  ["RTCRtpSender", RTCRtpSender.prototype, ["handleRtcpPacket", "replaceRTP", "sendRtp"]],
];

/** Instance fields read or written on a fresh ICE connection. */
const CONNECTION_FIELDS = [
  "nominated",
  "checkList",
  "protocols",
  "onData",
  "options",
  "stunServer",
  "generation", // shared-transport.ts: candidates and credentials of the shared ports
  "localUsername",
  "localPassword",
];
/** Session keys read from an SRTP context (egress.ts) and an SRTCP cipher (srtcp.ts). */
const CONTEXT_FIELDS = ["srtpSessionKey", "srtpSessionSalt", "srtpSessionAuthTag"];
const CIPHER_FIELDS = ["srtcpSessionKey", "srtcpSessionSalt"];

/**
 * Every mismatch between the loaded werift and what the patches expect, one phrase each (empty
 * when it is the expected one). `requested` is the werift specifier of deno.json.
 */
export function weriftMismatches(
  requested: string | undefined = project.imports?.werift,
): string[] {
  const problems: string[] = [];
  if (requested !== `npm:werift@${WERIFT_VERSION}`) {
    problems.push(
      `deno.json asks for ${requested ?? "no werift"}, not npm:werift@${WERIFT_VERSION}`,
    );
  }
  for (const [name, proto, methods] of PROTOTYPE_METHODS) {
    for (const m of methods) {
      if (typeof (proto as Record<string, unknown>)[m] !== "function") {
        problems.push(`${name}.prototype.${m} is missing`);
      }
    }
  }
  const missing = (what: string, object: object, fields: readonly string[]) => {
    for (const f of fields) if (!(f in object)) problems.push(`${what}.${f} is missing`);
  };
  try {
    missing("RTCRtpSender", new RTCRtpSender("video"), SENDER_MEMBERS);
    missing("Connection", new Connection(true, {}), CONNECTION_FIELDS);
    missing("StunProtocol", new StunProtocol(), ["transport", "localIp", "localCandidate"]);
    const key = new Uint8Array(16);
    const salt = new Uint8Array(14);
    const keys = { localMasterKey: key, localMasterSalt: salt };
    const session = new SrtpSession(
      {
        keys: { ...keys, remoteMasterKey: key, remoteMasterSalt: salt },
        profile: 1,
      } as ConstructorParameters<typeof SrtpSession>[0],
    );
    missing("SrtpSession.localContext", session.localContext, CONTEXT_FIELDS);
    missing("SrtcpSession.localContext", session.localContext, CIPHER_FIELDS);
    for (const profile of [0x0001, 0x0007]) {
      const proto = cipherPrototype(profile) as unknown as Record<string, unknown>;
      const own = (proto.__weriftSrtcp ?? proto) as Record<string, unknown>;
      for (const m of ["encryptRTCP", "decryptRTCP"]) {
        if (typeof own[m] !== "function") {
          problems.push(`the SRTP cipher of profile ${profile} has no ${m}`);
        }
      }
    }
  } catch (error) {
    problems.push(`its objects cannot be built as expected (${(error as Error).message})`);
  }
  return problems;
}

/**
 * Throws a {@link ConfigError} naming every mismatch of {@link weriftMismatches}: the server
 * does not start on a werift its patches do not fit.
 */
export function assertWerift(): void {
  const problems = weriftMismatches();
  if (problems.length === 0) return;
  throw new ConfigError(
    `werift is not the version the media patches were written for (${WERIFT_VERSION}): ${
      problems.join("; ")
    } (see src/media/werift/)`,
  );
}
