/**
 * A simulcast WHIP publisher for tests: a werift connection whose offer announces three rids
 * (werift's sender does not do simulcast, so the offer is extended by hand, as a browser
 * writes it) and whose packets go out through the real SRTP transport with an SSRC, a `mid`
 * and a `rid` header extension per layer. Each layer's VP8 keyframes carry their own
 * resolution, so a player can tell which layer it receives.
 *
 * @module
 */
import {
  RTCPeerConnection,
  RTCRtpCodecParameters,
  type RTCRtpTransceiver,
  RtpHeader,
  serializeSdesMid,
  serializeSdesRTPStreamID,
  useSdesMid,
  useSdesRTPStreamId,
} from "werift";
import { call, connected, type Signalled } from "./clients.ts";

/** One simulcast layer's shape. */
export interface LayerSpec {
  /** rid. */
  rid: string;
  /** Resolution written in its keyframes. */
  width: number;
  /** Resolution written in its keyframes. */
  height: number;
  /** Packets per frame (sets its bitrate: 1,200 bytes × 30 fps each). */
  packets: number;
}

/** q / h / f at 320×180, 640×360, 1280×720. */
export const LAYERS: LayerSpec[] = [
  { rid: "q", width: 320, height: 180, packets: 1 },
  { rid: "h", width: 640, height: 360, packets: 3 },
  { rid: "f", width: 1280, height: 720, packets: 6 },
];

const MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid";
const RID_URI = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";

/** Adds rids and `a=simulcast:send` to the video section of `offer`, dropping its SSRC lines. */
export function simulcastOffer(offer: string, rids: string[]): string {
  const [head, ...sections] = offer.split("\r\nm=");
  return [
    head,
    ...sections.map((section) => {
      if (!section.startsWith("video")) return section;
      const lines = section.split("\r\n").filter((l) => l && !l.startsWith("a=ssrc"));
      lines.push(...rids.map((r) => `a=rid:${r} send`), `a=simulcast:send ${rids.join(";")}`);
      return lines.join("\r\n") + "\r\n";
    }),
  ].join("\r\nm=");
}

/** A publisher sending three simulcast layers. */
export class SimulcastPublisher {
  /** The connection. */
  readonly pc: RTCPeerConnection;
  /** Session URL, after {@link publish}. */
  url?: string;
  /** PLIs received, by layer rid. */
  readonly plis: Record<string, number> = {};
  #video: RTCRtpTransceiver;
  #ext = { mid: 0, rid: 0 };
  #state = LAYERS.map((l, i) => ({ ...l, ssrc: 0x1000 + i, seq: 100 * i, keyframe: true }));
  #ts = 0;
  #timer?: ReturnType<typeof setInterval>;

  /** Creates the connection (sendonly video). */
  constructor() {
    this.pc = new RTCPeerConnection({
      iceServers: [],
      iceUseIpv6: false,
      bundlePolicy: "max-bundle", // werift's default leaves the unbundled socket open on close
      codecs: {
        video: [
          new RTCRtpCodecParameters({
            mimeType: "video/VP8",
            clockRate: 90000,
            payloadType: 96,
            rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }],
          }),
        ],
      },
      headerExtensions: { video: [useSdesMid(), useSdesRTPStreamId()] },
    });
    this.#video = this.pc.addTransceiver("video", { direction: "sendonly" });
    // The layers' SSRCs are not werift's own, so PLIs are read at the transport.
    this.#video.sender.dtlsTransport.onRtcp.subscribe((p) => {
      if (p.type !== 206) return;
      const ssrc = (p as unknown as { feedback: { mediaSsrc: number } }).feedback.mediaSsrc;
      const layer = this.#state.find((l) => l.ssrc === ssrc);
      if (layer) {
        layer.keyframe = true;
        this.plis[layer.rid] = (this.plis[layer.rid] ?? 0) + 1;
      }
    });
  }

  /** Publishes (POST with the simulcast offer) and waits for the connection. */
  async publish(endpoint: string, token: string): Promise<string> {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    while (this.pc.iceGatheringState !== "complete") await new Promise((r) => setTimeout(r, 10));
    const offer = simulcastOffer(this.pc.localDescription!.sdp, LAYERS.map((l) => l.rid));
    const res = await fetch(endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/sdp", "Authorization": `Bearer ${token}` },
      body: offer,
    });
    const answer = await res.text();
    if (res.status !== 201) throw new Error(`POST → ${res.status}: ${answer}`);
    this.url = new URL(res.headers.get("Location")!, endpoint).href;
    for (const m of answer.matchAll(/^a=extmap:(\d+) (\S+)/gm)) {
      if (m[2] === MID_URI) this.#ext.mid = Number(m[1]);
      if (m[2] === RID_URI) this.#ext.rid = Number(m[1]);
    }
    await this.pc.setRemoteDescription({ type: "answer", sdp: answer });
    await connected(this.pc);
    return answer;
  }

  /** Sends one frame on every layer (a keyframe where one is due). */
  sendFrame(): void {
    const transport = this.#video.sender.dtlsTransport;
    const mid = this.#video.mid ?? "0";
    for (const layer of this.#state) {
      const keyframe = layer.keyframe;
      layer.keyframe = false;
      for (let i = 0; i < layer.packets; i++) {
        const payload = new Uint8Array(1200).fill(0xab);
        payload[0] = i === 0 ? 0x10 : 0x00;
        payload[1] = keyframe ? 0x00 : 0x01;
        if (keyframe && i === 0) {
          payload.set([0x9d, 0x01, 0x2a], 4); // VP8 start code, then 14-bit width / height
          payload.set([
            layer.width & 0xff,
            layer.width >> 8,
            layer.height & 0xff,
            layer.height >> 8,
          ], 7);
        }
        const header = new RtpHeader({
          payloadType: 96,
          sequenceNumber: layer.seq++ & 0xffff,
          timestamp: this.#ts,
          ssrc: layer.ssrc,
          marker: i === layer.packets - 1,
          extension: true,
          extensions: [
            { id: this.#ext.mid, payload: serializeSdesMid(mid) },
            { id: this.#ext.rid, payload: serializeSdesRTPStreamID(layer.rid) },
          ],
        });
        transport.sendRtp(payload as Buffer, header).catch(() => {});
      }
    }
    this.#ts += 3000;
  }

  /** 30 frames per second, keyframes only at the start and on PLI. */
  start(): void {
    this.#timer = setInterval(() => this.sendFrame(), 33);
  }

  /** Stops and closes. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.pc.close();
  }
}

/**
 * Pins layer `rid` for the WHEP session `session` (created at `base`) through the layer link of
 * its `Link` header (WHEP layer extension); the response, its body unread.
 */
export function pinLayer(
  session: Signalled,
  base: string,
  token: string,
  rid: string,
): Promise<Response> {
  const link = session.response.headers.get("Link")!;
  const layerUrl = /<([^>]+)>; rel="urn:ietf:params:whep:ext:core:layer"/.exec(link)![1];
  return call(new URL(layerUrl, base).href, token, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ mediaId: "1", rid }),
  });
}
