/**
 * Equal-size runs by RTP padding (RFC 3550 §5.1). libwebrtc (browsers) splits a frame into
 * packets whose sizes differ by one byte (the first ones ⌊size / count⌋, the last ones one
 * more): two runs of two sizes, two segmented `sendmsg` calls per player and frame. Padded to
 * the longer size, a frame is one run: one call per player and frame (on this VM a system call
 * costs about as much as the kernel's work for three datagrams; bench/README.md,
 * bench:kernel). A packetizer that fills every packet but the last (libdatachannel, ffmpeg)
 * already makes one run: the last segment of a send may be shorter. Receivers strip padding
 * before depacketizing (libwebrtc, werift, Pion); retransmissions go unpadded.
 *
 * @module
 */

/** Most padding added to a packet to make it as long as the run that follows it, bytes. */
export const MAX_PAD = 16;

/**
 * Sets `pads[j]` for the `m` packets `payloads[order[j]]` of one stream, in send order: walking
 * back from the last, a packet shorter than the run that follows it by at most {@link MAX_PAD}
 * bytes is padded to that run's length; any other starts a run of its own (a longer one ends
 * the run before it with a shorter datagram, which segmentation allows for the last one).
 */
export function padToRuns(
  payloads: ArrayLike<Uint8Array | undefined>,
  order: Int32Array,
  m: number,
  pads: Uint8Array,
): void {
  let target = 0;
  for (let j = m - 1; j >= 0; j--) {
    const length = payloads[order[j]]!.length;
    const pad = target - length;
    if (pad > 0 && pad <= MAX_PAD) {
      pads[j] = pad;
    } else {
      pads[j] = 0;
      target = length;
    }
  }
}

/**
 * Writes `payload` and `pad` bytes of padding (zeros, then the count) into `out`; returns the
 * padded length. The caller sets the header's P bit.
 */
export function writePadded(out: Uint8Array, payload: Uint8Array, pad: number): number {
  const length = payload.length;
  out.set(payload);
  out.fill(0, length, length + pad - 1);
  out[length + pad - 1] = pad;
  return length + pad;
}
