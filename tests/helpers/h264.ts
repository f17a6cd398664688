/**
 * Synthetic H.264 clients for integration tests and the late-joiner benchmark: a WHIP publisher
 * with OBS's packetization (libdatachannel: SPS and PPS each in a packet of their own, then the
 * IDR in FU-A fragments; deltas in FU-A) that never answers a PLI, and a WHEP player that notes
 * when it could first decode (SPS, PPS and a whole IDR access unit received).
 *
 * The payloads are not a real bitstream beyond their NAL and FU headers: what the SFU reads.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import {
  GenericNack,
  RTCPeerConnection,
  RtcpTransportLayerFeedback,
  RTCRtpCodecParameters,
  type RTCRtpSender,
  RtpHeader,
  RtpPacket,
} from "werift";
import { connected, OPUS, signal, type Signalled } from "./clients.ts";
import { NAL, nalTypes } from "../../src/media/h264.ts";

/** A test SPS (NAL header 0x67) and PPS (0x68). */
export const TEST_SPS = new Uint8Array([0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80, 0xbf, 0xe5]);
/** A test PPS. */
export const TEST_PPS = new Uint8Array([0x68, 0xce, 0x0f, 0xc8]);

/** H.264 as the test clients offer it (packetization mode 1, NACK, PLI, FIR). */
export function h264Codec(sprop?: readonly Uint8Array[]): RTCRtpCodecParameters {
  const b64 = (u: Uint8Array) => btoa(String.fromCharCode(...u));
  let parameters = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";
  if (sprop) parameters += `;sprop-parameter-sets=${sprop.map(b64).join(",")}`;
  return new RTCRtpCodecParameters({
    mimeType: "video/H264",
    clockRate: 90000,
    payloadType: 102,
    rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }, {
      type: "ccm",
      parameter: "fir",
    }],
    parameters,
  });
}

/** FU-A fragments (1200 bytes) of one NAL unit of `type` (IDR 5, non-IDR slice 1). */
function fragments(type: number, count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => {
    const p = new Uint8Array(1200).fill(0xab);
    p[0] = 0x60 | NAL.FU_A; // NRI 3
    p[1] = (i === 0 ? 0x80 : 0) | (i === count - 1 ? 0x40 : 0) | type;
    return p;
  });
}

/** Options of {@link ObsLikePublisher}. */
export interface ObsLikeOptions {
  /** Parameter sets in-band before each IDR (default), or only in the offer's sprop. */
  parameterSets?: "in-band" | "sprop";
}

/** A WHIP publisher of synthetic H.264 packetized as OBS does; it ignores PLI. */
export class ObsLikePublisher {
  /** The connection. */
  readonly pc: RTCPeerConnection;
  /** What was sent. */
  readonly sent = { video: 0, keyframes: 0, frames: 0 };
  /** PLIs / FIRs received (all ignored). */
  keyframeRequests = 0;
  /** When the last keyframe went out (performance.now()). */
  keyframeAt?: number;
  /** The last keyframe's packets, as sent. */
  lastKeyframe: RtpPacket[] = [];
  #video: RTCRtpSender;
  #audio: RTCRtpSender;
  #seq = 40_000;
  #ts = 1_000_000;
  #audioSeq = 1;
  #timer?: ReturnType<typeof setInterval>;
  #inBand: boolean;

  constructor(options: ObsLikeOptions = {}) {
    this.#inBand = options.parameterSets !== "sprop";
    this.pc = new RTCPeerConnection({
      iceServers: [],
      iceUseIpv6: false,
      bundlePolicy: "max-bundle",
      codecs: {
        audio: [OPUS()],
        video: [h264Codec(this.#inBand ? undefined : [TEST_SPS, TEST_PPS])],
      },
    });
    this.#audio = this.pc.addTransceiver("audio", { direction: "sendonly" }).sender;
    this.#video = this.pc.addTransceiver("video", { direction: "sendonly" }).sender;
    this.#video.onRtcp.subscribe((p) => {
      if (p.type === 206) this.keyframeRequests++;
    });
  }

  /** Publishes to `endpoint` and waits for the connection. */
  async publish(endpoint: string, token: string): Promise<Signalled> {
    const session = await signal(this.pc, endpoint, token);
    await connected(this.pc);
    return session;
  }

  /** One access unit: a keyframe (SPS, PPS, IDR in 5 FU-A) or a delta (2 FU-A), and audio. */
  sendFrame(keyframe: boolean): void {
    const payloads = keyframe
      ? [...(this.#inBand ? [TEST_SPS, TEST_PPS] : []), ...fragments(NAL.IDR, 5)]
      : fragments(1, 2);
    const packets = payloads.map((payload, i) =>
      new RtpPacket(
        new RtpHeader({
          payloadType: 102,
          sequenceNumber: this.#seq++ & 0xffff,
          timestamp: this.#ts,
          ssrc: 0x4242,
          marker: i === payloads.length - 1,
        }),
        Buffer.from(payload),
      )
    );
    if (keyframe) {
      this.sent.keyframes++;
      this.keyframeAt = performance.now();
      this.lastKeyframe = packets;
    }
    for (const p of packets) this.#video.sendRtp(p).catch(() => {});
    this.sent.video += packets.length;
    this.sent.frames++;
    this.#ts = (this.#ts + 3000) >>> 0;
    const audio = new RtpHeader({
      payloadType: 111,
      sequenceNumber: this.#audioSeq++ & 0xffff,
      timestamp: (this.#audioSeq * 960) >>> 0,
      ssrc: 0x4343,
    });
    this.#audio.sendRtp(new RtpPacket(audio, Buffer.from([0xf8, 0xff, 0xfe]))).catch(() => {});
  }

  /** Sends 30 frames per second, a keyframe every `gop` frames from the first. */
  start(gop = 300): void {
    let n = 0;
    this.#timer = setInterval(() => this.sendFrame(n++ % gop === 0), 33);
  }

  /** Stops sending and closes. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.pc.close();
  }
}

/** One video packet as the player received it. */
export interface Received {
  seq: number;
  ts: number;
  marker: boolean;
  /** `1 << type` of each NAL unit it carries (nalTypes). */
  nals: number;
  payload: Uint8Array;
  at: number;
}

/** A WHEP player of H.264 that notes what it could decode. */
export class H264Player {
  /** The connection. */
  readonly pc: RTCPeerConnection;
  /** Video packets in arrival order. */
  readonly video: Received[] = [];
  /** When the connection came up (performance.now()). */
  connectedAt?: number;
  /** When SPS, PPS and a whole IDR access unit had arrived (performance.now()). */
  decodableAt?: number;
  #has = 0;
  #idrTs?: number;
  #waiters: (() => void)[] = [];

  constructor() {
    this.pc = new RTCPeerConnection({
      iceServers: [],
      iceUseIpv6: false,
      bundlePolicy: "max-bundle",
      codecs: { audio: [OPUS()], video: [h264Codec()] },
    });
    this.pc.addTransceiver("audio", { direction: "recvonly" });
    this.pc.addTransceiver("video", { direction: "recvonly" });
    this.pc.ontrack = ({ track }) => {
      if (track.kind !== "video") return;
      track.onReceiveRtp.subscribe((rtp) => this.#receive(rtp));
    };
  }

  #receive(rtp: RtpPacket): void {
    const nals = nalTypes(rtp.payload);
    const { sequenceNumber: seq, timestamp: ts, marker } = rtp.header;
    this.video.push({ seq, ts, marker, nals, payload: rtp.payload, at: performance.now() });
    if (this.decodableAt !== undefined) return;
    this.#has |= nals;
    if (nals & (1 << NAL.IDR)) this.#idrTs ??= ts;
    const need = (1 << NAL.SPS) | (1 << NAL.PPS) | (1 << NAL.IDR);
    if (marker && ts === this.#idrTs && (this.#has & need) === need) {
      this.decodableAt = performance.now();
      for (const w of this.#waiters.splice(0)) w();
    }
  }

  /** Plays from `endpoint` and waits for the connection. */
  async play(endpoint: string, token: string): Promise<Signalled> {
    const session = await signal(this.pc, endpoint, token);
    await connected(this.pc);
    this.connectedAt = performance.now();
    return session;
  }

  /** Resolves once a frame could be decoded (or throws after `ms`). */
  decodable(ms = 5000): Promise<void> {
    if (this.decodableAt !== undefined) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("nothing decodable in time")), ms);
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Asks the server to retransmit video packets `lost` (a NACK). */
  async sendNack(lost: number[]): Promise<void> {
    const video = this.pc.getTransceivers().find((t) => t.kind === "video")!;
    const mediaSourceSsrc = video.receiver.tracks[0]?.ssrc ?? 0;
    await video.receiver.dtlsTransport.sendRtcp([
      new RtcpTransportLayerFeedback({
        feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc, lost }),
      }),
    ]);
  }

  /** Closes. */
  close(): Promise<void> {
    return this.pc.close();
  }
}
