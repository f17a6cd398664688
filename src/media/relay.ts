/**
 * An edge's relay of one publication (cluster mode): a werift connection that plays the
 * publication from its origin (a WHEP client offer, receive only) and a second one that
 * publishes what it receives into this node (a WHIP client offer, send only), over loopback
 * through the node's own media port. On the edge the publication is then an ordinary one:
 * keyframe cache, NACK history, PLI handling and fan-out are the same code as for a publisher.
 * The edge's players cost the origin nothing: one relay per publication and edge. A PLI the
 * edge's publication sends goes upstream as a PLI to the origin (which rate-limits its own).
 *
 * The signalling (HTTP to the origin, the use case on this node) is the caller's: this class
 * only makes offers and takes answers.
 *
 * @module
 */
import { MediaStreamTrack, RTCPeerConnection, type RTCRtpReceiver, type RtpPacket } from "werift";
import { Emitter } from "../events.ts";
import { serverOfferCodecs } from "./egress-codecs.ts";
import { gatheringDone, toWeriftCodec } from "./peer.ts";
import { parseSdp } from "../sdp/offer.ts";
import type { Kind } from "./publication.ts";
import { type CodecFamily, codecFamily } from "./codecs.ts";
import { isKeyframeStart } from "./keyframe.ts";

/** Longest wait for the relay's own candidates, ms. */
const GATHER_MS = 3000;
/** How often the relay asks the origin again for the keyframe it waits for, ms. */
const KEYFRAME_RETRY_MS = 1000;

/** The relay's two connections. */
export class Relay {
  /** The connection that plays the origin's publication. */
  readonly upstream: RTCPeerConnection;
  #local?: RTCPeerConnection;
  #tracks: Partial<Record<Kind, MediaStreamTrack>> = {};
  #videoReceiver?: { receiver: RTCRtpReceiver; ssrc?: number };
  #closed = false;
  #lastPacketAt?: number;
  /** The local connection is up: packets reach this node's publication from now on. */
  #localUp = false;
  /** A keyframe is to be asked upstream at the next video packet (the local path just came up). */
  #keyframeWanted = false;
  #keyframeAskedAt = -Infinity;
  /** The video codec family the origin answered with (for keyframe detection). */
  #family?: CodecFamily;
  /** Either connection failed or closed: emitted once. */
  readonly ended: Emitter<void> = new Emitter();

  /** A relay offering every codec the server forwards upstream. */
  constructor() {
    const codecs = serverOfferCodecs();
    this.upstream = new RTCPeerConnection({
      iceServers: [],
      iceUseIpv6: false,
      bundlePolicy: "max-bundle",
      codecs: {
        audio: codecs.audio.map((c) => toWeriftCodec("audio", c)),
        video: codecs.video.map((c) => toWeriftCodec("video", c)),
      },
    });
    this.upstream.addTransceiver("audio", { direction: "recvonly" });
    this.upstream.addTransceiver("video", { direction: "recvonly" });
    this.upstream.ontrack = ({ track, receiver }) => {
      const kind = track.kind as Kind;
      if (kind === "video") this.#videoReceiver = { receiver };
      track.onReceiveRtp.subscribe((rtp: RtpPacket) => {
        this.#lastPacketAt = performance.now();
        if (kind === "video" && this.#videoReceiver) {
          this.#videoReceiver.ssrc = rtp.header.ssrc;
          if (this.#keyframeWanted) this.#askKeyframe(receiver, rtp);
        }
        const out = this.#tracks[kind];
        if (!out || !this.#localUp) return; // written before the local path is up: lost
        rtp.header.extensions = [];
        out.writeRtp(rtp);
      });
    };
    this.#watch(this.upstream);
  }

  /**
   * How long the upstream has been silent at `now` (ms): 0 before its first packet (a
   * publication that has not started is not a dead origin).
   */
  silentFor(now: number): number {
    return this.#lastPacketAt === undefined ? 0 : now - this.#lastPacketAt;
  }

  /**
   * Until a keyframe has passed through since the local path came up, asks the origin for one
   * at most every {@link KEYFRAME_RETRY_MS}: a PLI can be swallowed by the origin's rate limit
   * (one per 500 ms per layer), and the publication here starts only at a keyframe.
   */
  #askKeyframe(receiver: RTCRtpReceiver, rtp: RtpPacket): void {
    if (this.#family && isKeyframeStart(this.#family, rtp.payload)) {
      this.#keyframeWanted = false;
      return;
    }
    const now = performance.now();
    if (now - this.#keyframeAskedAt < KEYFRAME_RETRY_MS) return;
    this.#keyframeAskedAt = now;
    receiver.sendRtcpPLI(rtp.header.ssrc).catch(() => {});
  }

  /** Counts the upstream as heard now (its silence was explained: a paused publisher). */
  heard(): void {
    this.#lastPacketAt = performance.now();
  }

  /** The offer to POST to the origin's WHEP endpoint (complete, every candidate in it). */
  async upstreamOffer(): Promise<string> {
    await this.upstream.setLocalDescription(await this.upstream.createOffer());
    await gatheringDone(this.upstream, GATHER_MS);
    return this.upstream.localDescription!.sdp;
  }

  /** Applies the origin's answer. */
  async upstreamAnswer(sdp: string): Promise<void> {
    await this.upstream.setRemoteDescription({ type: "answer", sdp });
  }

  /**
   * The offer to publish into this node with: send-only audio and video in the codecs the
   * origin answered with (same payload types, so packets pass through unchanged).
   */
  async localOffer(): Promise<string> {
    const answered = parseSdp(this.upstream.remoteDescription!.sdp);
    const pick = (kind: Kind) =>
      answered.media.find((m) => m.kind === kind && m.port !== 0)?.codecs.filter((c) =>
        c.name.toLowerCase() !== "rtx"
      ).slice(0, 1) ?? [];
    const audio = pick("audio");
    const video = pick("video");
    this.#family = video[0] ? codecFamily(video[0]) : undefined;
    const local = new RTCPeerConnection({
      iceServers: [],
      iceUseIpv6: false,
      bundlePolicy: "max-bundle",
      codecs: {
        audio: audio.map((c) => toWeriftCodec("audio", c)),
        video: video.map((c) => toWeriftCodec("video", c)),
      },
    });
    this.#local = local;
    if (audio.length > 0) {
      this.#tracks.audio = new MediaStreamTrack({ kind: "audio" });
      local.addTransceiver(this.#tracks.audio, { direction: "sendonly" });
    }
    if (video.length > 0) {
      this.#tracks.video = new MediaStreamTrack({ kind: "video" });
      const { sender } = local.addTransceiver(this.#tracks.video, { direction: "sendonly" });
      sender.onRtcp.subscribe((packet) => {
        // PLI (206, format 1) or FIR (206, format 4) from this node's publication: upstream
        if (packet.type !== 206) return;
        const video = this.#videoReceiver;
        if (video?.ssrc !== undefined) video.receiver.sendRtcpPLI(video.ssrc).catch(() => {});
      });
    }
    this.#watch(local);
    // the origin's first packets (its cached keyframe among them) may arrive before this path
    // is up and are lost: once it is, a keyframe is asked upstream until one passes through
    local.connectionStateChange.subscribe((state) => {
      if (state !== "connected" || this.#localUp) return;
      this.#localUp = true;
      this.#keyframeWanted = true;
    });
    await local.setLocalDescription(await local.createOffer());
    await gatheringDone(local, GATHER_MS);
    return local.localDescription!.sdp;
  }

  /** Applies this node's answer to the local offer. */
  async localAnswer(sdp: string): Promise<void> {
    await this.#local!.setRemoteDescription({ type: "answer", sdp });
  }

  /** Closes both connections. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([this.upstream.close(), this.#local?.close()]);
    this.ended.emit();
    this.ended.clear();
  }

  #watch(pc: RTCPeerConnection): void {
    pc.connectionStateChange.subscribe((state) => {
      if (state === "failed" || state === "closed") void this.close();
    });
  }
}
