/**
 * The send patterns the kernel-ceiling bench times, each sending one video frame of ~1,200-byte
 * datagrams to one player after another, the way the server's fan-out does:
 *
 * - `sendmsg ×1`: one `sendmsg` per datagram (the send path's fallback without GSO);
 * - `GSO 9`: one segmented `sendmsg` of 9 equal datagrams per player (a delta frame);
 * - `GSO 4+5`: the frame split as libwebrtc does it (4 × 1,199 + 5 × 1,200 bytes), which the
 *   send path (datagram-batch.ts) sends as two segmented runs, as it does for the ramp's stream;
 * - `sendmmsg 64×GSO 9` and `sendmmsg 64×GSO 4+5`: the same runs of 64 players in one
 *   `sendmmsg` (src/media/native/send-mmsg.ts), one message per run, each with its destination;
 * - `audio 160 B sendmsg ×1`: one Opus packet per player, one `sendmsg` each (as the server
 *   sends audio: one packet per 20 ms, nothing to segment);
 * - `audio 160 B sendmmsg 64×1`: the same packet to 64 players in one `sendmmsg`.
 *
 * @module
 */
import { DatagramBatch } from "../../src/media/native/datagram-batch.ts";
import type { Libc } from "../../src/media/native/libs.ts";
import { addressOf, MultiSend, setPointer } from "../../src/media/native/send-mmsg.ts";

/** Bytes of one datagram (header, SRTP payload, tag): the ramp's stream on the wire. */
export const DATAGRAM = 1200;
/** Datagrams of a delta frame. */
export const FRAME = 9;
/** Players per `sendmmsg` call. */
export const MMSG_PLAYERS = 64;

/** Sends one frame to each of `names[from, to)`; returns the datagrams the kernel took. */
export type FrameSender = (names: Uint8Array[], from: number, to: number) => number;

/** A named pattern. */
export interface Pattern {
  /** Short name for the table. */
  name: string;
  /** Builds the sender for socket `fd`. */
  make: (libc: Libc, fd: number) => FrameSender;
}

/** Lengths of the 9 datagrams: equal, or split 4 + 5 the way libwebrtc's packetizer does. */
function lengths(split: boolean): number[] {
  return Array.from({ length: FRAME }, (_, k) => (split && k < 4 ? DATAGRAM - 1 : DATAGRAM));
}

function batchSender(libc: Libc, fd: number, split: boolean, segment: boolean): FrameSender {
  const batch = new DatagramBatch(libc);
  lengths(split).forEach((n, k) => {
    batch.headers[k].fill(0x80, 0, 24);
    batch.setLengths(k, 24, n - 24 - 16, 16);
  });
  return (names, from, to) => {
    let sent = 0;
    for (let p = from; p < to; p++) sent += batch.send(fd, names[p], FRAME, segment).sent;
    return sent;
  };
}

function mmsgSender(libc: Libc, fd: number, split: boolean): FrameSender {
  // one contiguous frame and the iovecs of its runs: [all 9] or [4 short, 5 long]
  const frame = new Uint8Array(DATAGRAM * FRAME).fill(0x80);
  const runs = split ? [[4, DATAGRAM - 1], [5, DATAGRAM]] : [[FRAME, DATAGRAM]];
  const iov = new DataView(new ArrayBuffer(16 * runs.length));
  let offset = 0;
  runs.forEach(([count, size], r) => {
    setPointer(iov, 16 * r, addressOf(frame) + offset);
    iov.setUint32(16 * r + 8, count * size, true);
    offset += count * size;
  });
  const iovAddress = addressOf(iov.buffer as ArrayBuffer);
  const multi = new MultiSend(libc, MMSG_PLAYERS * runs.length);
  const perMessage = runs.map(([count]) => count);
  return (names, from, to) => {
    let sent = 0;
    for (let p = from; p < to; p++) {
      for (let r = 0; r < runs.length; r++) {
        if (multi.length === MMSG_PLAYERS * runs.length) sent += flushCount(multi, fd, perMessage);
        multi.add(names[p], iovAddress + 16 * r, 1, runs[r][1]);
      }
    }
    return sent + flushCount(multi, fd, perMessage);
  };
}

/** Flushes and converts messages taken into datagrams (messages alternate between the runs). */
function flushCount(multi: MultiSend, fd: number, perMessage: number[]): number {
  const messages = multi.flush(fd);
  let datagrams = 0;
  for (let i = 0; i < messages; i++) datagrams += perMessage[i % perMessage.length];
  return datagrams;
}

/** An Opus packet on the wire: 24-byte header, 120 bytes of payload, the GCM tag. */
export const AUDIO_DATAGRAM = 160;

function audioSender(libc: Libc, fd: number): FrameSender {
  const batch = new DatagramBatch(libc);
  batch.headers[0].fill(0x80, 0, 24);
  batch.setLengths(0, 24, AUDIO_DATAGRAM - 24 - 16, 16);
  return (names, from, to) => {
    let sent = 0;
    for (let p = from; p < to; p++) sent += batch.send(fd, names[p], 1, false).sent;
    return sent;
  };
}

function audioMmsgSender(libc: Libc, fd: number): FrameSender {
  const packet = new Uint8Array(AUDIO_DATAGRAM).fill(0x80);
  const iov = new DataView(new ArrayBuffer(16));
  setPointer(iov, 0, addressOf(packet));
  iov.setUint32(8, AUDIO_DATAGRAM, true);
  const iovAddress = addressOf(iov.buffer as ArrayBuffer);
  const multi = new MultiSend(libc, MMSG_PLAYERS);
  return (names, from, to) => {
    let sent = 0;
    for (let p = from; p < to; p++) {
      if (multi.length === MMSG_PLAYERS) sent += multi.flush(fd);
      multi.add(names[p], iovAddress, 1, 0);
    }
    return sent + multi.flush(fd);
  };
}

/** Every pattern, in the order of the table. */
export const PATTERNS: Pattern[] = [
  { name: "sendmsg ×1 (no GSO)", make: (libc, fd) => batchSender(libc, fd, false, false) },
  { name: "sendmsg GSO 9", make: (libc, fd) => batchSender(libc, fd, false, true) },
  { name: "sendmsg GSO 4+5", make: (libc, fd) => batchSender(libc, fd, true, true) },
  { name: `sendmmsg ${MMSG_PLAYERS}×GSO 9`, make: (libc, fd) => mmsgSender(libc, fd, false) },
  { name: `sendmmsg ${MMSG_PLAYERS}×GSO 4+5`, make: (libc, fd) => mmsgSender(libc, fd, true) },
  { name: `audio ${AUDIO_DATAGRAM} B sendmsg ×1`, make: audioSender },
  {
    name: `audio ${AUDIO_DATAGRAM} B sendmmsg ${MMSG_PLAYERS}×1`,
    make: audioMmsgSender,
  },
];
