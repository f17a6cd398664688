/**
 * A WebM muxer for live recording: one video track (VP8, VP9, AV1 or H.264) and one Opus track,
 * written as frames arrive, so that a file cut short by a crash is still readable up to its last
 * block: the Segment and each Cluster start with an unknown size, and the header reserves room
 * (Void elements) for what only the end knows. {@link WebmWriter.finish} then writes the Cues,
 * the SeekHead, the Duration, and the sizes of the clusters and of the Segment in place.
 *
 * Why not werift's `WebmBase`/`WEBMContainer` (`werift/nonstandard`): it writes the Duration
 * over bytes of the header at a fixed offset (83), places cue positions with a constant (-48),
 * gives every video track 640×360 and no CodecPrivate (no avcC for H.264), and its output
 * callback's promise rejections (a full disk) are not handled, which would end the process.
 *
 * @module
 */
import {
  concat,
  element,
  float,
  idBytes,
  int16,
  master,
  string,
  uint,
  UNKNOWN_SIZE,
  vint,
  vintOf,
  voidOf,
} from "./ebml.ts";

const ID = {
  EBML: 0x1a45dfa3,
  Segment: 0x18538067,
  SeekHead: 0x114d9b74,
  Seek: 0x4dbb,
  SeekID: 0x53ab,
  SeekPosition: 0x53ac,
  Info: 0x1549a966,
  TimestampScale: 0x2ad7b1,
  Duration: 0x4489,
  MuxingApp: 0x4d80,
  WritingApp: 0x5741,
  Tracks: 0x1654ae6b,
  TrackEntry: 0xae,
  TrackNumber: 0xd7,
  TrackUID: 0x73c5,
  TrackType: 0x83,
  FlagLacing: 0x9c,
  CodecID: 0x86,
  CodecPrivate: 0x63a2,
  Video: 0xe0,
  PixelWidth: 0xb0,
  PixelHeight: 0xba,
  Audio: 0xe1,
  SamplingFrequency: 0xb5,
  Channels: 0x9f,
  Cluster: 0x1f43b675,
  Timestamp: 0xe7,
  SimpleBlock: 0xa3,
  Cues: 0x1c53bb6b,
  CuePoint: 0xbb,
  CueTime: 0xb3,
  CueTrackPositions: 0xb7,
  CueTrack: 0xf7,
  CueClusterPosition: 0xf1,
} as const;

/** Bytes reserved for the SeekHead (three entries: 68 bytes, and a Void for the rest). */
const SEEK_HEAD_BYTES = 80;
/** A Duration element's size: ID (2), size (1), float64 (8). */
const DURATION_BYTES = 11;
/** A cluster's relative block timestamps are signed 16-bit milliseconds. */
const MAX_CLUSTER_MS = 30_000;
/** Without video, a cluster (and a cue point) every this many ms. */
const AUDIO_CLUSTER_MS = 5_000;

/** Where the muxer's bytes go: appended in order, and a few patches of earlier bytes. */
export interface WebmSink {
  /** Appends bytes at the end. */
  append(bytes: Uint8Array): void;
  /** Overwrites bytes at `offset` (all of them written before). */
  patch(offset: number, bytes: Uint8Array): void;
}

/** The video codecs a WebM file holds, by their Matroska codec IDs. */
export const VIDEO_CODEC_IDS = {
  VP8: "V_VP8",
  VP9: "V_VP9",
  AV1: "V_AV1",
  H264: "V_MPEG4/ISO/AVC",
} as const;

/** The tracks of a file. */
export interface WebmTracks {
  /** The video track: codec, picture size when known, CodecPrivate (avcC for H.264). */
  video?: {
    codec: keyof typeof VIDEO_CODEC_IDS;
    width?: number;
    height?: number;
    codecPrivate?: Uint8Array;
  };
  /** The Opus track. */
  audio?: { channels: number };
}

/** Kinds of track. */
export type TrackKind = "audio" | "video";

/** A streaming WebM muxer over a {@link WebmSink}. */
export class WebmWriter {
  #sink: WebmSink;
  #position = 0;
  #segmentData = 0;
  #seekHeadAt = 0;
  #durationAt = 0;
  #infoAt = 0;
  #tracksAt = 0;
  #trackNumber: Partial<Record<TrackKind, number>> = {};
  #cluster?: { at: number; time: number };
  #cues: Uint8Array[] = [];
  #last: Partial<Record<TrackKind, { time: number; step: number }>> = {};
  #blocks: Record<TrackKind, number> = { audio: 0, video: 0 };
  #finished = false;

  /** Writes the header (EBML, Segment start, SeekHead room, Info, Tracks). */
  constructor(sink: WebmSink, tracks: WebmTracks) {
    this.#sink = sink;
    const header = master(ID.EBML, [
      uint(0x4286, 1),
      uint(0x42f7, 1),
      uint(0x42f2, 4),
      uint(0x42f3, 8),
      string(0x4282, "webm"),
      uint(0x4287, 4),
      uint(0x4285, 2),
    ]);
    this.#append(concat([header, idBytes(ID.Segment), UNKNOWN_SIZE]));
    this.#segmentData = this.#position;
    this.#seekHeadAt = this.#position;
    this.#append(voidOf(SEEK_HEAD_BYTES));
    this.#infoAt = this.#position;
    const infoBody = concat([
      uint(ID.TimestampScale, 1_000_000),
      string(ID.MuxingApp, "sfu"),
      string(ID.WritingApp, "sfu"),
    ]);
    const infoHead = concat([idBytes(ID.Info), vint(infoBody.length + DURATION_BYTES)]);
    this.#durationAt = this.#position + infoHead.length + infoBody.length;
    this.#append(concat([infoHead, infoBody, voidOf(DURATION_BYTES)]));
    const entries: Uint8Array[] = [];
    if (tracks.video) {
      const v = tracks.video;
      this.#trackNumber.video = entries.length + 1;
      const size = v.width && v.height
        ? [master(ID.Video, [uint(ID.PixelWidth, v.width), uint(ID.PixelHeight, v.height)])]
        : [];
      entries.push(master(ID.TrackEntry, [
        uint(ID.TrackNumber, this.#trackNumber.video),
        uint(ID.TrackUID, this.#trackNumber.video),
        uint(ID.TrackType, 1),
        uint(ID.FlagLacing, 0),
        string(ID.CodecID, VIDEO_CODEC_IDS[v.codec]),
        ...(v.codecPrivate ? [element(ID.CodecPrivate, v.codecPrivate)] : []),
        ...size,
      ]));
    }
    if (tracks.audio) {
      this.#trackNumber.audio = entries.length + 1;
      entries.push(master(ID.TrackEntry, [
        uint(ID.TrackNumber, this.#trackNumber.audio),
        uint(ID.TrackUID, this.#trackNumber.audio),
        uint(ID.TrackType, 2),
        uint(ID.FlagLacing, 0),
        string(ID.CodecID, "A_OPUS"),
        element(ID.CodecPrivate, opusHead(tracks.audio.channels)),
        master(ID.Audio, [float(ID.SamplingFrequency, 48_000), uint(ID.Channels, 2)]),
      ]));
    }
    this.#tracksAt = this.#position;
    this.#append(master(ID.Tracks, entries));
  }

  /** Bytes written so far. */
  get size(): number {
    return this.#position;
  }

  /** Milliseconds from the first block to the end of the last one. */
  get duration(): number {
    let end = 0;
    for (const last of Object.values(this.#last)) {
      if (last) end = Math.max(end, last.time + last.step);
    }
    return end;
  }

  /** Blocks written per kind. */
  get blocks(): Readonly<Record<TrackKind, number>> {
    return this.#blocks;
  }

  /**
   * Writes one frame of `kind` at `time` ms (from the recording's start; a frame earlier than
   * its track's last one is written at that one's time). A video keyframe opens a cluster.
   */
  frame(kind: TrackKind, data: Uint8Array, time: number, keyframe: boolean): void {
    const track = this.#trackNumber[kind];
    if (track === undefined || this.#finished) return;
    const last = this.#last[kind];
    const t = Math.max(Math.round(time), last?.time ?? 0);
    const cluster = this.#cluster;
    const video = this.#trackNumber.video !== undefined;
    const open = !cluster ||
      (kind === "video" && keyframe) ||
      t - cluster.time > MAX_CLUSTER_MS ||
      (!video && t - cluster.time >= AUDIO_CLUSTER_MS);
    if (open) this.#openCluster(t, !video || (kind === "video" && keyframe));
    const relative = t - this.#cluster!.time;
    if (relative < -32768 || relative > 32767) return; // cannot be placed: dropped
    this.#append(concat([
      idBytes(ID.SimpleBlock),
      vint(data.length + 4),
      vint(track),
      int16(relative),
      Uint8Array.of(keyframe || kind === "audio" ? 0x80 : 0),
      data,
    ]));
    const step = last ? Math.min(Math.max(t - last.time, 0), 1000) : 0;
    this.#last[kind] = { time: t, step: step || (last?.step ?? 20) };
    this.#blocks[kind]++;
  }

  /** Closes the file's elements: cluster size, Cues, SeekHead, Duration, Segment size. */
  finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#closeCluster();
    const cuesAt = this.#position;
    if (this.#cues.length > 0) this.#append(master(ID.Cues, this.#cues));
    const seek = (id: number, at: number) =>
      master(ID.Seek, [
        element(ID.SeekID, idBytes(id)),
        uint(ID.SeekPosition, at - this.#segmentData, 8),
      ]);
    const seeks = [seek(ID.Info, this.#infoAt), seek(ID.Tracks, this.#tracksAt)];
    if (this.#cues.length > 0) seeks.push(seek(ID.Cues, cuesAt));
    const seekHead = master(ID.SeekHead, seeks);
    this.#sink.patch(
      this.#seekHeadAt,
      concat([seekHead, voidOf(SEEK_HEAD_BYTES - seekHead.length)]),
    );
    this.#sink.patch(this.#durationAt, float(ID.Duration, this.duration));
    this.#sink.patch(this.#segmentData - 8, vintOf(this.#position - this.#segmentData, 8));
  }

  #openCluster(time: number, cue: boolean): void {
    this.#closeCluster();
    const at = this.#position;
    this.#cluster = { at, time };
    if (cue) {
      this.#cues.push(master(ID.CuePoint, [
        uint(ID.CueTime, time),
        master(ID.CueTrackPositions, [
          uint(ID.CueTrack, this.#trackNumber.video ?? this.#trackNumber.audio ?? 1),
          uint(ID.CueClusterPosition, at - this.#segmentData),
        ]),
      ]));
    }
    this.#append(concat([idBytes(ID.Cluster), UNKNOWN_SIZE, uint(ID.Timestamp, time)]));
  }

  /** Writes the open cluster's size over its unknown size. */
  #closeCluster(): void {
    const cluster = this.#cluster;
    if (!cluster) return;
    this.#sink.patch(cluster.at + 4, vintOf(this.#position - cluster.at - 12, 8));
    this.#cluster = undefined;
  }

  #append(bytes: Uint8Array): void {
    this.#sink.append(bytes);
    this.#position += bytes.length;
  }
}

/** The Opus identification header (RFC 7845 §5.1), pre-skip 0: the stream starts mid-way. */
function opusHead(channels: number): Uint8Array {
  const head = new Uint8Array(19);
  head.set(new TextEncoder().encode("OpusHead"));
  head[8] = 1;
  head[9] = channels;
  new DataView(head.buffer).setUint32(12, 48_000, true);
  return head;
}
