/**
 * A recorder: a subscriber of a {@link Feed} like a player's subscription, without a peer. It
 * turns the live publication's packets into one WebM file (VP8, VP9, AV1 or H.264 video and Opus
 * audio, as published, never transcoded): it asks for a keyframe and starts the file at one, and
 * when the publisher reconnects (a new WHIP session takes the feed over) it goes on in the same
 * file, timestamps continuing by the wall-clock time the switch took, from the new source's next
 * keyframe. A new source in other codecs ends the file (`codec-changed`). The source going away
 * (the publication ended) ends it too. The first write error ends it (`write-failed`), never the
 * session: the recorder only ever stops writing.
 *
 * @module
 */
import type { RtpPacket } from "werift";
import type { Codec } from "../sdp/offer.ts";
import type { Kind, Publication } from "../media/publication.ts";
import type { FeedSubscriber } from "../media/feed.ts";
import { type CodecFamily, codecFamily } from "../media/codecs.ts";
import { decodeSpropParameterSets } from "../media/h264.ts";
import { Emitter } from "../events.ts";
import { FileSink } from "./file-sink.ts";
import { type Frame, FrameAssembler } from "./frames.ts";
import { concat } from "./ebml.ts";
import { annexBUnits, toAvcc, videoTrack } from "./codec-config.ts";
import { WebmWriter } from "./webm.ts";

/** Why a recording ended. */
export type StopReason =
  | "stopped"
  | "publication-ended"
  | "codec-changed"
  | "write-failed"
  | "shutdown";

/** What a recorder reports. */
export interface RecorderHooks {
  /** The file's first frame was written (the recording proper starts). */
  started(): void;
  /** The recording ended; `error` when a write failed. Called once. */
  ended(reason: StopReason, error?: Error): void;
}

const CLOCK: Record<Kind, number> = { audio: 48_000, video: 90_000 };
const START_CODE = Uint8Array.of(0, 0, 0, 1);

/** One publication's recording into one file. */
export class Recorder implements FeedSubscriber {
  /** Not a viewer: left out of the feed's `viewercount`. */
  readonly viewer = false;
  /** Keyframe requests for the feed (at start, after a loss, after a source switch). */
  readonly keyframeRequests: Emitter<string | undefined> = new Emitter();
  /** `waiting` (no keyframe yet), `recording`, `done`, or `failed` (a write error). */
  state: "waiting" | "recording" | "done" | "failed" = "waiting";
  /** Wall-clock time of the file's first frame. */
  startedAt?: Date;
  /** Wall-clock time the recording ended. */
  endedAt?: Date;
  /** Why it ended. */
  reason?: StopReason;
  /** The file's codecs, once it started. */
  codecs: Partial<Record<Kind, string>> = {};
  /** Frames written per kind, and packets the reorder buffer gave up on. */
  readonly counts = { audio: 0, video: 0, lost: 0 };
  #sink: FileSink;
  #hooks: RecorderHooks;
  #writer?: WebmWriter;
  #families?: Partial<Record<Kind, CodecFamily>>;
  #assemblers: Partial<Record<Kind, FrameAssembler>> = {};
  #anchors: Partial<Record<Kind, { timestamp: number; at: number }>> = {};
  #rid = "";
  #t0 = 0;
  #source?: Publication;
  #sprop?: Uint8Array[];
  #closing?: Promise<void>;

  /** A recorder that will write `path` (created at the first keyframe). */
  constructor(path: string, hooks: RecorderHooks) {
    this.#hooks = hooks;
    this.#sink = new FileSink(path, (error) => this.#end("write-failed", error));
  }

  /** Bytes written (queued for the disk) so far. */
  get size(): number {
    return this.#writer?.size ?? 0;
  }

  /** Milliseconds of media in the file. */
  get duration(): number {
    return this.#writer?.duration ?? 0;
  }

  /** True once the file exists. */
  get hasFile(): boolean {
    return this.#sink.opened;
  }

  /** A (new) source: a reconnect continues the file from the source's next keyframe. */
  attach(source: Publication): void {
    if (this.#closing) return;
    const families: Partial<Record<Kind, CodecFamily>> = {};
    for (const kind of ["audio", "video"] as const) {
      const codec = source.codecs[kind];
      const family = codec && codecFamily(codec);
      if (family) families[kind] = family;
    }
    if (
      this.#writer && (families.audio !== this.#families?.audio ||
        families.video !== this.#families?.video)
    ) {
      this.#end("codec-changed");
      return;
    }
    this.#source = source;
    this.#families = families;
    this.#rid = source.layerInfo()[0]?.rid ?? "";
    const sprop = source.codecs.video?.fmtp["sprop-parameter-sets"];
    this.#sprop = sprop ? decodeSpropParameterSets(sprop) : undefined;
    this.#anchors = {};
    this.#assemblers = {};
    for (const [kind, family] of Object.entries(families) as [Kind, CodecFamily][]) {
      this.#assemblers[kind] = new FrameAssembler(family);
    }
    this.keyframeRequests.emit(this.#rid);
  }

  /** The source went away: the publication ended, and so does the file. */
  detach(): void {
    this.#source = undefined;
    this.#end("publication-ended");
  }

  /** One packet of the live source (see `Subscription.send`). */
  send(
    kind: Kind,
    rtp: RtpPacket,
    _codec: Codec,
    _keyframe: boolean,
    rid = "",
    now = performance.now(),
  ): void {
    if (this.#closing || (kind === "video" && rid !== this.#rid)) return;
    const assembler = this.#assemblers[kind];
    if (!assembler) return;
    const { frames, lost } = assembler.push(rtp, now);
    this.counts.lost = (this.#assemblers.audio?.lost ?? 0) + (this.#assemblers.video?.lost ?? 0);
    if (lost) this.keyframeRequests.emit(this.#rid);
    for (const frame of frames) this.#frame(kind, frame, now);
  }

  /** Ends the recording and finalises the file; resolves when it is on disk. */
  stop(reason: StopReason = "stopped"): Promise<void> {
    this.#end(reason);
    return this.#closing!;
  }

  #frame(kind: Kind, frame: Frame, now: number): void {
    if (!this.#writer) {
      if (kind === "audio" && this.#families?.video) return; // the file starts at a keyframe
      if (!this.#open(kind, frame)) return;
      this.#t0 = now;
    }
    let anchor = this.#anchors[kind];
    if (!anchor) anchor = this.#anchors[kind] = { timestamp: frame.timestamp, at: now - this.#t0 };
    const time = anchor.at + ((frame.timestamp - anchor.timestamp) * 1000) / CLOCK[kind];
    let data = frame.data;
    if (this.#families?.video === "h264" && kind === "video") data = toAvcc(data);
    this.#writer!.frame(kind, data, time, frame.keyframe);
    this.counts[kind]++;
  }

  /** Starts the file at `frame` (a video keyframe, or audio when there is no video). */
  #open(kind: Kind, frame: Frame): boolean {
    const families = this.#families!;
    let video;
    if (families.video) {
      if (kind !== "video") return false;
      if (families.video === "h264" && this.#sprop?.length) {
        const units = annexBUnits(frame.data);
        if (!units.some((u) => (u[0] & 0x1f) === 7)) {
          frame.data = concat([...this.#sprop.flatMap((p) => [START_CODE, p]), frame.data]);
        }
      }
      video = videoTrack(families.video, frame.data);
      if (!video) {
        this.keyframeRequests.emit(this.#rid); // H.264 without parameter sets: the next one
        return false;
      }
    }
    this.#writer = new WebmWriter(this.#sink, {
      video,
      audio: families.audio ? { channels: 2 } : undefined,
    });
    const source = this.#source;
    for (const k of ["audio", "video"] as const) {
      if (families[k] && source?.codecs[k]) this.codecs[k] = source.codecs[k]!.name;
    }
    this.state = "recording";
    this.startedAt = new Date();
    this.#hooks.started();
    return true;
  }

  #end(reason: StopReason, error?: Error): void {
    if (this.#closing) return;
    this.reason = reason;
    this.endedAt = new Date();
    this.#assemblers = {};
    if (!error) this.#writer?.finish();
    this.state = error ? "failed" : "done";
    this.keyframeRequests.clear();
    this.#closing = this.#sink.close().then(() => {
      if (this.#sink.error && this.state !== "failed") {
        this.state = "failed";
        error ??= this.#sink.error;
      }
    });
    this.#hooks.ended(reason, error);
  }
}
