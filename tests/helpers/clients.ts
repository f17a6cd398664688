/**
 * Real WHIP / WHEP clients for tests and benchmarks: werift peer connections that talk to the
 * server over HTTP and loopback UDP (ICE, DTLS, SRTP), a publisher that sends a synthetic VP8 +
 * Opus stream with real keyframe structure, and a player that counts what it receives.
 *
 * @module
 */
import {
  GenericNack,
  ReceiverEstimatedMaxBitrate,
  RTCPeerConnection,
  RtcpPayloadSpecificFeedback,
  RtcpSrPacket,
  RtcpTransportLayerFeedback,
  RTCRtpCodecParameters,
  type RTCRtpTransceiver,
  RtpHeader,
  RtpPacket,
} from "werift";
import { isKeyframeStart } from "../../src/media/keyframe.ts";
import { vp8KeyframeSize } from "../../src/media/layer.ts";

/** What a POST returned. */
export interface Signalled {
  /** Absolute session URL. */
  url: string;
  /** ETag of the ICE session. */
  etag: string;
  /** The HTTP response (body consumed). */
  response: Response;
}

/** Options shared by the clients. */
export interface ClientOptions {
  /** Strip every candidate from the offer (as OBS sends it). */
  noCandidates?: boolean;
  /** werift debug hooks (induced loss, %). */
  debug?: { inboundPacketLoss?: number; outboundPacketLoss?: number };
  /** Video codecs the client offers (default VP8 96). */
  video?: RTCRtpCodecParameters[];
  /** Payload type the publisher writes on video packets (default 96). */
  videoPayloadType?: number;
  /** Shape of the publisher's synthetic video payloads (default vp8). */
  format?: "vp8" | "h264";
  /** Also gather active TCP candidates (ICE-TCP, RFC 6544). */
  tcp?: boolean;
  /** RTP padding (RFC 3550 §5.1) the publisher puts on every video packet, bytes (1–255). */
  padding?: number;
}

/** VP8 96 as the test clients offer it (NACK, PLI, FIR). */
export const VP8 = () =>
  new RTCRtpCodecParameters({
    mimeType: "video/VP8",
    clockRate: 90000,
    payloadType: 96,
    rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }, {
      type: "ccm",
      parameter: "fir",
    }],
  });
/** Opus 111, stereo. */
export const OPUS = () =>
  new RTCRtpCodecParameters({
    mimeType: "audio/opus",
    clockRate: 48000,
    channels: 2,
    payloadType: 111,
  });

/** Waits until `pc` reports `connected` (or throws after `ms`). */
export function connected(pc: RTCPeerConnection, ms = 10_000): Promise<void> {
  if (pc.connectionState === "connected") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("not connected in time")), ms);
    const { unSubscribe } = pc.connectionStateChange.subscribe((s) => {
      if (s === "connected") {
        clearTimeout(timer);
        unSubscribe();
        resolve();
      }
    });
  });
}

/** Resolves when `pc` has gathered every candidate. */
export async function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === "complete") return;
  await new Promise<void>((resolve) => {
    const { unSubscribe } = pc.iceGatheringStateChange.subscribe((s) => {
      if (s === "complete") {
        unSubscribe();
        resolve();
      }
    });
  });
}

function stripCandidates(sdp: string): string {
  return sdp.split("\r\n").filter((l) =>
    !l.startsWith("a=candidate") && l !== "a=end-of-candidates"
  )
    .join("\r\n");
}

/** POSTs `pc`'s offer to `endpoint` and applies the answer; throws on a non-201. */
export async function signal(
  pc: RTCPeerConnection,
  endpoint: string,
  token: string,
  options: ClientOptions = {},
): Promise<Signalled> {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  let offer = pc.localDescription!.sdp;
  if (options.noCandidates) offer = stripCandidates(offer);
  const response = await fetch(endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/sdp", "Authorization": `Bearer ${token}` },
    body: offer,
  });
  const body = await response.text();
  if (response.status !== 201) {
    throw new Error(`POST ${endpoint} → ${response.status}: ${body}`);
  }
  await pc.setRemoteDescription({ type: "answer", sdp: body });
  return {
    url: new URL(response.headers.get("Location")!, endpoint).href,
    etag: response.headers.get("ETag")!,
    response,
  };
}

/**
 * A synthetic frame's packets (1200-byte payloads) whose first bytes are real: a VP8 payload
 * descriptor and frame tag, or an H264 NAL header (IDR 5 / non-IDR 1).
 */
function frame(format: "vp8" | "h264", keyframe: boolean, packets: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < packets; i++) {
    const p = new Uint8Array(1200);
    p.fill(0xab, 2);
    if (format === "h264") {
      p[0] = keyframe ? 0x65 : 0x41;
    } else {
      p[0] = i === 0 ? 0x10 : 0x00; // S bit on the first packet, partition 0
      p[1] = keyframe ? 0x00 : 0x01; // VP8 frame tag: P bit 0 = keyframe
    }
    out.push(p);
  }
  return out;
}

/** A WHIP publisher that sends VP8 + Opus RTP. */
export class Publisher {
  /** The connection. */
  readonly pc: RTCPeerConnection;
  /** Session URL and ETag, after {@link publish}. */
  session?: Signalled;
  /** What was sent. */
  readonly sent = { video: 0, audio: 0, keyframes: 0, frames: 0 };
  /** PLIs received from the server. */
  plis = 0;
  #video: RTCRtpTransceiver;
  #audio: RTCRtpTransceiver;
  #seq = { video: 1000, audio: 5000 };
  #ts = { video: 90_000, audio: 48_000 };
  #ssrc = { video: 0x1234, audio: 0x5678 };
  #timer?: ReturnType<typeof setInterval>;
  #pendingKeyframe = false;

  /** Creates the connection (sendonly audio + video). */
  constructor(readonly options: ClientOptions = {}) {
    this.pc = new RTCPeerConnection({
      iceServers: [],
      iceUseIpv6: false,
      ...(options.tcp ? { iceUseTcp: true, iceTcpPassive: false } : {}),
      bundlePolicy: "max-bundle", // werift's default leaves the unbundled socket open on close
      codecs: { audio: [OPUS()], video: options.video ?? [VP8()] },
      debug: options.debug,
    });
    this.#audio = this.pc.addTransceiver("audio", { direction: "sendonly" });
    this.#video = this.pc.addTransceiver("video", { direction: "sendonly" });
    this.#video.sender.onRtcp.subscribe((p) => {
      if (p.type === 206) {
        this.plis++;
        this.#pendingKeyframe = true;
      }
    });
  }

  /** Publishes to `endpoint` and waits for the connection. */
  async publish(endpoint: string, token: string): Promise<Signalled> {
    this.session = await signal(this.pc, endpoint, token, this.options);
    await connected(this.pc);
    return this.session;
  }

  /** Sends one video frame (keyframe or not) of `packets` packets and one Opus packet. */
  sendFrame(keyframe: boolean, packets = keyframe ? 6 : 3): void {
    for (const payload of frame(this.options.format ?? "vp8", keyframe, packets)) {
      const header = new RtpHeader({
        payloadType: this.options.videoPayloadType ?? 96,
        sequenceNumber: this.#seq.video++ & 0xffff,
        timestamp: this.#ts.video,
        ssrc: this.#ssrc.video,
        marker: false,
      });
      this.#video.sender.sendRtp(new RtpPacket(header, this.#padded(header, payload)));
      this.sent.video++;
    }
    if (keyframe) this.sent.keyframes++;
    this.sent.frames++;
    this.#ts.video += 3000;
    const audio = new RtpHeader({
      payloadType: 111,
      sequenceNumber: this.#seq.audio++ & 0xffff,
      timestamp: this.#ts.audio,
      ssrc: this.#ssrc.audio,
    });
    this.#audio.sender.sendRtp(new RtpPacket(audio, new Uint8Array(80).fill(1) as Buffer));
    this.#ts.audio += 960;
    this.sent.audio++;
  }

  /**
   * `payload` with {@link ClientOptions.padding} bytes of padding and the P bit set: werift's
   * sender writes the P bit of the header it is given but not the padding bytes, so they go in
   * the payload it encrypts, which puts them on the wire where RFC 3550 has them.
   */
  #padded(header: RtpHeader, payload: Uint8Array): Buffer {
    const pad = this.options.padding ?? 0;
    if (pad === 0) return payload as Buffer;
    const out = new Uint8Array(payload.length + pad);
    out.set(payload);
    out[out.length - 1] = pad;
    header.padding = true;
    return out as Buffer;
  }

  /**
   * Sends 30 frames per second: a keyframe every `gop` frames counting from `firstFrame`
   * (0: start with one), and (when `answerPli`) as soon as a PLI arrives.
   */
  start(gop = 60, answerPli = true, firstFrame = 0): void {
    let n = firstFrame;
    this.#timer = setInterval(() => {
      const key = n % gop === 0 || (answerPli && this.#pendingKeyframe);
      this.#pendingKeyframe = false;
      this.sendFrame(key);
      n++;
    }, 33);
  }

  /** Stops sending. */
  stop(): void {
    clearInterval(this.#timer);
  }

  /** Stops sending and closes the connection (no DELETE). */
  async close(): Promise<void> {
    this.stop();
    await this.pc.close();
  }
}

/** A WHEP player that counts what arrives. */
export class Player {
  /** The connection. */
  readonly pc: RTCPeerConnection;
  /** Session URL and ETag, after {@link play}. */
  session?: Signalled;
  /** What arrived. */
  readonly received = { video: 0, audio: 0, keyframes: 0 };
  /** Sequence numbers of video packets, in arrival order. */
  readonly videoSeqs: number[] = [];
  /** SSRCs seen, per kind. */
  readonly ssrcs = { video: new Set<number>(), audio: new Set<number>() };
  /** Payload types seen, per kind. */
  readonly payloadTypes = { video: new Set<number>(), audio: new Set<number>() };
  /** RTCP sender reports received. */
  senderReports = 0;
  /** The last video sender report and when it arrived (`Date.now()`). */
  lastSenderReport?: { packet: RtcpSrPacket; at: number };
  /** When the first keyframe arrived (performance.now()). */
  firstKeyframeAt?: number;
  /** When the connection came up (performance.now()). */
  connectedAt?: number;
  /** Resolution of the last VP8 keyframe received, when it carried one. */
  lastKeyframeSize?: { width: number; height: number };
  /**
   * Video packets in arrival order: sequence number, timestamp, keyframe start, payload size
   * (without padding) and whether the packet carried RTP padding.
   */
  readonly videoLog: {
    seq: number;
    ts: number;
    keyframe: boolean;
    at: number;
    size: number;
    padded: boolean;
  }[] = [];
  #keyframeWaiters: (() => void)[] = [];

  /** Creates the connection (recvonly audio + video). */
  constructor(readonly options: ClientOptions = {}) {
    this.pc = new RTCPeerConnection({
      iceServers: [],
      iceUseIpv6: false,
      ...(options.tcp ? { iceUseTcp: true, iceTcpPassive: false } : {}),
      bundlePolicy: "max-bundle", // werift's default leaves the unbundled socket open on close
      codecs: { audio: [OPUS()], video: options.video ?? [VP8()] },
      debug: options.debug,
    });
    this.pc.addTransceiver("audio", { direction: "recvonly" });
    this.pc.addTransceiver("video", { direction: "recvonly" });
    this.pc.ontrack = ({ track, receiver }) => {
      const kind = track.kind as "audio" | "video";
      if (kind === "video") {
        receiver.onRtcp.subscribe((p) => {
          if (p.type !== 200) return;
          this.senderReports++;
          this.lastSenderReport = { packet: p as RtcpSrPacket, at: Date.now() };
        });
      }
      track.onReceiveRtp.subscribe((rtp) => {
        this.received[kind]++;
        this.ssrcs[kind].add(rtp.header.ssrc);
        this.payloadTypes[kind].add(rtp.header.payloadType);
        if (kind === "video") {
          this.videoSeqs.push(rtp.header.sequenceNumber);
          const keyframe = isKeyframeStart("vp8", rtp.payload);
          this.videoLog.push({
            seq: rtp.header.sequenceNumber,
            ts: rtp.header.timestamp,
            keyframe,
            at: performance.now(),
            size: rtp.payload.length,
            padded: rtp.header.padding,
          });
          if (keyframe) {
            this.lastKeyframeSize = vp8KeyframeSize(rtp.payload) ?? this.lastKeyframeSize;
            this.received.keyframes++;
            this.firstKeyframeAt ??= performance.now();
            for (const w of this.#keyframeWaiters.splice(0)) w();
          }
        }
      });
    };
  }

  /** Plays from `endpoint` (e.g. `…/whep/room?publisher=x`) and waits for the connection. */
  async play(endpoint: string, token: string): Promise<Signalled> {
    this.session = await signal(this.pc, endpoint, token, this.options);
    await connected(this.pc);
    this.connectedAt = performance.now();
    return this.session;
  }

  /** Sends RTCP on the video receiver's transport (real SRTCP to the server). */
  async #sendRtcp(build: (mediaSsrc: number) => unknown): Promise<void> {
    const video = this.pc.getTransceivers().find((t) => t.kind === "video")!;
    const [mediaSsrc] = [...this.ssrcs.video];
    await video.receiver.dtlsTransport.sendRtcp([build(mediaSsrc) as never]);
  }

  /** Tells the server its estimated available bitrate (REMB), bit/s. */
  sendRemb(bitrate: number): Promise<void> {
    let exp = 0;
    while (bitrate >> exp > 0x3ffff) exp++;
    return this.#sendRtcp((ssrc) =>
      new RtcpPayloadSpecificFeedback({
        feedback: new ReceiverEstimatedMaxBitrate({
          senderSsrc: 1,
          mediaSsrc: 0,
          brExp: exp,
          brMantissa: bitrate >> exp,
          ssrcNum: 1,
          ssrcFeedbacks: [ssrc],
        }),
      })
    );
  }

  /** Asks the server to retransmit the video packets `lost` (a NACK). */
  sendNack(lost: number[]): Promise<void> {
    return this.#sendRtcp((ssrc) =>
      new RtcpTransportLayerFeedback({
        feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: ssrc, lost }),
      })
    );
  }

  /** Resolves at the next keyframe (or throws after `ms`). */
  nextKeyframe(ms = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no keyframe in time")), ms);
      this.#keyframeWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Closes the connection (no DELETE). */
  close(): Promise<void> {
    return this.pc.close();
  }
}

/** Polls `check` every 20 ms until it is true, or throws with `what` after `ms`. */
export async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = performance.now() + ms;
  while (!check()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** An authenticated request. */
export function call(
  url: string,
  token: string | undefined,
  init: RequestInit & { headers?: Record<string, string> } = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...init.headers };
  if (token) headers.Authorization = `Bearer ${token}`;
  return fetch(url, { ...init, headers });
}
