/**
 * One werift `RTCPeerConnection` set up the way an SFU needs it: bounded gathering (no hidden
 * public STUN server), announced addresses, the codecs chosen by the caller, and the
 * offer/answer, trickle and ICE-restart steps that the WHIP/WHEP resources drive.
 *
 * @module
 */
import {
  type RTCIceServer,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  type RTCRtpHeaderExtensionParameters,
  useSdesMid,
  useSdesRTPStreamId,
} from "werift";
import type { Codec } from "../sdp/offer.ts";
import {
  addReflexive,
  announceAddresses,
  dedupeCandidates,
  type IceParameters,
  iceParametersOf,
  type Reflexive,
  replaceIceCredentials,
} from "../sdp/candidates.ts";
import { DomainError } from "../errors.ts";
import { Emitter } from "../events.ts";
import type { EgressScheduler } from "./egress-scheduler.ts";
import { acceptBundleOnly } from "../sdp/bundle.ts";
import {
  dropDtlsAlertsAfterHandshake,
  guardDatagrams,
  resumeIceAfterRestart,
} from "./werift/patches.ts";
import { iceConnectionOf } from "./werift/internals.ts";
import { attachTcp, attachUdp, iceCredentials } from "./werift/shared-transport.ts";
import type { MuxEndpoint, UdpMux } from "./transport/udp-mux.ts";
import type { TcpEndpoint, TcpMux } from "./transport/tcp-mux.ts";
import { liftIceLite } from "../sdp/ice-lite.ts";
import { tracing } from "./trace.ts";
import { tracePeer } from "./werift/trace-peer.ts";

/** What the media plane needs to know about ICE; built from `Config` by the caller. */
export interface MediaOptions {
  /** STUN/TURN servers for gathering (none: host candidates only). */
  iceServers: { url: string; username?: string; credential?: string }[];
  /** The shared UDP port of every session (UDP_PORT); absent: werift's sockets per session. */
  udpMux?: UdpMux;
  /** No UDP candidates at all (ICE_TRANSPORTS=tcp). */
  udpOff?: boolean;
  /** The shared UDP port's server-reflexive addresses (STUN, asked once at start). */
  reflexive?: Reflexive[];
  /** The ICE-TCP listener and the addresses of its passive candidates (absent: no TCP). */
  tcp?: { mux: TcpMux; addresses: string[] };
  /** Answer as an ICE-lite agent (RFC 8445 §2.5; the server only answers checks). */
  iceLite?: boolean;
  /** Inclusive UDP port range for per-session media sockets (when there is no `udpMux`). */
  portRange?: [number, number];
  /** NAT 1:1: addresses advertised in place of the host candidates' addresses. */
  announcedIps: string[];
  /** Seconds gathering may wait on STUN/TURN. */
  gatherTimeout: number;
  /** Also gather a loopback host candidate. */
  loopback: boolean;
  /** Keyframe cache per video layer, bytes (0: off). */
  keyframeCacheBytes?: number;
  /**
   * The native send path's scheduler when the server chose that path (send-path.ts); absent:
   * werift's sender.
   */
  egress?: EgressScheduler;
  /** Test hook passed to werift: per-cent packet loss on the way out / in. */
  debugLoss?: { outbound?: number; inbound?: number };
}

/** The RTCP feedback the SFU negotiates: NACK, PLI, FIR and REMB (no transport-cc yet). */
const FEEDBACK = new Set(["nack", "nack pli", "ccm fir", "goog-remb"]);

/** Converts a parsed SDP codec to werift's parameters, keeping its payload type and fmtp. */
export function toWeriftCodec(kind: "audio" | "video", c: Codec): RTCRtpCodecParameters {
  const name = c.name.toLowerCase() === "opus" ? "opus" : c.name.toUpperCase();
  return new RTCRtpCodecParameters({
    mimeType: `${kind}/${name === "RTX" ? "rtx" : name}`,
    clockRate: c.clockRate,
    channels: c.channels,
    payloadType: c.payloadType,
    parameters: c.fmtpLine,
    rtcpFeedback: c.rtcpFeedback.filter((f) =>
      FEEDBACK.has(f.parameter ? `${f.type} ${f.parameter}` : f.type)
    ),
  });
}

function weriftIceServers(servers: MediaOptions["iceServers"]): RTCIceServer[] {
  return servers.map((s) => ({ urls: s.url, username: s.username, credential: s.credential }));
}

/**
 * SDP with CRLF line endings only: werift splits on CRLF, so a body mixing CRLF and LF (a file
 * edited by hand for curl) would reach it with lines glued together.
 */
export function crlf(sdp: string): string {
  return sdp.split(/\r?\n/).join("\r\n");
}

/** A peer connection plus the signalling steps of one WHIP or WHEP session. */
export class Peer {
  /** The werift connection; only the media plane touches it. */
  readonly pc: RTCPeerConnection;
  #options: MediaOptions;
  #closed = false;
  /** The connection failed or closed: emitted once, then every listener is removed. */
  readonly ended: Emitter<void> = new Emitter();
  #heard = false;
  #udp?: MuxEndpoint;
  #tcp?: TcpEndpoint;
  #attached = false;
  /** When the peer was last heard from (any DTLS/SRTP datagram or STUN request), ms. */
  lastHeardAt: number = performance.now();

  /**
   * Creates the connection with the given codecs per kind; `extensions` adds RTP header
   * extensions to the defaults (mid for both kinds, rid for video).
   */
  constructor(
    options: MediaOptions,
    codecs: { audio: Codec[]; video: Codec[] },
    extensions: { video?: RTCRtpHeaderExtensionParameters[] } = {},
  ) {
    this.#options = options;
    // werift's own sockets only in the per-session mode; the shared ports are attached below
    const ownSockets = !options.udpMux && !options.udpOff;
    this.pc = new RTCPeerConnection({
      iceServers: ownSockets ? weriftIceServers(options.iceServers) : [],
      icePortRange: options.portRange,
      iceAdditionalHostAddresses: ownSockets && options.loopback ? ["127.0.0.1"] : undefined,
      iceUseIpv4: ownSockets,
      iceUseIpv6: false,
      iceLite: options.iceLite ?? false,
      iceStunGatherTimeout: options.gatherTimeout,
      iceTurnConnectTimeout: options.gatherTimeout,
      bundlePolicy: "max-bundle",
      codecs: {
        audio: codecs.audio.map((c) => toWeriftCodec("audio", c)),
        video: codecs.video.map((c) => toWeriftCodec("video", c)),
      },
      headerExtensions: {
        audio: [useSdesMid()],
        video: [useSdesMid(), useSdesRTPStreamId(), ...(extensions.video ?? [])],
      },
      debug: {
        outboundPacketLoss: options.debugLoss?.outbound,
        inboundPacketLoss: options.debugLoss?.inbound,
      },
    });
    this.pc.connectionStateChange.subscribe((state) => {
      if (state === "failed" || state === "closed") this.#ended();
    });
  }

  #ended(): void {
    this.ended.emit();
    this.ended.clear();
  }

  /** Applies the client's offer and returns the complete answer (all candidates). */
  async answer(offer: string): Promise<string> {
    await this.#guard(async () => {
      await this.pc.setRemoteDescription({
        type: "offer",
        sdp: acceptBundleOnly(crlf(offer)),
      });
      this.beforeAnswer();
      const answer = await this.pc.createAnswer();
      this.#attach();
      await this.pc.setLocalDescription(answer);
    });
    return await this.#completeLocal();
  }

  /** Puts the connection on the shared ports, once, before its first local description. */
  #attach(): void {
    if (this.#attached) return;
    this.#attached = true;
    const { udpMux, tcp } = this.#options;
    if (udpMux) {
      this.#udp = udpMux.endpoint();
      attachUdp(this.pc, this.#udp.transports);
    }
    if (tcp) this.#tcp = tcp.mux.endpoint(attachTcp(this.pc, tcp.addresses, tcp.mux.port));
  }

  /** Routes the current ICE credentials to this session on the shared ports. */
  #register(): void {
    for (const { ufrag, password } of iceCredentials(this.pc)) {
      this.#udp?.register(ufrag, password);
      this.#tcp?.register(ufrag, password);
    }
  }

  /** Hook for subclasses: called between setRemoteDescription and createAnswer. */
  protected beforeAnswer(): void {}

  /** Creates the server's offer (server-offer mode), complete with candidates. */
  async offer(): Promise<string> {
    await this.#guard(async () => {
      const offer = await this.pc.createOffer();
      this.#attach();
      await this.pc.setLocalDescription(offer);
    });
    return await this.#completeLocal();
  }

  /** Applies the client's answer to the server's offer. */
  async acceptAnswer(answer: string): Promise<void> {
    if (this.pc.signalingState !== "have-local-offer") {
      throw new DomainError("unprocessable", "this session is not waiting for an SDP answer");
    }
    await this.#guard(() => this.pc.setRemoteDescription({ type: "answer", sdp: crlf(answer) }));
  }

  /** The mid of the first media section (the bundle's transport). */
  firstMid(): string {
    return this.pc.getTransceivers()[0]?.mid ?? "0";
  }

  /** Adds one trickled remote candidate (`candidate:…`) for the first (bundled) transport. */
  async addCandidate(candidate: string): Promise<void> {
    const mid = this.firstMid();
    await this.#guard(() => this.pc.addIceCandidate({ candidate, sdpMid: mid }));
  }

  /**
   * ICE restart requested by the client with new credentials: re-applies the remote description
   * with them, answers again and returns the server's new credentials and candidates.
   */
  async restartIce(ufrag: string, pwd: string): Promise<IceParameters> {
    const remote = this.pc.remoteDescription;
    if (!remote || remote.type !== "offer") {
      throw new DomainError(
        "unprocessable",
        "ICE restart is only available on sessions created from a client offer; POST again",
      );
    }
    await this.#guard(async () => {
      await this.pc.setRemoteDescription({
        type: "offer",
        sdp: replaceIceCredentials(remote.sdp, ufrag, pwd),
      });
      await this.pc.setLocalDescription(await this.pc.createAnswer());
    });
    const ice = iceParametersOf(await this.#completeLocal());
    resumeIceAfterRestart(this.pc);
    return ice;
  }

  /** The transport of the selected candidate pair: "udp", "tcp", or undefined before one is. */
  selectedTransport(): "udp" | "tcp" | undefined {
    const transport = this.pc.iceTransports[0];
    const pair = transport ? iceConnectionOf(transport).nominated : undefined;
    const local = (pair as { localCandidate?: { transport?: string } } | undefined)?.localCandidate;
    const name = local?.transport?.toLowerCase();
    return name === "udp" || name === "tcp" ? name : undefined;
  }

  /** True when the negotiated session has a media section with this mid. */
  hasMid(mid: string): boolean {
    return this.pc.getTransceivers().some((t) => t.mid === mid);
  }

  /** The client's current ICE username fragment (from its last description). */
  remoteUfrag(): string {
    return iceParametersOf(this.pc.remoteDescription?.sdp ?? "").ufrag;
  }

  /** Closes the connection and its sockets. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.pc.close();
    } finally {
      this.#udp?.close();
      this.#tcp?.close();
      this.#ended();
    }
  }

  /** werift throws plain errors on SDP it cannot apply: surface them as a 400/503. */
  async #guard<T>(step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (e) {
      if (e instanceof DomainError) throw e;
      const message = e instanceof Error ? e.message : String(e);
      if (/EADDRINUSE|EADDRNOTAVAIL|port not found/i.test(message)) {
        throw new DomainError("unavailable", "no free UDP port for media", { retryAfter: 5 });
      }
      throw new DomainError("bad-sdp", `the SDP could not be applied: ${message}`);
    }
  }

  async #completeLocal(): Promise<string> {
    await this.#gathered();
    this.#register();
    this.#listen();
    const sdp = dedupeCandidates(this.pc.localDescription?.sdp ?? "");
    if (!/^a=candidate:/m.test(sdp)) {
      // werift answers without candidates when it could bind no socket (port range used up).
      throw new DomainError("unavailable", "no free UDP port for media", { retryAfter: 5 });
    }
    const { udpMux, reflexive = [], announcedIps } = this.#options;
    const withReflexive = udpMux ? addReflexive(sdp, reflexive, udpMux.port) : sdp;
    return liftIceLite(announceAddresses(withReflexive, announcedIps));
  }

  /** Follows the peer's liveness at the ICE layer (consent checks and media alike). */
  #listen(): void {
    if (this.#heard) return;
    this.#heard = true;
    const touch = () => {
      this.lastHeardAt = performance.now();
    };
    for (const transport of this.pc.iceTransports) {
      const connection = iceConnectionOf(transport);
      connection.onData.subscribe(touch);
      for (const protocol of connection.protocols) protocol.onRequestReceived?.subscribe(touch);
      guardDatagrams(connection);
    }
    // A DTLS transport that closes or fails (an alert, a fatal error) ends the session.
    for (const dtls of this.pc.dtlsTransports) {
      dtls.onStateChange.subscribe((state) => {
        if (state === "connected") dropDtlsAlertsAfterHandshake(dtls);
        if (state === "closed" || state === "failed") this.#ended();
      });
    }
    if (tracing()) tracePeer(this.pc);
  }

  #gathered(): Promise<void> {
    return gatheringDone(this.pc, (this.#options.gatherTimeout + 1) * 1000);
  }
}

/** Resolves when `pc` has gathered its candidates, or after `ms` at most. */
export function gatheringDone(pc: RTCPeerConnection, ms: number): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const limit = setTimeout(done, ms);
    const { unSubscribe } = pc.iceGatheringStateChange.subscribe((s) => {
      if (s === "complete") done();
    });
    function done() {
      clearTimeout(limit);
      unSubscribe();
      resolve();
    }
  });
}
