/**
 * RTP packets of one track → whole frames, for the recorder: a small reorder buffer (packets a
 * NACK repaired arrive late), frames cut at the marker bit or at a new timestamp, and werift's
 * depacketizers for the payloads. A gap that does not fill within {@link REORDER_WAIT_MS} (or
 * {@link REORDER_MAX_PACKETS}) is a loss: the frame it hit is dropped, and video then waits for
 * the next keyframe (the caller asks for one).
 *
 * @module
 */
import { type DepacketizerCodec, dePacketizeRtpPackets, type RtpPacket } from "werift";
import type { CodecFamily } from "../media/codecs.ts";

/** How long a gap in sequence numbers may wait for its packet, ms. */
export const REORDER_WAIT_MS = 150;
/** How many packets may wait behind a gap. */
export const REORDER_MAX_PACKETS = 128;

/** One depacketized frame. */
export interface Frame {
  /** The codec's bitstream (H.264: Annex B). */
  data: Uint8Array;
  /** True for a video keyframe (always for audio). */
  keyframe: boolean;
  /** RTP timestamp, unwrapped (keeps counting past 2³²). */
  timestamp: number;
}

const DEPACKETIZER: Record<CodecFamily, DepacketizerCodec> = {
  vp8: "VP8",
  vp9: "VP9",
  av1: "AV1",
  h264: "MPEG4/ISO/AVC",
  opus: "OPUS",
};

/** Reorders one track's packets and cuts them into frames. */
export class FrameAssembler {
  /** Packets dropped as lost or unreadable. */
  lost = 0;
  #family: CodecFamily;
  #audio: boolean;
  #next?: number;
  #highest = 0;
  #pending = new Map<number, { rtp: RtpPacket; at: number }>();
  #frame: RtpPacket[] = [];
  #waitKeyframe: boolean;
  #tsHigh?: number;

  /** An assembler for `family`'s packets (video starts at a keyframe). */
  constructor(family: CodecFamily) {
    this.#family = family;
    this.#audio = family === "opus";
    this.#waitKeyframe = !this.#audio;
  }

  /** Starts over (a new source: new sequence numbers and timestamps). */
  reset(): void {
    this.#next = undefined;
    this.#pending.clear();
    this.#frame = [];
    this.#tsHigh = undefined;
    this.#waitKeyframe = !this.#audio;
  }

  /**
   * Takes a packet that arrived at `now` (ms); returns the frames it completes, and whether a
   * loss made video wait for a keyframe.
   */
  push(rtp: RtpPacket, now: number): { frames: Frame[]; lost: boolean } {
    const seq = rtp.header.sequenceNumber;
    if (this.#next === undefined) {
      this.#next = seq;
      this.#highest = seq;
    }
    const ext = this.#highest + (((seq - this.#highest) << 16) >> 16);
    if (ext > this.#highest) this.#highest = ext;
    const out: Frame[] = [];
    let lost = false;
    if (ext < this.#next) return { frames: out, lost }; // a duplicate, or given up on
    this.#pending.set(ext, { rtp, at: now });
    for (;;) {
      this.#release(out);
      if (this.#pending.size === 0) break;
      let oldest = Infinity;
      let first = Infinity;
      for (const [k, p] of this.#pending) {
        if (p.at < oldest) oldest = p.at;
        if (k < first) first = k;
      }
      if (now - oldest < REORDER_WAIT_MS && this.#pending.size < REORDER_MAX_PACKETS) break;
      this.lost += first - this.#next!;
      this.#next = first; // give up on the gap
      this.#frame = [];
      if (!this.#audio) {
        this.#waitKeyframe = true;
        lost = true;
      }
    }
    return { frames: out, lost };
  }

  /** Takes in-order packets off the buffer. */
  #release(out: Frame[]): void {
    for (let p = this.#pending.get(this.#next!); p; p = this.#pending.get(this.#next!)) {
      this.#pending.delete(this.#next!);
      this.#next!++;
      this.#inOrder(p.rtp, out);
    }
  }

  #inOrder(rtp: RtpPacket, out: Frame[]): void {
    if (this.#audio) {
      this.#emit([rtp], out);
      return;
    }
    const current = this.#frame[0];
    if (current && current.header.timestamp !== rtp.header.timestamp) {
      this.#emit(this.#frame, out); // its last packet had no marker
      this.#frame = [];
    }
    this.#frame.push(rtp);
    if (rtp.header.marker) {
      this.#emit(this.#frame, out);
      this.#frame = [];
    }
  }

  #emit(packets: RtpPacket[], out: Frame[]): void {
    let frame;
    try {
      frame = dePacketizeRtpPackets(DEPACKETIZER[this.#family], packets);
    } catch {
      this.lost += packets.length;
      return;
    }
    const keyframe = this.#audio || frame.isKeyframe;
    if (frame.data.length === 0) return;
    if (this.#waitKeyframe) {
      if (!keyframe) return;
      this.#waitKeyframe = false;
    }
    out.push({
      data: frame.data,
      keyframe,
      timestamp: this.#unwrap(packets[0].header.timestamp),
    });
  }

  #unwrap(ts: number): number {
    if (this.#tsHigh === undefined) {
      this.#tsHigh = ts;
      return ts;
    }
    const diff = ((ts - this.#tsHigh) | 0) as number; // signed 32-bit step
    const ext = this.#tsHigh + diff;
    if (ext > this.#tsHigh) this.#tsHigh = ext;
    return ext;
  }
}
